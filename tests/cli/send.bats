#!/usr/bin/env bats
# mbx send: inputs, priorities, waiting for room, errors; stream mailboxes.

load common

@test "send MESSAGE... sends one message per argument" {
    mbx create q
    run --separate-stderr mbx send q one 'two words' ''
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    mbx recv q -n 3 > "$BATS_TEST_TMPDIR/out"
    printf 'one\ntwo words\n\n' | cmp - "$BATS_TEST_TMPDIR/out"
}

@test "send reads one message per line of stdin, without the newline" {
    mbx create q
    printf 'alpha\n\nbeta gamma\nlast-without-newline' | mbx send q
    run mbx recv q --json -n 4
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == *'"size":5,'*'"payload":"alpha"}' ]]
    [[ "${lines[1]}" == *'"size":0,'*'"payload":""}' ]]
    [[ "${lines[2]}" == *'"payload":"beta gamma"}' ]]
    [[ "${lines[3]}" == *'"payload":"last-without-newline"}' ]]
    run mbx recv q --timeout 0
    [ "$status" -eq 3 ]
}

@test "send --raw sends the whole input as one message" {
    mbx create q
    printf 'a\nb\n\nc' | mbx send q --raw
    run mbx recv q --json
    [[ "$output" == *'"size":6,'*'"payload":"a\nb\n\nc"}' ]]
    run mbx recv q --timeout 0
    [ "$status" -eq 3 ]
}

@test "send --null splits stdin at NUL bytes" {
    mbx create q
    printf 'a\0b\nc\0\0d' | mbx send q --null
    run mbx recv q --json -n 4
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == *'"payload":"a"}' ]]
    [[ "${lines[1]}" == *'"payload":"b\nc"}' ]]
    [[ "${lines[2]}" == *'"payload":""}' ]]
    [[ "${lines[3]}" == *'"payload":"d"}' ]]
}

@test "send --raw with --null, or with MESSAGE, is a usage error" {
    mbx create q
    run mbx send q --raw --null
    [ "$status" -eq 2 ]
    run --separate-stderr mbx send q --raw hello
    [ "$status" -eq 2 ]
    [[ "$stderr" == "mbx: send: --raw and --null read standard input; give no MESSAGE"* ]]
    [ "$(mbx stat q --json | grep -o '"count":[0-9]*')" = '"count":0' ]
}

@test "higher priorities are received first, in send order within one" {
    mbx create q
    mbx send q -p 1 low1
    mbx send q --priority 9 high
    mbx send q mid -p 5
    mbx send q -p 1 low2
    run mbx recv q -n 4
    [ "$output" = $'high\nmid\nlow1\nlow2' ]
}

@test "send --timeout exits 3 while the mailbox stays full" {
    mbx create q --capacity 1
    mbx send q first
    run --separate-stderr mbx send q second --timeout 0
    [ "$status" -eq 3 ]
    [[ "$stderr" == "mbx: send: q: "* ]]
    t0=$(now_ms)
    run mbx send q second --timeout 200ms
    t1=$(now_ms)
    [ "$status" -eq 3 ]
    [ $((t1 - t0)) -ge 190 ]
    run --separate-stderr mbx recv q -n 2 --timeout 0
    [ "$status" -eq 3 ]
    [ "$output" = first ]
}

@test "send without --timeout waits for room" {
    mbx create q --capacity 1
    mbx send q first
    bg "$MBX" send q second
    sleep 0.3
    kill -0 "$BG_PID"
    [ "$(mbx recv q)" = first ]
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    [ "$(mbx recv q --timeout 1s)" = second ]
}

