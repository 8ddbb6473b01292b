#!/usr/bin/env bash
# Scaling sweep of one node: Encrypt throughput and p99 versus concurrency
# (1-256), versus the number of keys in the state and versus the number of
# grants on the key, each point a short `trent bench` run. Writes the
# points as TSV and an SVG report (docs/performance.md shows one).
# Then the state curves, from Go benchmarks: snapshot and restore time,
# snapshot size and heap versus the number of grants (10k, 100k, 1M; fsm
# BenchmarkStateSize), and follower visibility lag versus background
# writers (server BenchmarkVisibilityLag), into OUT-state.svg and .tsv.
# Bounded: about 2-4 minutes for the first part with the defaults, 2-3
# for the second (TRENT_SWEEP_STATE=0 skips it, =only runs only it). Only
# the node it started is stopped, by PID.
#
#   scripts/bench-sweep.sh [OUT.svg]    (TRENT_SWEEP_PORT, TRENT_SWEEP_DURATION, TRENT_SWEEP_STATE)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-sweep.svg}
port=${TRENT_SWEEP_PORT:-17720}
dur=${TRENT_SWEEP_DURATION:-2s}
tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill "$node_pid"; wait "$node_pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# encrypt_sweep: the Encrypt curves of one node, into $out and its .tsv.
encrypt_sweep() {
go build -tags hashicorpmetrics -o "$tmp/trent" ./cmd/trent
data="$tmp/data"
trent() { "$tmp/trent" --data-dir "$data" --endpoint "127.0.0.1:$port" "$@"; }
"$tmp/trent" server --data-dir "$data" --api-addr "127.0.0.1:$port" --raft-addr "127.0.0.1:$((port + 1))" \
  --gossip-addr "127.0.0.1:$((port + 2))" >"$tmp/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 300); do grep -q "is serving on" "$tmp/node.log" && break; sleep 0.1; done
grep -q "is serving on" "$tmp/node.log" || { tail -20 "$tmp/node.log" >&2; exit 1; }

# field NAME: a number from a bench --json summary on stdin.
field() { grep -o "\"$1\": [0-9.e+-]*" | head -1 | awk '{print $2}'; }
# point SERIES X ARGS...: one Encrypt run, appended as SERIES X ops/s
# p99-ms errors.
point() {
  local series=$1 x=$2; shift 2
  local j
  j=$(trent bench --json --warmup 1s --duration "$dur" "$@" 2>/dev/null)
  printf '%s\t%s\t%s\t%s\t%s\n' "$series" "$x" "$(field ops_per_second <<<"$j")" "$(field p99 <<<"$j")" \
    "$(field errors <<<"$j")" | tee -a "$tmp/points.tsv"
}
# grow OP SECONDS ARGS...: runs a write op for a while, prints how many it made.
grow() {
  local op=$1 d=$2; shift 2
  trent bench --json --op "$op" --warmup 0s --duration "$d" --concurrency 32 "$@" 2>/dev/null | field ops
}

key=$(trent kms create-key | grep -o '"KeyId": "[^"]*"' | head -1 | cut -d'"' -f4)
for c in 1 2 4 8 16 32 64 128 256; do point concurrency "$c" --key-id "$key" --concurrency "$c"; done
keys=1
point keys "$keys" --key-id "$key" --concurrency 32
for d in 2s 4s 8s; do
  keys=$((keys + $(grow create-key "$d")))
  point keys "$keys" --key-id "$key" --concurrency 32
done
grants=0
point grants "$grants" --key-id "$key" --concurrency 32
for d in 2s 4s 8s; do
  grants=$((grants + $(grow create-grant "$d" --key-id "$key")))
  point grants "$grants" --key-id "$key" --concurrency 32
done
cp "$tmp/points.tsv" "${out%.svg}.tsv"

# The report: per series, throughput and p99 against x (log scale when x
# spans more than a factor of 100).
awk -F'\t' -v title="trent bench sweep: Encrypt, one node, $(nproc) cores, $(date -u +%Y-%m-%d)" '
{ n[$1]++; i = n[$1]; X[$1, i] = $2; T[$1, i] = $3; P[$1, i] = $4 }
function sx(v, lo, hi, lg) { if (lg) { v = log(v < 1 ? 1 : v); lo = log(lo < 1 ? 1 : lo); hi = log(hi) } return 70 + (hi > lo ? (v - lo) / (hi - lo) : 0) * 300 }
function panel(s, row, col, what, A, unit,    i, lo, hi, ymax, lg, x0, y0, pts, k, c) {
  x0 = col * 420; y0 = 40 + row * 260
  lo = X[s, 1]; hi = X[s, 1]; ymax = 0
  for (i = 1; i <= n[s]; i++) { if (X[s, i] < lo) lo = X[s, i]; if (X[s, i] > hi) hi = X[s, i]; if (A[s, i] > ymax) ymax = A[s, i] }
  if (ymax <= 0) ymax = 1
  lg = (hi > 100 * (lo < 1 ? 1 : lo))
  printf "<g transform=\"translate(%d,%d)\">\n", x0, y0
  printf "<text x=\"70\" y=\"-8\" font-size=\"13\">%s vs %s%s</text>\n", what, s, lg ? " (log x)" : ""
  printf "<rect x=\"70\" y=\"0\" width=\"300\" height=\"180\" fill=\"none\" stroke=\"#999\"/>\n"
  for (k = 0; k <= 4; k++) printf "<text x=\"64\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n", 180 - k * 45 + 3, ymax * k / 4
  printf "<text x=\"10\" y=\"95\" font-size=\"10\" transform=\"rotate(-90 10 95)\" text-anchor=\"middle\">%s</text>\n", unit
  pts = ""
  for (i = 1; i <= n[s]; i++) {
    c = sx(X[s, i], lo, hi, lg)
    pts = pts sprintf("%.1f,%.1f ", c, 180 - A[s, i] / ymax * 180)
    printf "<text x=\"%.1f\" y=\"194\" font-size=\"9\" text-anchor=\"middle\">%s</text>\n", c, X[s, i]
    printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#1f5fa8\"/>\n", c, 180 - A[s, i] / ymax * 180
  }
  printf "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" points=\"%s\"/>\n</g>\n", pts
}
END {
  print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"840\" height=\"820\" font-family=\"sans-serif\">"
  print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
  printf "<text x=\"20\" y=\"20\" font-size=\"14\">%s</text>\n", title
  row = 0
  split("concurrency keys grants", order, " ")
  for (o = 1; o <= 3; o++) { s = order[o]; if (!(s in n)) continue
    panel(s, row, 0, "ops/s", T, "ops/s"); panel(s, row, 1, "p99 ms", P, "ms"); row++ }
  print "</svg>"
}' "$tmp/points.tsv" >"$out"
echo "bench-sweep: wrote $out and ${out%.svg}.tsv" >&2
kill "$node_pid"
wait "$node_pid" || true
node_pid=""
}
[ "${TRENT_SWEEP_STATE:-1}" = only ] || encrypt_sweep
[ "${TRENT_SWEEP_STATE:-1}" = 0 ] && exit 0

