#!/usr/bin/env bash
# Runs the tests that need the fault points (-tags faultinject): the
# failpoint package's own, and in each other package the tests of its
# files built only with the tag (the rest of those packages already ran
# in the normal build). The test names come from the files, so a new
# tagged test runs without touching this script.
set -euo pipefail
cd "$(dirname "$0")/.."
tags=hashicorpmetrics,faultinject
go test -race -tags "$tags" ./failpoint
git ls-files '*_test.go' | xargs grep -l '^//go:build faultinject' | xargs -n1 dirname | sort -u | while read -r dir; do
  [ "$dir" = failpoint ] && continue
  files=$(grep -l '^//go:build faultinject' "$dir"/*_test.go)
  names=$(grep -ho '^func Test[A-Za-z0-9_]*' $files | sed 's/^func //' | paste -sd'|' -)
  [ -n "$names" ] || continue
  echo "faultinject-tests: ./$dir: $names"
  go test -race -tags "$tags" -run "^($names)\$" "./$dir"
done
