#!/usr/bin/env bats
# mbx send --type and mbx recv --type: typed messages and selective receive.

load common

@test "recv --type T takes only messages of type T, the others stay in order" {
    mbx create q
    mbx send q --type 1 a
    mbx send q --type 2 b
    mbx send q --type 1 c
    mbx send q d # type 0
    run mbx recv q --type 1 -n 2
    [ "$status" -eq 0 ]
    [ "$output" = $'a\nc' ]
    run mbx recv q --type 1 --timeout 0
    [ "$status" -eq 3 ]
    run mbx recv q -n 2
    [ "$output" = $'b\nd' ]
}

@test "recv --type '<=T' takes the lowest type up to T first" {
    mbx create q
    mbx send q --type 5 five
    mbx send q --type 3 three
    mbx send q --type 9 nine
    mbx send q --type 4 four
    run mbx recv q --type '<=5' -n 3 --json
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == *'"type":3,'*'"payload":"three"}' ]]
    [[ "${lines[1]}" == *'"type":4,'*'"payload":"four"}' ]]
    [[ "${lines[2]}" == *'"type":5,'*'"payload":"five"}' ]]
    run mbx recv q --type '<=8' --timeout 0
    [ "$status" -eq 3 ]
    run mbx recv q
    [ "$output" = nine ]
}

@test "recv --type '!T' takes any type but T" {
    mbx create q
    mbx send q --type 7 skip
    mbx send q --type 8 take
    run mbx recv q --type '!7'
    [ "$status" -eq 0 ]
    [ "$output" = take ]
    run mbx recv q --type '!7' --timeout 0
    [ "$status" -eq 3 ]
}

@test "a waiting recv --type wakes for its type only" {
    mbx create q
    "$MBX" recv q --type 2 --timeout 20s > "$BATS_TEST_TMPDIR/out" &
    pid=$!
    mbx send q --type 1 other
    mbx send q --type 2 mine
    wait "$pid"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = mine ]
    run mbx recv q --timeout 0
    [ "$output" = other ]
}

@test "bad --type values and --type with --from are refused" {
    mbx create q
    run --separate-stderr mbx send q --type -1 x
    [ "$status" -eq 2 ]
    [[ "$stderr" == *--type* ]]
    run --separate-stderr mbx send q --type 18446744073709551616 x
    [ "$status" -eq 2 ]
    run --separate-stderr mbx recv q --type '>=3'
    [ "$status" -eq 2 ]
    [[ "$stderr" == *--type* ]]
    run --separate-stderr mbx recv q --type 1 --from 1
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"--from and --type"* ]]
    run mbx stat q --json
    [[ "$output" == *'"count":0'* ]]
}

@test "streams carry no types" {
    mbx create s --stream
    run --separate-stderr mbx send s --type 3 x
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"not typed messages"* ]]
    run mbx send s --type 0 x
    [ "$status" -eq 0 ]
}