# State curves. Rows: PANEL X LINE VALUE.
state="${out%.svg}-state"
: >"$tmp/state.tsv"
# metric NAME: the value before " NAME" on a benchmark line on stdin.
metric() { awk -v m="$1" '{ for (i = 2; i <= NF; i++) if ($i == m) print $(i - 1) }'; }
go test -run '^$' -bench 'StateSize' -benchtime 1x -timeout 20m ./fsm >"$tmp/state.out"
grep '^BenchmarkStateSize/' "$tmp/state.out" | while read -r line; do
  n=$(sed 's/.*grants=\([0-9]*\).*/\1/' <<<"$line")
  snap=$(metric snapshot-s <<<"$line") rest=$(metric restore-s <<<"$line")
  printf 'time-s\t%s\tsnapshot\t%s\ntime-s\t%s\trestore\t%s\n' "$n" "$snap" "$n" "$rest"
  awk -v n="$n" -v s="$snap" -v r="$rest" 'BEGIN { printf "us-per-grant\t%s\tsnapshot\t%.3f\nus-per-grant\t%s\trestore\t%.3f\n", n, s / n * 1e6, n, r / n * 1e6 }'
  for m in heap-MB restored-heap-MB file-MB peak-rss-MB; do
    printf 'memory-MB\t%s\t%s\t%s\n' "$n" "${m%-MB}" "$(metric "$m" <<<"$line")"
  done
