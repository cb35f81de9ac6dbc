#!/usr/bin/env bats
# mbx in shell pipelines, with many messages and concurrent processes.

load common

@test "seq 100000 | mbx send q & mbx recv q -n 100000 delivers every line once" {
    mbx create q
    seq 100000 | "$MBX" send q 3>&- &
    sender=$!
    BG_PIDS+=("$sender")
    run timeout 60 bash -c '"$MBX" recv q -n 100000 | sort -n | uniq | wc -l'
    [ "$status" -eq 0 ]
    [ "$output" -eq 100000 ]
    wait_exit "$sender"
    [ "$EXIT" -eq 0 ]
    run mbx recv q --timeout 0
    [ "$status" -eq 3 ]
}

@test "one sender's lines arrive in order" {
    mbx create q --capacity 16
    bg bash -c 'exec "$MBX" send q < <(seq 20000)'
    timeout 30 "$MBX" recv q -n 20000 > "$BATS_TEST_TMPDIR/out"
    seq 20000 | cmp - "$BATS_TEST_TMPDIR/out"
}

@test "four senders and two receivers lose and duplicate nothing" {
    mbx create q --capacity 8
    for i in 1 2 3 4; do
        bg bash -c 'exec "$MBX" send q < <(seq 5000 | sed "s/^/$1-/")' _ "$i"
    done
    "$MBX" recv q -n 10000 > "$BATS_TEST_TMPDIR/out.1" 3>&- &
    r1=$!
    BG_PIDS+=("$r1")
    timeout 30 "$MBX" recv q -n 10000 > "$BATS_TEST_TMPDIR/out.2"
    wait_exit "$r1"
    [ "$EXIT" -eq 0 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/out.* | sort -u | wc -l)" -eq 20000 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/out.* | grep -c '^3-')" -eq 5000 ]
    # Each receiver sees any one sender's messages in that sender's order.
    for f in "$BATS_TEST_TMPDIR"/out.*; do
        for i in 1 2 3 4; do
            grep "^$i-" "$f" | cut -d- -f2 > "$BATS_TEST_TMPDIR/seq"
            sort -n "$BATS_TEST_TMPDIR/seq" | cmp - "$BATS_TEST_TMPDIR/seq"
        done
    done
}

@test "recv --json lines and send --null round-trip through a pipe" {
    mbx create a
    mbx create b
    printf 'x\0y z\0' | mbx send a --null
    mbx recv a -n 2 | tr '\n' '\0' | mbx send b --null
    run mbx recv b -n 2 --json
    [[ "${lines[0]}" == *'"payload":"x"}' ]]
    [[ "${lines[1]}" == *'"payload":"y z"}' ]]
}

@test "recv --follow feeds a pipeline as messages come" {
    mbx create q
    # exec keeps BG_PID on mbx itself; grep ends when its output closes.
    bg bash -c 'exec "$MBX" recv q --follow > >(grep --line-buffered -v skip > "$1")' _ \
        "$BATS_TEST_TMPDIR/out"
    mbx send q keep1 skip keep2
    wait_until 20 lines_in 2 "$BATS_TEST_TMPDIR/out"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = $'keep1\nkeep2' ]
}

@test "a rendezvous send completes only when a receiver takes the message" {
    mbx create rv --rendezvous
    bg "$MBX" send rv handoff
    sleep 0.3
    kill -0 "$BG_PID"
    [ "$(mbx recv rv --timeout 2s)" = handoff ]
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
}
