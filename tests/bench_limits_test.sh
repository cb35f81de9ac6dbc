#!/usr/bin/env bash
# mbx-bench raises the System V and POSIX queue limits as root in an IPC
# namespace of its own: the machine's values stay as they were while it
# runs (a queue another user made meanwhile would keep a raised size) and
# after it. Skipped (77) without root or where unshare(CLONE_NEWIPC) is
# refused (the benchmark then says so and raises them machine-wide).
set -u
bench=$1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
out=$(mktemp -d)
files=(/proc/sys/kernel/msgmnb /proc/sys/kernel/msgmax /proc/sys/fs/mqueue/msgsize_max)
values() { cat "${files[@]}" | tr '\n' ' '; }
before=$(values)
run=
# Whatever happens, the benchmark (by pid) and its output go; a value this
# test saw raised is put back, so a failure leaves the machine as it was.
cleanup() {
  [ -z "$run" ] || { kill -INT "$run" 2>/dev/null; wait "$run" 2>/dev/null; }
  local i=0 v
  for v in $before; do
    [ "$(cat "${files[$i]}")" = "$v" ] || echo "$v" >"${files[$i]}"
    i=$((i + 1))
  done
  rm -rf "$out"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- stderr"; cat "$out/err"; exit 1; }

"$bench" --quick --only sysvmq,posixmq --out "$out" >"$out/log" 2>"$out/err" &
run=$!
for _ in $(seq 600); do
  grep -q 'raised /proc/sys/kernel/msgmnb\|no IPC namespace' "$out/err" && break
  kill -0 "$run" 2>/dev/null || break
  sleep 0.05
done
if grep -q 'no IPC namespace' "$out/err"; then
  echo "SKIP: $(grep 'no IPC namespace' "$out/err")"
  exit 77
fi
grep -q 'raised /proc/sys/kernel/msgmnb' "$out/err" || fail "the limits were not raised"
during=$(values)
[ "$during" = "$before" ] || fail "machine's limits changed during the run: $before -> $during"
wait "$run" || { run=; fail "exit status $?"; }
run=
after=$(values)
[ "$after" = "$before" ] || fail "machine's limits changed by the run: $before -> $after"
# The rows still measure the large sizes the raise is for.
grep -q '^sysvmq,rtt,1048576,.*,ok,' "$out/results.csv" || fail "sysvmq 1 MiB not measured"
echo "1 passed, 0 failed"
