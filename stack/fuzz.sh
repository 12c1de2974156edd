#!/usr/bin/env bash
# make fuzz: run every fuzz target of every module for FUZZTIME each
# (default 30s). `make test` already runs each target's seed corpus, and
# the inputs a past run found (testdata/fuzz), as ordinary tests; this is
# the long search. A crasher is written to the package's testdata/fuzz by
# go test: commit it, and it is a regression test from then on.
#
# FUZZ=REGEXP limits the run to the targets whose name matches.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME="${FUZZTIME:-30s}"
FUZZ="${FUZZ:-.}"

failed=()
ran=0
for m in $(go list -m -f '{{.Dir}}'); do
  for pkg in $(cd "$m" && go list ./...); do
    dir=$(cd "$m" && go list -f '{{.Dir}}' "$pkg")
    # Only packages whose test files declare a fuzz target.
    grep -lqE '^func Fuzz[A-Z]' "$dir"/*_test.go 2>/dev/null || continue
    for target in $(cd "$dir" && go test -list '^Fuzz' . | grep '^Fuzz' | grep -E "$FUZZ" || true); do
      echo "== $pkg $target ($FUZZTIME)"
      ran=$((ran + 1))
      if ! (cd "$dir" && go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" .); then
        failed+=("$pkg.$target")
      fi
    done
  done
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (the crashing inputs are in testdata/fuzz)" >&2
  exit 1
fi
echo "fuzz: $ran targets, $FUZZTIME each, no failure"
