#!/usr/bin/env bats
# mbx dump and mbx load: moving and backing up a mailbox as JSON lines.

load common

@test "dump | load moves every message with its priority and type, bytes intact" {
    mbx create from
    mbx create to
    mbx send from -p 2 --type 7 first
    printf 'bin\x00\xff\x01' | mbx send from --raw
    mbx send from -p 9 urgent
    mbx dump from > "$BATS_TEST_TMPDIR/dump"
    [ "$(wc -l < "$BATS_TEST_TMPDIR/dump")" -eq 3 ]
    [ "$(head -n 1 "$BATS_TEST_TMPDIR/dump")" = '{"priority":9,"type":0,"payload":"urgent"}' ]
    grep -q '"encoding":"base64"' "$BATS_TEST_TMPDIR/dump"
    run mbx stat from --json
    [[ "$output" == *'"count":0'* ]]
    mbx load to < "$BATS_TEST_TMPDIR/dump"
    run mbx recv to -n 3 --json
    [[ "${lines[0]}" == *'"priority":9,"type":0,'*'"payload":"urgent"}' ]]
    [[ "${lines[1]}" == *'"priority":2,"type":7,'*'"payload":"first"}' ]]
    [[ "${lines[2]}" == *'"payload":"YmluAP8B","encoding":"base64"}' ]]
}

@test "dump escapes C1 controls, and load reads them back byte for byte" {
    mbx create from
    mbx create to
    printf 'a\xc2\x80b\xc2\x9bc\xc2\x9fd\xc2\xa0e\x1bf' > "$BATS_TEST_TMPDIR/in"
    mbx send from --raw < "$BATS_TEST_TMPDIR/in"
    mbx dump from > "$BATS_TEST_TMPDIR/dump"
    [ "$(cat "$BATS_TEST_TMPDIR/dump")" = '{"priority":0,"type":0,"payload":"a\u0080b\u009bc\u009fd'$'\xc2\xa0''e\u001bf"}' ]
    mbx load to < "$BATS_TEST_TMPDIR/dump"
    mbx recv to --raw > "$BATS_TEST_TMPDIR/out"
    printf '\n' >> "$BATS_TEST_TMPDIR/in"
    cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}

@test "dump --keep leaves the messages in the mailbox, in order" {
    mbx create q
    mbx send q -p 1 a
    mbx send q b c
    run mbx dump q --keep
    [ "${#lines[@]}" -eq 3 ]
    run mbx recv q -n 3
    [ "$output" = $'a\nb\nc' ]
}

@test "load takes recv --json lines, and stops at a bad line saying which" {
    mbx create a
    mbx create b
    mbx send a --type 3 one
    mbx recv a --json > "$BATS_TEST_TMPDIR/lines"
    printf '\n{"payload":"two","priority":1}\n{"payload":3}\n{"payload":"never"}\n' >> "$BATS_TEST_TMPDIR/lines"
    run --separate-stderr mbx load b < "$BATS_TEST_TMPDIR/lines"
    [ "$status" -eq 1 ]
    [ "$stderr" = 'mbx: load: b: line 4: expected a string (2 messages sent before it)' ]
    run mbx recv b -n 2 --json
    [[ "${lines[0]}" == *'"priority":1,'*'"payload":"two"}' ]]
    [[ "${lines[1]}" == *'"type":3,'*'"payload":"one"}' ]]
    run mbx recv b --timeout 0
    [ "$status" -eq 3 ]
}

@test "load refuses what it cannot send faithfully" {
    mbx create b
    for bad in '{"payload":"x","priority":32768}' '{"payload":"x","type":-1}' \
        '{"payload":"x","encoding":"hex"}' '{"payload":"!!!!","encoding":"base64"}' \
        '{"payload":"x"} trailing' '{"payload":"x","payload":"y"}' '["payload"]' \
        '{"priority":1}' '{"payload":"\ud800"}'; do
        run --separate-stderr mbx load b <<<"$bad"
        [ "$status" -eq 1 ] || {
            echo "accepted: $bad"
            return 1
        }
        [[ "$stderr" == "mbx: load: b: line 1: "* ]]
    done
    run mbx stat b --json
    [[ "$output" == *'"count":0'* ]]
}

@test "dump of an empty mailbox prints nothing and succeeds; a stream is refused" {
    mbx create q
    run --separate-stderr mbx dump q
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    mbx create s --stream
    run --separate-stderr mbx dump s
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"a stream holds bytes"* ]]
}

@test "dump escapes bidirectional controls and invisible characters, and load reads them back" {
    mbx create from
    mbx create to
    printf 'a\xe2\x80\xaeb\xe2\x80\x8bc\xf3\xa0\x80\x81d\xc2\xade\xe2\x82\xac' > "$BATS_TEST_TMPDIR/in"
    mbx send from --raw < "$BATS_TEST_TMPDIR/in"
    mbx dump from > "$BATS_TEST_TMPDIR/dump"
    [ "$(cat "$BATS_TEST_TMPDIR/dump")" = '{"priority":0,"type":0,"payload":"a\u202eb\u200bc\udb40\udc01d\u00ade'$'\xe2\x82\xac''"}' ]
    mbx load to < "$BATS_TEST_TMPDIR/dump"
    mbx recv to --raw > "$BATS_TEST_TMPDIR/out"
    printf '\n' >> "$BATS_TEST_TMPDIR/in"
    cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}
