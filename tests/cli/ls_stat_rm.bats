#!/usr/bin/env bats
# mbx ls, mbx stat and mbx rm.

load common

@test "ls of an empty MBX_DIR prints only the header" {
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "${lines[0]}" =~ ^NAME\ +MSGS\ +BYTES\ +CAPACITY\ +MAXSIZE\ +MODE\ +USER\ +OWNER$ ]]
    run mbx ls --json
    [ "$status" -eq 0 ]
    [ "$output" = "[]" ]
}

@test "ls lists every mailbox, sorted, with counts, capacity, mode and owner" {
    mbx create zeta --capacity 5 --max-size 64K --mode 0640
    mbx create alpha --rendezvous
    mbx create mid --unbounded
    mbx send zeta one three
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 4 ]
    user=$(id -un)
    read -r -a f <<< "${lines[1]}"
    [ "${f[*]}" = "alpha 0 0 rendezvous 8K 0600 $user system" ]
    read -r -a f <<< "${lines[2]}"
    [ "${f[0]}" = mid ]
    [ "${f[3]}" = unbounded ]
    read -r -a f <<< "${lines[3]}"
    [ "${f[*]}" = "zeta 2 8 5 64K 0640 $user system" ]
}

@test "ls --json is an array of the stat objects" {
    mbx create b
    mbx create a --capacity 3
    mbx send a x
    run mbx ls -j
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == '[{"name":"a","type":"messages","capacity":3,'*'"count":1,"bytes":1,'*'},{"name":"b",'*'}]' ]]
    [ "$output" = "[$(mbx stat a --json),$(mbx stat b --json)]" ]
}

@test "ls in a missing MBX_DIR fails with one line" {
    MBX_DIR=$MBX_DIR/missing run --separate-stderr "$MBX" ls
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == "mbx: ls: $MBX_DIR/missing: "* ]]
    [ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "ls takes no arguments" {
    run mbx ls extra
    [ "$status" -eq 2 ]
}

@test "stat describes a mailbox and follows its counts" {
    mbx create q --capacity 10 --max-size 1M --mode 0660 --policy exclusive
    mbx send q hello worlds
    run --separate-stderr mbx stat q
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "name:              q" ]
    [[ "$output" == *$'\ntype:              messages\n'* ]]
    [[ "$output" == *$'\ncapacity:          10\n'* ]]
    [[ "$output" == *$'\nmax-size:          1M\n'* ]]
    [[ "$output" == *$'\npolicy:            exclusive\n'* ]]
    [[ "$output" == *$'\nmode:              0660\n'* ]]
    [[ "$output" == *$'\nuser:              '"$(id -un)"$'\n'* ]]
    [[ "$output" == *$'\nowner:             system\n'* ]]
    [[ "$output" == *$'\nmessages:          2\n'* ]]
    [[ "$output" == *$'\nbytes:             11\n'* ]]
    [[ "$output" == *$'\nsent-total:        2\n'* ]]
    [[ "$output" == *$'\nreceived-total:    0'* ]]
    mbx recv q > /dev/null
    run mbx stat q
    [[ "$output" == *$'\nmessages:          1\n'* ]]
    [[ "$output" == *$'\nreceived-total:    1'* ]]
}

@test "stat --json prints one object with every field" {
    mbx create q --capacity 10
    mbx send q hello
    run mbx stat q --json
    [ "$status" -eq 0 ]
    want='{"name":"q","type":"messages","capacity":10,"capacity_mode":"bounded",'
    want+='"max_msg_size":8192,"policy":"any","mode":"0600",'
    want+="\"uid\":$(id -u),\"gid\":$(id -g),\"owned\":false,\"owner_pid\":0,"
    want+='"count":1,"bytes":5,"senders_waiting":0,"receivers_waiting":0,'
    want+='"sent_total":1,"received_total":0,"udp_dropped_full":0,"udp_dropped_bad":0}'
    [ "$output" = "$want" ]
}

@test "stat of a missing mailbox fails with one line" {
    run --separate-stderr mbx stat nope
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "mbx: stat: nope: no such mailbox" ]
    run mbx stat
    [ "$status" -eq 2 ]
}

@test "rm removes mailboxes and their messages" {
    mbx create a
    mbx create b
    mbx send a queued
    run --separate-stderr mbx rm a b
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    [ ! -e "$MBX_DIR/mbx.a" ]
    [ ! -e "$MBX_DIR/mbx.b" ]
    run mbx stat a
    [ "$status" -eq 1 ]
    [ "$(mbx ls | wc -l)" -eq 1 ]
    mbx create a
    run mbx recv a --timeout 0
    [ "$status" -eq 3 ]
}

@test "rm goes on past a missing name and fails" {
    mbx create a
    mbx create b
    run --separate-stderr mbx rm a nope b
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: rm: nope: no such mailbox" ]
    [ ! -e "$MBX_DIR/mbx.a" ]
    [ ! -e "$MBX_DIR/mbx.b" ]
    run mbx rm
    [ "$status" -eq 2 ]
}

@test "rm wakes a receiver blocked on the mailbox" {
    mbx create q
    bg "$MBX" recv q
    sleep 0.2
    mbx rm q
    t0=$(now_ms)
    wait_exit "$BG_PID"
    t1=$(now_ms)
    [ "$EXIT" -eq 1 ]
    # Woken (one that is not waits for ever); the bound leaves room for a
    # sanitizer build on a loaded machine.
    [ $((t1 - t0)) -lt 10000 ]
}
