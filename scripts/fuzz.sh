#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time (default 30s).
# Usage: scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
for pkg in $(go list -tags hashicorpmetrics ./...); do
  dir=$(go list -tags hashicorpmetrics -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($time)"
    for attempt in 1 2; do
      if go test -tags hashicorpmetrics -run='^$' -fuzz="^${target}\$" -fuzztime="$time" "$pkg" >/tmp/fuzz.$$.log 2>&1; then
        break
      fi
      # A finding writes its input to testdata/fuzz and says so. Without
      # one, the engine itself failed (on a loaded machine it can miss its
      # own deadline stopping workers: "context deadline exceeded"): run
      # the target once more before calling it a failure.
      if grep -q "Failing input written" /tmp/fuzz.$$.log || [ "$attempt" = 2 ]; then
        cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1
      fi
      echo "  the fuzzing engine failed without a finding; running $target again"
    done
  done
done
rm -f /tmp/fuzz.$$.log
