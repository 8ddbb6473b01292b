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

status=0
echo "jepsen-smoke: smoke matrix, seed $seed"
"$tmp/jepsen" --matrix smoke "${common[@]}" || { echo "jepsen-smoke: the smoke matrix is not valid (see $out)" >&2; status=1; }
echo "jepsen-smoke: canary (unsafe nodes must be flagged), seed $seed"
"$tmp/jepsen" --matrix smoke --canary "${common[@]}" || { echo "jepsen-smoke: the canary was not caught (see $out)" >&2; status=1; }
exit $status
