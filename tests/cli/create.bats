#!/usr/bin/env bats
# mbx create: every option, and what it refuses.

load common

# field NAME KEY: the value of KEY in `mbx stat NAME --json`.
field() {
    mbx stat "$1" --json | grep -o "\"$2\":[^,}]*" | cut -d: -f2
}

@test "create makes a mailbox with the defaults of the API" {
    run --separate-stderr mbx create jobs
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    [ -f "$MBX_DIR/mbx.jobs" ]
    [ "$(field jobs capacity)" = 64 ]
    [ "$(field jobs capacity_mode)" = '"bounded"' ]
    [ "$(field jobs max_msg_size)" = 8192 ]
    [ "$(field jobs policy)" = '"any"' ]
    [ "$(field jobs mode)" = '"0600"' ]
    [ "$(field jobs type)" = '"messages"' ]
    [ "$(field jobs count)" = 0 ]
}

@test "create --capacity --max-size --mode --policy are kept" {
    mbx create q --capacity 5 --max-size 64K --mode 0640 --policy round-robin
    [ "$(field q capacity)" = 5 ]
    [ "$(field q max_msg_size)" = 65536 ]
    [ "$(field q mode)" = '"0640"' ]
    [ "$(field q policy)" = '"round-robin"' ]
    mbx create r -c 7 -s 1M -m 660 -P exclusive
    [ "$(field r capacity)" = 7 ]
    [ "$(field r max_msg_size)" = 1048576 ]
    [ "$(field r mode)" = '"0660"' ]
    [ "$(field r policy)" = '"exclusive"' ]
}

@test "create --rendezvous and --unbounded" {
    mbx create rv --rendezvous
    [ "$(field rv capacity)" = 0 ]
    [ "$(field rv capacity_mode)" = '"rendezvous"' ]
    mbx create ub --unbounded --memory-limit 1M
    [ "$(field ub capacity_mode)" = '"unbounded"' ]
}

@test "create --stream makes a stream" {
    run --separate-stderr mbx create s --stream
    [ "$status" -eq 0 ]
    [ "$(field s type)" = '"stream"' ]
}

@test "create of an existing mailbox fails and leaves it alone" {
    mbx create q --capacity 3
    run --separate-stderr mbx create q --capacity 9
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == "mbx: create: q: "* ]]
    [ "$(echo "$stderr" | wc -l)" -eq 1 ]
    [ "$(field q capacity)" = 3 ]
}

@test "create refuses a bad name with one line" {
    run --separate-stderr mbx create 'bad/name'
    [ "$status" -eq 1 ]
    [[ "$stderr" == "mbx: create: bad/name: "* ]]
    [ "$(echo "$stderr" | wc -l)" -eq 1 ]
    run mbx create .hidden
    [ "$status" -eq 1 ]
    run mbx create "$(printf 'x%.0s' {1..201})"
    [ "$status" -eq 1 ]
}

@test "create refuses a max size the library does not take" {
    run --separate-stderr mbx create q --max-size 0
    [ "$status" -eq 2 ]
    [[ "$stderr" == "mbx: create: --max-size: '0' out of range (1 .. 1G)"* ]]
    run mbx create q --max-size 2G
    [ "$status" -eq 2 ]
    run mbx stat q
    [ "$status" -eq 1 ]
}

@test "create with a bad size is a usage error" {
    for bad in 12X 1.5K -1 '' 1KB 99999999999999999999; do
        run --separate-stderr mbx create q --max-size "$bad"
        [ "$status" -eq 2 ] || {
            echo "accepted '$bad'"
            return 1
        }
        [[ "$stderr" == "mbx: create: --max-size: "*"'$bad'"* ]]
    done
    [ ! -e "$MBX_DIR/mbx.q" ]
}

@test "create with a bad capacity, mode or policy is a usage error" {
    run --separate-stderr mbx create q --capacity lots
    [ "$status" -eq 2 ]
    [[ "$stderr" == "mbx: create: --capacity: invalid value 'lots'"* ]]
    run --separate-stderr mbx create q --capacity 2147483649
    [ "$status" -eq 2 ]
    [[ "$stderr" == "mbx: create: --capacity: '2147483649' out of range (1 .. 2147483648;"* ]]
    run mbx create q --mode 0999
    [ "$status" -eq 2 ]
    run mbx create q --mode 17777
    [ "$status" -eq 2 ]
    run mbx create q --policy fifo
    [ "$status" -eq 2 ]
    [ ! -e "$MBX_DIR/mbx.q" ]
}

@test "create with two capacity kinds is a usage error" {
    run --separate-stderr mbx create q --capacity 4 --unbounded
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"use only one of --capacity, --rendezvous and --unbounded"* ]]
    run mbx create q --rendezvous --unbounded
    [ "$status" -eq 2 ]
    [ ! -e "$MBX_DIR/mbx.q" ]
}

@test "create needs exactly one NAME" {
    run mbx create
    [ "$status" -eq 2 ]
    run mbx create a b
    [ "$status" -eq 2 ]
    [ ! -e "$MBX_DIR/mbx.a" ]
}

@test "create --pair: one sender and one receiver at a time, the others refused" {
    mbx create link --pair
    run mbx stat link
    [[ "$output" == *"policy:            pair"* ]]
    bg "$MBX" recv link -n 1
    # The receiving end is taken once the background recv has opened it. A
    # probe that opened first makes that recv fail as busy (seen under a
    # loaded ASan run): then another is started, until one holds the end.
    local i
    for ((i = 0; i < 1000; i++)); do
        running "$BG_PID" || bg "$MBX" recv link -n 1
        if "$MBX" recv link -t 0 2>&1 | grep -q busy && running "$BG_PID"; then
            break
        fi
        sleep 0.01
    done
    running "$BG_PID"
    run mbx recv link -t 0
    [ "$status" -eq 1 ]
    [[ "$output" == *"busy"* ]]
    mbx send link hello
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
    run mbx recv link -t 0
    [ "$status" -eq 3 ]
}
