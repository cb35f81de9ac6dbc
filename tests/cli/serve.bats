#!/usr/bin/env bats
# mbx serve NAME -- CMD: a command per message, its output the reply.

load common

@test "serve answers each call with CMD's output, the request on its stdin" {
    mbx create svc
    bg "$MBX" serve svc -n 2 -- tr a-z A-Z
    run mbx call svc hello -t 20s
    [ "$status" -eq 0 ]
    [ "$output" = HELLO ]
    run mbx call svc 'second one' -t 20s
    [ "$output" = 'SECOND ONE' ]
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
}

@test "serve runs CMD for plain messages too, their output on its stdout" {
    mbx create jobs
    mbx send jobs one two
    run mbx serve jobs -n 2 -t 5s -- sh -c 'printf "<%s>" "$(cat)"'
    [ "$status" -eq 0 ]
    [ "$output" = '<one><two>' ]
}

@test "a failing CMD is reported and its output still answers" {
    mbx create svc
    bg "$MBX" serve svc -n 1 -- sh -c 'echo partial; exit 4' 2> "$BATS_TEST_TMPDIR/err"
    run mbx call svc x -t 20s
    [ "$status" -eq 0 ]
    [ "$output" = partial ]
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    grep -q "sh exited with status 4" "$BATS_TEST_TMPDIR/err"
}

@test "a CMD that writes before reading, a lot, does not deadlock" {
    mbx create svc --max-size 1M
    bg "$MBX" serve svc -n 1 -- sh -c 'head -c 300000 /dev/zero | tr "\0" x; cat > /dev/null'
    run mbx call svc "$(head -c 100000 /dev/zero | tr '\0' y)" -t 20s
    [ "$status" -eq 0 ]
    [ "${#output}" -eq 300000 ]
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
}

@test "serve stops on SIGTERM between messages and exits 0" {
    mbx create svc
    bg "$MBX" serve svc -- cat
    run mbx call svc ping -t 20s
    [ "$output" = ping ]
    kill -TERM "$BG_PID"
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
}

@test "serve needs NAME, -- and CMD" {
    mbx create svc
    run --separate-stderr mbx serve svc
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"expected -- CMD"* ]]
    run --separate-stderr mbx serve svc --
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"expected CMD after --"* ]]
    run --separate-stderr mbx serve -- cat
    [ "$status" -eq 2 ]
    run --separate-stderr mbx serve svc -n 1 -t 2s -- /nonexistent/cmd
    [ "$status" -eq 3 ] # nothing came within 2 s: no message, no run
}

# holds NAME COUNT: mailbox NAME holds COUNT messages.
holds() {
    "$MBX" stat "$1" | grep -q "^messages: *$2\$"
}

# call_with_full_box: creates svc, makes a call to it in the background
# (its pid in CALLER) and fills the caller's own mailbox (@PID, which its
# user may send to) while the call waits.
call_with_full_box() {
    mbx create svc
    bg "$MBX" call svc first -t 60s 2> /dev/null # its end: "peer terminated"
    CALLER=$BG_PID
    wait_until 30 holds svc 1 # its request is queued, its @PID made
    run mbx send "@$CALLER" -t 0 $(seq 1000)
    [ "$status" -eq 3 ] # full
}

# serve_after_full_box EXPECTED SERVER-ARGS...: starts the server (stderr
# in err), makes a second call, which must be answered EXPECTED, and
# waits for the server, which must have served both and exited 0.
serve_after_full_box() {
    local expected=$1
    shift
    bg "$MBX" "$@" 2> "$BATS_TEST_TMPDIR/err"
    local server=$BG_PID
    run mbx call svc second -t 30s
    [ "$status" -eq 0 ]
    [ "$output" = "$expected" ]
    wait_exit "$server"
    [ "$EXIT" -eq 0 ]
}

# A caller whose own mailbox is full while the call waits: the reply is
# tried again for about a second (ten tries of the 100 ms a reply waits
# for room: mbx.h), then dropped with a line on stderr, and the next
# request is served. serve stopped (exit 3, "mailbox full") at the first
# such reply before.
@test "a reply to a caller whose mailbox stays full is dropped and serving carries on" {
    call_with_full_box
    local t0
    t0=$(now_ms)
    serve_after_full_box SECOND serve svc -n 2 -- tr a-z A-Z
    # Ten tries of at least 100 ms each went to the first reply.
    [ $(($(now_ms) - t0)) -ge 900 ]
    grep -q "serve: svc: reply to pid $CALLER dropped: its mailbox stayed full" \
        "$BATS_TEST_TMPDIR/err"
}

# The same for serve-echo, which stopped the same way.
@test "serve-echo drops a reply to a caller whose mailbox stays full and carries on" {
    call_with_full_box
    serve_after_full_box second serve-echo svc -n 2
    grep -q "serve-echo: svc: reply to pid $CALLER dropped: its mailbox stayed full" \
        "$BATS_TEST_TMPDIR/err"
}

# A call from another user to a shared mailbox: the reply cannot go to
# that user's @PID (-EACCES; a server running as root could). serve
# reports it and serves on; it stopped there before, so any user who may
# send to a shared service stopped it.
@test "a reply another user's mailbox refuses is reported and serving carries on" {
    [ "$(id -u)" -eq 0 ] || skip "needs root to act as two users"
    command -v setpriv >/dev/null || skip "setpriv(1) is not installed"
    chmod 1777 "$MBX_DIR"
    run as_user mbxtest-b create svc --mode 0666
    [ "$status" -ne 99 ] || skip "cannot make the test users (useradd)"
    [ "$status" -eq 0 ]
    bg as_user mbxtest-b serve svc -n 2 -- tr a-z A-Z 2> "$BATS_TEST_TMPDIR/err"
    local server=$BG_PID
    run as_user mbxtest-a call svc other --shared -t 3s
    [ "$status" -ne 0 ] # no reply can reach it
    run as_user mbxtest-b call svc mine -t 15s
    [ "$status" -eq 0 ]
    [ "$output" = MINE ]
    wait_exit "$server"
    [ "$EXIT" -eq 0 ]
    grep -q "serve: svc: permission denied" "$BATS_TEST_TMPDIR/err"
}
