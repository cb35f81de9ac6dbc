#!/usr/bin/env bats
# mbx send and mbx recv: inputs, outputs, ordering, waiting and errors.

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

@test "recv --json reports seq, size, priority and sender" {
    mbx create q
    "$MBX" send q -p 3 hello &
    pid=$!
    wait "$pid"
    run mbx recv q --json
    [ "$status" -eq 0 ]
    [ "$output" = "{\"seq\":1,\"size\":5,\"priority\":3,\"sender\":$pid,\"sender_uid\":$(id -u),\"payload\":\"hello\"}" ]
}

@test "recv --json escapes what JSON needs escaped and keeps UTF-8" {
    mbx create q
    printf 'q"b\\s\tt\rr\x01\x7f\xc3\xa9\xe2\x82\xac/' | mbx send q --raw
    run mbx recv q --json
    [[ "$output" == *',"payload":"q\"b\\s\tt\rr\u0001\u007f'$'\xc3\xa9\xe2\x82\xac''/"}' ]]
    [[ "$output" != *encoding* ]]
}

@test "recv --json sends payloads that are not UTF-8 as base64" {
    mbx create q
    printf '\xff\x00\x01' | mbx send q --raw
    printf '\xc0\xaf' | mbx send q --raw
    printf '\xed\xa0\x80x' | mbx send q --raw
    run mbx recv q --json -n 3
    [[ "${lines[0]}" == *'"size":3,'*'"payload":"/wAB","encoding":"base64"}' ]]
    [[ "${lines[1]}" == *'"payload":"wK8=","encoding":"base64"}' ]]
    [[ "${lines[2]}" == *'"payload":"7aCAeA==","encoding":"base64"}' ]]
}

@test "recv prints binary payloads byte for byte" {
    mbx create q
    head -c 4000 /dev/urandom > "$BATS_TEST_TMPDIR/in"
    mbx send q --raw < "$BATS_TEST_TMPDIR/in"
    mbx recv q > "$BATS_TEST_TMPDIR/out"
    printf '\n' >> "$BATS_TEST_TMPDIR/in"
    cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}

@test "recv takes messages larger than its first buffer" {
    mbx create q --max-size 1M
    head -c 700000 /dev/zero | tr '\0' 'x' > "$BATS_TEST_TMPDIR/in"
    mbx send q --raw < "$BATS_TEST_TMPDIR/in"
    mbx send q small
    mbx recv q -n 2 > "$BATS_TEST_TMPDIR/out"
    [ "$(head -n 1 "$BATS_TEST_TMPDIR/out" | wc -c)" -eq 700001 ]
    [ "$(tail -n 1 "$BATS_TEST_TMPDIR/out")" = small ]
}

@test "recv with nothing queued and --timeout 0 exits 3 at once" {
    mbx create q
    run --separate-stderr mbx recv q --timeout 0
    [ "$status" -eq 3 ]
    [ -z "$output" ]
    [[ "$stderr" == "mbx: recv: q: "* ]]
}

@test "recv --timeout waits that long, then exits 3" {
    mbx create q
    t0=$(now_ms)
    run mbx recv q --timeout 300ms
    t1=$(now_ms)
    [ "$status" -eq 3 ]
    [ $((t1 - t0)) -ge 290 ]
    [ $((t1 - t0)) -lt 3000 ]
}

@test "recv -n exits 3 after printing what came when the rest times out" {
    mbx create q
    mbx send q a b
    run --separate-stderr mbx recv q -n 3 --timeout 50ms
    [ "$status" -eq 3 ]
    [ "$output" = $'a\nb' ]
}

@test "recv without --timeout waits for a message" {
    mbx create q
    bg bash -c 'exec "$MBX" recv q > "$1"' _ "$BATS_TEST_TMPDIR/out"
    sleep 0.3
    kill -0 "$BG_PID"
    mbx send q late
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = late ]
}

@test "recv --follow prints messages as they come and exits 0 on SIGINT or SIGTERM" {
    mbx create q
    for sig in INT TERM; do
        out=$BATS_TEST_TMPDIR/follow.$sig
        bg bash -c 'exec "$MBX" recv q --follow > "$1"' _ "$out"
        mbx send q one two
        wait_until 5 lines_in 2 "$out"
        mbx send q three
        wait_until 5 lines_in 3 "$out"
        kill -"$sig" "$BG_PID"
        wait_exit "$BG_PID"
        [ "$EXIT" -eq 0 ]
        [ "$(cat "$out")" = $'one\ntwo\nthree' ]
    done
}

@test "recv --follow --timeout stops when idle, with exit 3" {
    mbx create q
    mbx send q a b
    run --separate-stderr mbx recv q --follow --timeout 100ms
    [ "$status" -eq 3 ]
    [ "${lines[0]}" = a ]
    [ "${lines[1]}" = b ]
}

@test "recv --from takes only the messages of one process" {
    mbx create q
    run mbx recv q --from 1 --timeout 0
    [ "$status" -eq 3 ]
    "$MBX" send q from-a1 &
    a=$!
    wait "$a"
    "$MBX" send q from-b &
    b=$!
    wait "$b"
    mbx send q from-a2
    run mbx recv q --from "$b" --json --timeout 5s
    [ "$status" -eq 0 ]
    [[ "$output" == *"\"sender\":$b,"*'"payload":"from-b"}' ]]
    run mbx recv q --from "$b" --timeout 0
    [ "$status" -eq 3 ]
    run mbx recv q -n 2
    [ "$output" = $'from-a1\nfrom-a2' ]
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
    wait_until 5 bash -c '"$MBX" stat s --json | grep -q "\"bytes\":[1-9]"'
    mbx recv s > "$BATS_TEST_TMPDIR/out"
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}
