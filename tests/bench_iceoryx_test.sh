#!/usr/bin/env bash
# mbx-bench's iceoryx rows: measured in every cell without a failure, or n/a
# with the reason when libiceoryx or iox-roudi is missing; the RouDi the run
# started is gone afterwards, also after ^C.
set -u
bench=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; echo "--- output"; cat "$out/log"; exit 1; }

"$bench" --quick --only iceoryx-zc,mbx-loan --out "$out" >"$out/log" 2>&1 || fail "exit status $?"
row=$(grep '^iceoryx (zero copy) ' "$out/log" | head -1)
[ -n "$row" ] || fail "no iceoryx (zero copy) row"
if [[ $row == *"n/a:"* ]]; then
  # Not built or no daemon: the reason is given, and nothing else is wrong.
  [[ $row == *"not built"* || $row == *"iox-roudi"* ]] || fail "n/a without a reason: $row"
  echo "iceoryx rows n/a here: ${row#*n/a: }"
  echo "1 passed, 0 failed"
  exit 0
fi
[[ $row != *FAIL* ]] || fail "a cell failed: $row"
fanin=$(awk '/^fan-in:/ {f = 1} f && /^iceoryx \(zero copy\)/ {print; exit}' "$out/log")
[ -n "$fanin" ] && [[ $fanin != *FAIL* ]] || fail "fan-in row missing or failed: $fanin"
grep -q '^  iceoryx  iox-roudi, started before' "$out/log" || fail "no memory line for RouDi"
grep -q '^  mbx      one default mailbox' "$out/log" || fail "no memory line for mbx"
grep -q '^  mbx      1000 default mailboxes at once: files' "$out/log" || fail "no memory line for 1000 idle mailboxes"
n=$(grep -c '^iceoryx-zc,rtt,.*,ok,' "$out/results.csv")
[ "$n" -eq 4 ] || fail "results.csv has $n measured round-trip cells of iceoryx-zc, not 4"
pid=$(sed -n 's/.*ready in .* (pid \([0-9]*\)).*/\1/p' "$out/log")
[ -n "$pid" ] || fail "RouDi's pid not reported"
if kill -0 "$pid" 2>/dev/null && grep -q iox-roudi "/proc/$pid/cmdline" 2>/dev/null; then
  fail "iox-roudi (pid $pid) still runs after the benchmark"
fi

# ^C in the middle: the run says so, its RouDi is gone, and so are the
# runtime files (/tmp/mbx-bench-*: a socket and a lock per process) of the
# iceoryx processes it killed.
runtime_files() { find /tmp -maxdepth 1 -name 'mbx-bench-*' 2>/dev/null | sort; }
before=$(runtime_files)
# Emptied first: the loop below must not find the last run's 'ready in'
# before the new run's redirection truncates the file (seen once, under
# load: the test then read no pid from the emptied log).
: >"$out/log"
"$bench" --quick --only iceoryx --out "$out" >"$out/log" 2>&1 &
run=$!
for _ in $(seq 200); do
  grep -q 'ready in' "$out/log" && break
  sleep 0.05
done
pid=$(sed -n 's/.*ready in .* (pid \([0-9]*\)).*/\1/p' "$out/log")
[ -n "$pid" ] || { kill -KILL "$run"; fail "RouDi did not start"; }
sleep 1
kill -INT "$run"
wait "$run"
rc=$?
[ "$rc" -eq 130 ] || fail "interrupted run exited $rc, not 130"
if kill -0 "$pid" 2>/dev/null && grep -q iox-roudi "/proc/$pid/cmdline" 2>/dev/null; then
  fail "iox-roudi (pid $pid) still runs after ^C"
fi
left=$(comm -13 <(echo "$before") <(runtime_files))
[ -z "$left" ] || fail "iceoryx runtime files left after ^C: $left"
# Its shared memory is gone too (unless another RouDi runs here now: then the
# segments are that one's).
# The lock is opened only when it is root's own regular file (read-only, no
# O_CREAT): flock(1) on the path would create it as root through a link
# another user planted in /tmp, or block on a FIFO put there.
roudi_lock=/tmp/iox-unique-roudi.lock
roudi_lock_free() {
  [ -f "$roudi_lock" ] && [ ! -L "$roudi_lock" ] && [ "$(stat -c %u "$roudi_lock")" = 0 ] ||
    return 0
  { flock -n 9; } 9<"$roudi_lock"
}
if roudi_lock_free 2>/dev/null && [ -e /dev/shm/iceoryx_mgmt ]; then
  fail "RouDi's shared memory left in /dev/shm after ^C"
fi

# The runtimes' lock files are not where another user can predict them:
# links planted at the names the runs once used (the benchmark's pid, a
# counter, role and index), pointing into this test's own directory, are
# never followed (iceoryx opens the lock file with O_CREAT, as root).
mkdir "$out/victim"
"$bench" --quick --only iceoryx-zc --out "$out" >"$out/log" 2>&1 &
run=$!
for n in 0 1 2 3; do
  for r in i r; do
    ln -s "$out/victim/$n$r" "/tmp/mbx-bench-$run-$n-${r}0.lock" 2>/dev/null
  done
done
wait "$run" || fail "run with planted links: exit status $?"
planted=$(find /tmp -maxdepth 1 -name "mbx-bench-$run-*" -type l)
rm -f $planted
[ -z "$(ls -A "$out/victim")" ] || fail "lock files made through planted links: $(ls "$out/victim")"
[ -n "$planted" ] || fail "the planted links are gone: the run removed or used them"
# And the links cost nothing: no name of the run met them.
row=$(grep '^iceoryx (zero copy) ' "$out/log" | head -1)
[ -n "$row" ] && [[ $row != *FAIL* ]] || fail "a cell failed beside planted links: $row"
echo "3 passed, 0 failed"
