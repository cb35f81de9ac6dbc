#!/usr/bin/env bats
# mbx help, --help of every command, and the dispatcher's usage errors.

load common

COMMANDS=(create send recv ls stat top rm dump load call serve serve-echo help)

@test "mbx help lists every command and exits 0" {
    run --separate-stderr mbx help
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "${lines[0]}" = "usage: mbx COMMAND [OPTION...] [ARG...]" ]
    for c in "${COMMANDS[@]}"; do
        [[ "$output" == *$'\n'"  $c "* ]] || {
            echo "missing $c"
            return 1
        }
    done
    [[ "$output" == *"3 timed out or nothing to receive"* ]]
}

@test "mbx --help and -h are mbx help" {
    want=$(mbx help)
    run mbx --help
    [ "$status" -eq 0 ]
    [ "$output" = "$want" ]
    run mbx -h
    [ "$status" -eq 0 ]
    [ "$output" = "$want" ]
}

@test "every command has --help, -h and mbx help COMMAND, on stdout" {
    for c in "${COMMANDS[@]}"; do
        run --separate-stderr mbx "$c" --help
        [ "$status" -eq 0 ]
        [ -z "$stderr" ]
        [[ "${lines[0]}" == "usage: mbx $c"* ]] || {
            echo "$c: ${lines[0]}"
            return 1
        }
        want=$output
        run mbx help "$c"
        [ "$status" -eq 0 ]
        [ "$output" = "$want" ]
        run mbx "$c" -h
        [ "$status" -eq 0 ]
        [ "$output" = "$want" ]
    done
}

@test "--help wins over missing arguments" {
    run mbx send --help
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "usage: mbx send NAME"* ]]
}

@test "no command is a usage error" {
    run --separate-stderr mbx
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [[ "$stderr" == "usage: mbx COMMAND"* ]]
}

@test "an unknown command is a usage error" {
    run --separate-stderr mbx frobnicate
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [[ "$stderr" == "mbx: unknown command 'frobnicate'"* ]]
}

@test "mbx help of an unknown command is a usage error" {
    run --separate-stderr mbx help frobnicate
    [ "$status" -eq 2 ]
    [[ "$stderr" == "mbx: help: unknown command 'frobnicate'"* ]]
    run mbx help send recv
    [ "$status" -eq 2 ]
}

@test "mbx --version prints the version" {
    run mbx --version
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^mbx\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "a failed write to stdout is an error" {
    [ -w /dev/full ] || skip "no /dev/full"
    run --separate-stderr bash -c '"$MBX" help > /dev/full'
    [ "$status" -eq 1 ]
    [[ "$stderr" == "mbx: write error: "* ]]
}