@test "a message larger than the mailbox takes fails, and nothing is queued" {
    mbx create q --max-size 16
    run mbx send q 0123456789abcdef
    [ "$status" -eq 0 ]
    run --separate-stderr mbx send q 0123456789abcdefX
    [ "$status" -eq 1 ]
    [[ "$stderr" == "mbx: send: q: "* ]]
    [ "$(echo "$stderr" | wc -l)" -eq 1 ]
    run bash -c 'head -c 100000 /dev/zero | "$MBX" send q --raw'
    [ "$status" -eq 1 ]
    [[ "$output" == "mbx: send: q: "* ]]
    run --separate-stderr mbx recv q -n 2 --timeout 0
    [ "$status" -eq 3 ]
    [ "$output" = 0123456789abcdef ]
}

@test "send from stdin stops at the first message that fails" {
    mbx create q --max-size 4
    run bash -c 'printf "ok\ntoo long\nnever\n" | "$MBX" send q'
    [ "$status" -eq 1 ]
    run --separate-stderr mbx recv q -n 2 --timeout 0
    [ "$status" -eq 3 ]
    [ "$output" = ok ]
}

@test "send and recv to a missing mailbox fail with one line" {
    run --separate-stderr mbx send jobs hello
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "mbx: send: jobs: no such mailbox" ]
    run --separate-stderr mbx recv jobs --timeout 0
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: recv: jobs: no such mailbox" ]
}

@test "send and recv with a bad priority, count or duration are usage errors" {
    mbx create q
    for args in "-p 32768 x" "-p -1 x" "-p high x" "--timeout 5parsecs x" "--timeout -1 x" \
        "-t 1.s x"; do
        run --separate-stderr mbx send q $args
        [ "$status" -eq 2 ] || {
            echo "send accepted $args"
            return 1
        }
    done
    run --separate-stderr mbx send q --timeout 5parsecs x
    [[ "$stderr" == "mbx: send: --timeout: invalid value '5parsecs'"* ]]
    for args in "-n 0" "-n x" "--timeout 2h" "--timeout ''" "--from 0" "--from abc" \
        "-n 2 --follow"; do
        run mbx recv q $args
        [ "$status" -eq 2 ] || {
            echo "recv accepted $args"
            return 1
        }
    done
    [ "$(mbx stat q --json | grep -o '"count":[0-9]*')" = '"count":0' ]
}

create_stream() {
    run --separate-stderr mbx create "$@"
    [ "$status" -eq 0 ]
}

@test "a stream copies bytes in order, without message boundaries" {
    create_stream s --stream
    printf 'abc\ndef' | mbx send s
    mbx send s ghi
    run mbx recv s
    [ "$status" -eq 0 ]
    [ "$output" = $'abc\ndefghi' ]
}

@test "a stream carries a large binary input whole" {
    create_stream s --stream --capacity 4 --max-size 4K
    head -c 3000000 /dev/urandom > "$BATS_TEST_TMPDIR/in"
    bg bash -c 'exec "$MBX" send s < "$1"' _ "$BATS_TEST_TMPDIR/in"
    wait_until 20 bash -c '"$MBX" stat s --json | grep -q "\"bytes\":[1-9]"'
    mbx recv s > "$BATS_TEST_TMPDIR/out"
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}

@test "send --confirm waits for the receiver and names it" {
    mbx create q
    mbx send q --confirm hello > "$BATS_TEST_TMPDIR/who" &
    sender=$!
    # The sender is still waiting while the message sits in the mailbox.
    for _ in $(seq 200); do
        [ "$(mbx stat q --json | grep -o '"count":[0-9]*')" = '"count":1' ] && break
        sleep 0.05
    done
    sleep 0.2
    kill -0 "$sender"
    run mbx recv q
    [ "$output" = hello ]
    wait "$sender"
    grep -Eq "^taken by pid [0-9]+ uid $(id -u)$" "$BATS_TEST_TMPDIR/who"
}

@test "send --confirm takes back what nobody took" {
    mbx create q
    run --separate-stderr mbx send q --confirm --timeout 50ms lonely
    [ "$status" -eq 3 ]
    [ -z "$output" ]
    run mbx recv q --timeout 0
    [ "$status" -eq 3 ]
    run mbx send q --confirm --type 3 x
    [ "$status" -eq 2 ]
}
