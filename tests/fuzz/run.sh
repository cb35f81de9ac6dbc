#!/bin/sh
# Builds the libFuzzer targets with clang (in build-fuzz, or $BUILD) and runs
# each for N seconds (default 30) against its corpus in tests/fuzz/corpus/.
# New inputs are written to a scratch directory, not the kept corpus; a crash,
# leak or timeout leaves its input in tests/fuzz/crashes/ and fails the run.
#   tests/fuzz/run.sh [SECONDS]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build-fuzz}
cc=${CC:-clang}

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DMBX_FUZZ=ON -DMBX_BUILD_TESTS=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_segment fuzz_cli_parse fuzz_msgline fuzz_wire fuzz_udp fuzz_subject -j "$(nproc)" >/dev/null

# The targets make their mailbox directories under TMPDIR; one that dies on
# a crash cannot remove its own, so everything goes in one directory that
# goes away here.
scratch=$(mktemp -d /tmp/mbx-fuzz-run.XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM
mkdir -p "$here/crashes"

status=0
for t in segment cli_parse msgline wire udp subject; do
    mkdir -p "$scratch/new-$t"
    log="$scratch/$t.log"
    if TMPDIR=$scratch "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/crashes/$t-" \
        "$scratch/new-$t" "$here/corpus/$t" >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    echo "fuzz_$t: ${secs}s, ${execs:-?} executions, $crashes crashes/timeouts: $result"
    if [ "$result" = FAILED ]; then
        grep -E 'ERROR|SUMMARY|fuzz_segment:|fuzz_cli_parse:|fuzz_msgline:|fuzz_wire:|fuzz_udp:|fuzz_subject:|Test unit written' "$log" | head -20
    fi
done
exit $status
