#!/usr/bin/env bash
# Runs the bats tests of the command line for ctest, and reports skips as
# skips: when every test passed but some skipped, it lists them and exits 77
# (the tests' SKIP_RETURN_CODE), so ctest says "Skipped", not "Passed". A run
# in which no test ran at all fails (a filter that matches nothing).
#   run.sh [BATS ARGUMENTS...]        bats is $BATS, else the one on PATH
set -uo pipefail

out=$(mktemp "${TMPDIR:-/tmp}/mbx-bats.XXXXXX")
trap 'rm -f "$out"' EXIT
"${BATS:-bats}" --tap "$@" | tee "$out"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"

ran=$(grep -cE '^(ok|not ok) [0-9]+ ' "$out")
if [ "$ran" -eq 0 ]; then
    echo "run.sh: no test ran" >&2
    exit 1
fi
skipped=$(grep -E '^ok [0-9]+ .* # skip' "$out")
if [ -n "$skipped" ]; then
    echo "run.sh: $(wc -l <<<"$skipped") of $ran tests skipped:"
    sed 's/^/  /' <<<"$skipped"
    exit 77
fi
exit 0