done | tee -a "$tmp/state.tsv"
go test -tags hashicorpmetrics -run '^$' -bench 'VisibilityLag' -benchtime 300x -timeout 10m ./server >"$tmp/lag.out"
grep '^BenchmarkVisibilityLag/' "$tmp/lag.out" | while read -r line; do
  w=$(sed 's/.*writers=\([0-9]*\).*/\1/' <<<"$line")
  printf 'lag-ms\t%s\tp50\t%s\nlag-ms\t%s\tp99\t%s\nwrites-per-s\t%s\tbackground\t%s\n' "$w" "$(metric p50-ms <<<"$line")" \
    "$w" "$(metric p99-ms <<<"$line")" "$w" "$(metric writes/s <<<"$line")"
done | tee -a "$tmp/state.tsv"
cp "$tmp/state.tsv" "$state.tsv"

# One panel per PANEL, a line per LINE; x is log scale when it spans a
# factor of 100 or more, except for time and memory against grants, where
# linear growth should read as a straight line.
awk -F'\t' -v title="trent state curves, $(nproc) cores, $(date -u +%Y-%m-%d)" '
BEGIN { split("#1f5fa8 #c0392b #27ae60 #8e44ad", colour, " ")
  name["time-s"] = "seconds vs grants"; name["us-per-grant"] = "µs per grant vs grants (flat = linear)"
  name["memory-MB"] = "MB vs grants"; name["lag-ms"] = "follower visibility lag, ms, vs writers"
  name["writes-per-s"] = "background CreateGrant/s vs writers"
  linear["time-s"] = 1; linear["memory-MB"] = 1 }
{ if (!($1 in np)) { order[++panels] = $1; np[$1] = 0 }
  if (!(($1, $3) in nl)) { line[$1, ++nlines[$1]] = $3; nl[$1, $3] = 0 }
  k = ++nl[$1, $3]; X[$1, $3, k] = $2; Y[$1, $3, k] = $4 }
function sx(v, lo, hi, lg) { if (lg) { v = log(v < 1 ? 1 : v); lo = log(lo < 1 ? 1 : lo); hi = log(hi) } return 70 + (hi > lo ? (v - lo) / (hi - lo) : 0) * 300 }
function panel(p, idx,    x0, y0, lo, hi, ymax, lg, j, i, l, c, pts, first, k, lastx) {
  x0 = ((idx - 1) % 2) * 420; y0 = 60 + int((idx - 1) / 2) * 260
  first = 1; ymax = 0
  for (j = 1; j <= nlines[p]; j++) { l = line[p, j]
    for (i = 1; i <= nl[p, l]; i++) {
      if (first || X[p, l, i] < lo) lo = X[p, l, i]
      if (first || X[p, l, i] > hi) hi = X[p, l, i]
      if (Y[p, l, i] > ymax) ymax = Y[p, l, i]
      first = 0 } }
  if (ymax <= 0) ymax = 1
  lg = !(p in linear) && (hi >= 100 * (lo < 1 ? 1 : lo))
  printf "<g transform=\"translate(%d,%d)\">\n", x0, y0
  printf "<text x=\"70\" y=\"-8\" font-size=\"13\">%s%s</text>\n", (p in name) ? name[p] : p, lg ? " (log x)" : ""
  printf "<rect x=\"70\" y=\"0\" width=\"300\" height=\"180\" fill=\"none\" stroke=\"#999\"/>\n"
  for (k = 0; k <= 4; k++) printf "<text x=\"64\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n", 180 - k * 45 + 3, ymax * k / 4
  lastx = -100
  for (j = 1; j <= nlines[p]; j++) { l = line[p, j]; pts = ""
    printf "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"%s\">%s</text>\n", 78, 14 + (j - 1) * 12, colour[j], l
    for (i = 1; i <= nl[p, l]; i++) {
      c = sx(X[p, l, i], lo, hi, lg)
      pts = pts sprintf("%.1f,%.1f ", c, 180 - Y[p, l, i] / ymax * 180)
      if (j == 1 && c - lastx >= 40) { printf "<text x=\"%.1f\" y=\"194\" font-size=\"9\" text-anchor=\"middle\">%s</text>\n", c, X[p, l, i]; lastx = c }
      printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", c, 180 - Y[p, l, i] / ymax * 180, colour[j]
    }
    printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>\n", colour[j], pts }
  print "</g>"
}
END {
  printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"840\" height=\"%d\" font-family=\"sans-serif\">\n", 80 + int((panels + 1) / 2) * 260
  print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
  printf "<text x=\"20\" y=\"20\" font-size=\"14\">%s</text>\n", title
  for (o = 1; o <= panels; o++) panel(order[o], o)
  print "</svg>"
}' "$state.tsv" >"$state.svg"
echo "bench-sweep: wrote $state.svg and $state.tsv" >&2
