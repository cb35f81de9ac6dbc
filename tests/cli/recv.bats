#!/usr/bin/env bats
# mbx recv: outputs (text, JSON, binary), waiting, timeouts, --follow, --from.

load common

@test "recv --json reports seq, size, priority, type and sender" {
    mbx create q
    "$MBX" send q -p 3 --type 42 hello &
    pid=$!
    wait "$pid"
    run mbx recv q --json
    [ "$status" -eq 0 ]
    [ "$output" = "{\"seq\":1,\"size\":5,\"priority\":3,\"type\":42,\"sender\":$pid,\"sender_uid\":$(id -u),\"reply\":false,\"payload\":\"hello\"}" ]
}

@test "recv --json escapes what JSON needs escaped and keeps UTF-8" {
    mbx create q
    printf 'q"b\\s\tt\rr\x01\x7f\xc3\xa9\xe2\x82\xac/' | mbx send q --raw
    run mbx recv q --json
    [[ "$output" == *',"payload":"q\"b\\s\tt\rr\u0001\u007f'$'\xc3\xa9\xe2\x82\xac''/"}' ]]
    [[ "$output" != *encoding* ]]
}

@test "recv --json escapes C1 controls and keeps the characters past them" {
    mbx create q
    printf 'csi\xc2\x9b2J osc\xc2\x9d0;t\xc2\x9c \xc2\x80\xc2\x9f nbsp\xc2\xa0 \xc3\xa9' | mbx send q --raw
    run mbx recv q --json
    [[ "$output" == *',"payload":"csi\u009b2J osc\u009d0;t\u009c \u0080\u009f nbsp'$'\xc2\xa0'' '$'\xc3\xa9''"}' ]]
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
    [ -z "$output$stderr" ] # the exit status says it (mbx recv q -t 0 || ...)
}

@test "recv --timeout waits that long, then exits 3" {
    mbx create q
    t0=$(now_ms)
    run mbx recv q --timeout 300ms
    t1=$(now_ms)
    [ "$status" -eq 3 ]
    [ $((t1 - t0)) -ge 290 ]
    # An upper bound that only a recv that ignores its timeout misses (a
    # sanitizer build on a loaded machine took more than 3 s to start).
    [ $((t1 - t0)) -lt 20000 ]
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
        wait_until 20 lines_in 2 "$out"
        mbx send q three
        wait_until 20 lines_in 3 "$out"
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
