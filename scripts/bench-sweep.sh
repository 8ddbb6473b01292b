#!/usr/bin/env bash
# Scaling sweep of one node: Encrypt throughput and p99 versus concurrency
# (1-256), versus the number of keys in the state and versus the number of
# grants on the key, each point a short `trent bench` run. Writes the
# points as TSV and an SVG report (docs/performance.md shows one).
# Bounded: about 2-4 minutes with the defaults. Only the node it started is
# stopped, by PID.
#
#   scripts/bench-sweep.sh [OUT.svg]    (TRENT_SWEEP_PORT, TRENT_SWEEP_DURATION)
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
