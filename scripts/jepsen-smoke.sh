#!/usr/bin/env bash
# Jepsen smoke test for CI: the smoke matrix (4 cells of 20s on 3 nodes,
# each node in its own network namespace; needs root) must be valid, and
# the canary (the same matrix against nodes started with
# --unsafe-skip-freshness) must be flagged by the checkers. Its disk cell
# (keystate under disk-full and fsync-fail: a tmpfs data dir per node in
# the harness's own mount namespace, and fault points) must catch its own
# canary, audit records lost while the disk fails, by the audit checker. Reports go to
# jepsen/runs/ (override with JEPSEN_OUT). JEPSEN_NETNS_PREFIX and
# JEPSEN_SUBNET (first three octets) keep two runs on one machine apart:
# each run removes what carries its prefix. The harness removes its
# namespaces, links and node processes itself, also on failure and Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "jepsen-smoke: needs root (each node runs in its own network namespace)" >&2
  exit 1
fi
out="${JEPSEN_OUT:-jepsen/runs}"
seed="${JEPSEN_SEED:-$(( $(date +%s) % 100000 ))}"
. scripts/jepsen-lib.sh
tmp="$bin"
common=(--node-bin "$tmp/node" --fault-node-bin "$tmp/node-faultinject" --trent-bin "$tmp/trent" --out "$out" --seed "$seed"
  --netns-prefix "${JEPSEN_NETNS_PREFIX:-jepsen}" --subnet "${JEPSEN_SUBNET:-10.213.0}")

# Each matrix's output is also kept, so that the end of this script's
# output (all a CI log viewer may show) repeats each matrix's table and
# whatever a checker found invalid or could not decide.
mkdir -p "$out"
smoke_log="$out/smoke-$seed.log"
canary_log="$out/canary-$seed.log"
status=0
echo "jepsen-smoke: smoke matrix, seed $seed"
if ! "$tmp/jepsen" --matrix smoke "${common[@]}" 2>&1 | tee "$smoke_log"; then
  echo "jepsen-smoke: the smoke matrix is not valid (see $out)" >&2; status=1
fi
echo "jepsen-smoke: canary (unsafe nodes must be flagged), seed $seed"
if ! "$tmp/jepsen" --matrix smoke --canary "${common[@]}" 2>&1 | tee "$canary_log"; then
  echo "jepsen-smoke: the canary was not caught (see $out)" >&2; status=1
fi
echo
echo "jepsen-smoke: summary, seed $seed"
echo "smoke matrix (must be valid in every cell):"
grep -E '^\|' "$smoke_log" || echo "  (no table: the matrix did not finish)"
if [ "$status" != 0 ]; then
  echo "what the checkers found:"
  grep -A3 -E ': (invalid|unknown)|could not run' "$smoke_log" | head -60 || true
fi
echo "canary (the unsafe nodes must be flagged):"
grep -E '^canary:' "$canary_log" || echo "  (no verdict: the canary did not finish)"
exit $status
