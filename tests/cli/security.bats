#!/usr/bin/env bats
# What the command does with hostile input and other users' mailboxes.

load common

@test "recv --escape shows control characters and escape sequences, not their effect" {
    mbx create q
    printf 'red \x1b[31mX\x1b[0m\tbell\x07 back\\slash \xc2\x9b c1 \xff é\nnext' | mbx send q --raw
    run mbx recv q --escape
    [ "$status" -eq 0 ]
    [ "$output" = 'red \x1b[31mX\x1b[0m\tbell\x07 back\\slash \xc2\x9b c1 \xff é\nnext' ]
}

@test "recv writes the bytes as they are into a pipe, and with --raw" {
    mbx create q
    printf 'a\x1bb' | mbx send q --raw
    printf 'c\x1bd' | mbx send q --raw
    mbx recv q | od -An -c | tr -d ' \n' | grep -qx 'a033b\\n'
    mbx recv q --raw | od -An -c | tr -d ' \n' | grep -qx 'c033d\\n'
}

@test "recv escapes by default on a terminal" {
    command -v script >/dev/null || skip "script(1) is not installed"
    mbx create q
    printf 'a\x1b[2Jb' | mbx send q --raw
    run script -qec "$MBX recv q" /dev/null
    [[ "$output" == *'a\x1b[2Jb'* ]]
}

@test "call --escape shows the reply escaped" {
    mbx create q
    bg mbx serve-echo q -n 1
    run mbx call q $'x\x1by' --escape -t 5s
    [ "$status" -eq 0 ]
    [ "$output" = 'x\x1by' ]
}

# Runs the command as user $1 (made with useradd when missing).
as_user() {
    local user=$1
    shift
    id "$user" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$user" >/dev/null 2>&1 ||
        return 99
    setpriv --reuid="$user" --regid="$user" --clear-groups env MBX_DIR="$MBX_DIR" timeout 20 "$MBX" "$@"
}

@test "another user's mailbox needs --shared, and the error says so" {
    [ "$(id -u)" -eq 0 ] || skip "needs root to act as two users"
    command -v setpriv >/dev/null || skip "setpriv(1) is not installed"
    chmod 1777 "$MBX_DIR"
    run as_user mbxtest-b create jobs --mode 0666
    [ "$status" -ne 99 ] || skip "cannot make the test users (useradd)"
    [ "$status" -eq 0 ]
    run --separate-stderr as_user mbxtest-a send jobs hello
    [ "$status" -eq 1 ]
    [[ "$stderr" == "mbx: send: jobs: permission denied: the file belongs to uid $(id -u mbxtest-b) (--shared uses it anyway)" ]]
    run as_user mbxtest-a send jobs hello --shared
    [ "$status" -eq 0 ]
    run as_user mbxtest-b recv jobs -t 0
    [ "$output" = "hello" ]
}
