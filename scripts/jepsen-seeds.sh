#!/usr/bin/env bash
# Many seeds: runs the Jepsen matrix (full by default) once per seed, in
# sequence, then summarizes the verdicts per cell (valid / invalid /
# unknown / did not run, with the seeds of the runs that were not valid).
#
#   scripts/jepsen-seeds.sh N            # seeds JEPSEN_SEED .. JEPSEN_SEED+N-1
#
# JEPSEN_SEED (first seed, default from the clock), JEPSEN_MATRIX (full or
# smoke), JEPSEN_NODES (3), JEPSEN_TIME_LIMIT (chaos per cell, 30s),
# JEPSEN_OUT (jepsen/runs/seeds-<time>), JEPSEN_NETNS_PREFIX and
# JEPSEN_SUBNET as for scripts/jepsen-smoke.sh. Needs root for namespaces
# (without, the nodes run on loopback behind per-link proxies). A full
# matrix on 3 nodes is 30 cells: about 15 minutes a seed at 10s a cell,
# 25 minutes at 30s. Exit status 0 only if every run of every cell was
# valid.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-}"
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/jepsen-seeds.sh N (the number of seeds)" >&2
  exit 2
fi
first="${JEPSEN_SEED:-$(( $(date +%s) % 100000 ))}"
out="${JEPSEN_OUT:-jepsen/runs/seeds-$(date -u +%Y%m%d-%H%M%S)}"
. scripts/jepsen-lib.sh
tmp="$bin"
mkdir -p "$out"
start=$(date +%s)
for (( i = 0; i < n; i++ )); do
  seed=$(( first + 1000 * i )) # a matrix's cells use seed, seed+1, ...
  echo "jepsen-seeds: seed $seed ($(( i + 1 )) of $n)"
  "$tmp/jepsen" --matrix "${JEPSEN_MATRIX:-full}" --nodes "${JEPSEN_NODES:-3}" \
    --time-limit "${JEPSEN_TIME_LIMIT:-30s}" --seed "$seed" --out "$out" \
    --node-bin "$tmp/node" --fault-node-bin "$tmp/node-faultinject" --trent-bin "$tmp/trent" \
    --netns-prefix "${JEPSEN_NETNS_PREFIX:-jepsen}" --subnet "${JEPSEN_SUBNET:-10.213.0}" \
    > "$out/seed$seed.log" 2>&1 || true
done
echo "jepsen-seeds: $n seed(s) in $(( $(date +%s) - start ))s; logs and run folders in $out"
"$tmp/jepsen" --summarize "$out" | tee "$out/summary.md"
