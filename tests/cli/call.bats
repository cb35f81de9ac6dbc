#!/usr/bin/env bats
# mbx call and mbx serve-echo.

load common

@test "call prints the reply of serve-echo" {
    mbx create svc
    bg "$MBX" serve-echo svc
    run --separate-stderr mbx call svc 'hello "world"' --timeout 5s
    [ "$status" -eq 0 ]
    [ "$output" = 'hello "world"' ]
    [ -z "$stderr" ]
    run mbx call svc -p 7 second -t 5s
    [ "$status" -eq 0 ]
    [ "$output" = second ]
}

@test "serve-echo -n stops after COUNT calls and drops plain messages" {
    mbx create svc
    mbx send svc plain
    bg "$MBX" serve-echo svc -n 2
    [ "$(mbx call svc one -t 5s)" = one ]
    [ "$(mbx call svc two -t 5s)" = two ]
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    [ "$(mbx stat svc --json | grep -o '"count":[0-9]*')" = '"count":0' ]
}

@test "serve-echo answers many callers" {
    mbx create svc
    bg "$MBX" serve-echo svc
    local callers=()
    for i in 1 2 3 4; do
        (for j in $(seq 20); do "$MBX" call svc "$i-$j" -t 20s; done) > "$BATS_TEST_TMPDIR/out.$i" 3>&- &
        callers+=("$!")
        BG_PIDS+=("$!")
    done
    # Each call is bounded by its own timeout; a fixed bound on all 80 was
    # too short for a sanitizer build on a busy machine.
    for pid in "${callers[@]}"; do
        wait "$pid"
    done
    [ "$(cat "$BATS_TEST_TMPDIR"/out.* | wc -l)" -eq 80 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/out.* | sort -u | wc -l)" -eq 80 ]
    [ "$(cat "$BATS_TEST_TMPDIR/out.3" | head -n 1)" = 3-1 ]
}

@test "call without anyone answering times out with exit 3" {
    mbx create svc
    t0=$(now_ms)
    run --separate-stderr mbx call svc hello --timeout 200ms
    t1=$(now_ms)
    [ "$status" -eq 3 ]
    [ -z "$output" ]
    [[ "$stderr" == "mbx: call: svc: "* ]]
    [ $((t1 - t0)) -ge 190 ]
}

@test "call to a missing mailbox fails with one line" {
    run --separate-stderr mbx call nope hello
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: call: nope: no such mailbox" ]
}

@test "call needs NAME and exactly one MESSAGE" {
    mbx create svc
    run mbx call svc
    [ "$status" -eq 2 ]
    run mbx call svc a b
    [ "$status" -eq 2 ]
    run mbx call svc a --timeout soon
    [ "$status" -eq 2 ]
    run mbx call svc a --priority 40000
    [ "$status" -eq 2 ]
}

@test "call reports what the library returns, in one line" {
    mbx create svc
    run --separate-stderr mbx call svc hello --timeout 0
    [ "$status" -ne 0 ]
    [ "$status" -ne 2 ]
    [ -z "$output" ]
    [[ "$stderr" == "mbx: call: svc: "* ]]
    [ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "serve-echo --timeout exits 3 when idle, and SIGTERM stops it with 0" {
    mbx create svc
    run --separate-stderr mbx serve-echo svc --timeout 100ms
    [ "$status" -eq 3 ]
    [[ "$stderr" == "mbx: serve-echo: svc: "* ]]
    bg "$MBX" serve-echo svc
    # Serving (its handlers are in place) once a call is answered: a fixed
    # sleep was too short for a sanitizer build on a busy machine.
    [ "$(mbx call svc ready -t 30s)" = ready ]
    kill -TERM "$BG_PID"
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
}

@test "serve-echo of a missing mailbox fails, bad options are usage errors" {
    run --separate-stderr mbx serve-echo nope
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: serve-echo: nope: no such mailbox" ]
    run mbx serve-echo
    [ "$status" -eq 2 ]
    run mbx serve-echo svc -n 0
    [ "$status" -eq 2 ]
    run mbx serve-echo svc --timeout 1parsec
    [ "$status" -eq 2 ]
}
