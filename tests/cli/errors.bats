#!/usr/bin/env bats
# Usage errors common to every command, and permission denied.

load common

@test "an unknown long option is a usage error for every command" {
    mbx create q
    for c in create send recv ls stat top rm dump load call serve serve-echo help; do
        run --separate-stderr mbx "$c" --bogus q
        [ "$status" -eq 2 ] || {
            echo "$c: status $status"
            return 1
        }
        [ -z "$output" ]
        [ "${stderr_lines[0]}" = "mbx: $c: unknown option '--bogus'" ]
        [ "${stderr_lines[1]}" = "Try 'mbx help $c'." ]
    done
}

@test "an unknown short option is a usage error" {
    mbx create q
    run --separate-stderr mbx send q -x hello
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "mbx: send: unknown option '-x'" ]
    run --separate-stderr mbx recv -Z q
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "mbx: recv: unknown option '-Z'" ]
    [ "$(mbx stat q --json | grep -o '"count":[0-9]*')" = '"count":0' ]
}

@test "an option without its value is a usage error" {
    mbx create q
    run --separate-stderr mbx recv q --timeout
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "mbx: recv: option '--timeout' needs a value" ]
    run --separate-stderr mbx send q -p
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "mbx: send: option '-p' needs a value" ]
    run mbx create r --max-size
    [ "$status" -eq 2 ]
    [ ! -e "$MBX_DIR/mbx.r" ]
}

@test "a value given to a flag is a usage error" {
    mbx create q
    run mbx send q --raw=yes
    [ "$status" -eq 2 ]
}

@test "-- ends the options, so messages may start with a dash" {
    mbx create q
    mbx send q -- -n --help
    run mbx recv q -n 2
    [ "$output" = $'-n\n--help' ]
}

# as_nobody CMD...: runs CMD as user nobody (uid 65534), without groups.
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# The binary may sit under a directory that nobody cannot search; use a copy.
# The tests that use it are tagged root: ctest runs them as cli_root.
nobody_setup() {
    [ "$(id -u)" -eq 0 ] || skip "needs root to act as a second user (nobody)"
    command -v setpriv > /dev/null || skip "needs setpriv (util-linux)"
    chmod 1777 "$MBX_DIR"
    bindir=$(mktemp -d "${TMPDIR:-/tmp}/mbx-bin.XXXXXX")
    EXTRA_DIRS+=("$bindir")
    chmod 755 "$bindir"
    cp "$MBX" "$bindir/mbx"
    chmod 755 "$bindir/mbx"
    NOBODY_MBX=$bindir/mbx
}

# bats test_tags=root
@test "another user is denied a 0600 mailbox: send, recv, stat and rm" {
    nobody_setup
    mbx create q --mode 0600
    mbx send q secret
    run --separate-stderr as_nobody "$NOBODY_MBX" send q hello
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${stderr,,}" = "mbx: send: q: permission denied" ]
    run --separate-stderr as_nobody "$NOBODY_MBX" recv q --timeout 0
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${stderr,,}" = "mbx: recv: q: permission denied" ]
    run --separate-stderr as_nobody "$NOBODY_MBX" stat q
    [ "$status" -eq 1 ]
    [ "${stderr,,}" = "mbx: stat: q: permission denied" ]
    run --separate-stderr as_nobody "$NOBODY_MBX" rm q
    [ "$status" -eq 1 ]
    [ "${stderr,,}" = "mbx: rm: q: permission denied" ]
    run --separate-stderr mbx recv q -n 2 --timeout 0
    [ "$status" -eq 3 ]
    [ "$output" = secret ]
}

# bats test_tags=root
@test "another user may use a mailbox whose mode lets it" {
    nobody_setup
    mbx create q --mode 0666
    run --separate-stderr as_nobody "$NOBODY_MBX" send q hello
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    run mbx recv q --json
    [[ "$output" == *'"sender_uid":65534,"reply":false,"payload":"hello"}' ]]
    mbx send q back
    run as_nobody "$NOBODY_MBX" recv q
    [ "$status" -eq 0 ]
    [ "$output" = back ]
}

# bats test_tags=root
@test "ls by another user lists a mailbox it cannot read" {
    nobody_setup
    mbx create open --mode 0644
    mbx create secret --mode 0600
    run --separate-stderr as_nobody "$NOBODY_MBX" ls
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    [[ "${lines[1]}" == "open "*" 0644 root "* ]]
    [[ "${lines[2]}" == "secret "* ]]
}

@test "errors name what is wrong: directory, name, option, sizes" {
    run --separate-stderr env MBX_DIR="$BATS_TEST_TMPDIR/nonexistent" "$MBX" create a
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: create: a: directory $BATS_TEST_TMPDIR/nonexistent does not exist (\$MBX_DIR)" ]
    run --separate-stderr mbx create bad/name
    [ "$status" -eq 1 ]
    [[ "$stderr" == "mbx: create: bad/name: invalid name ("* ]]
    run --separate-stderr mbx send .hidden x
    [ "$status" -eq 1 ]
    [[ "$stderr" == "mbx: send: .hidden: invalid name ("* ]]
    run --separate-stderr mbx create q --max-size 2G
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "mbx: create: --max-size: '2G' out of range (1 .. 1G)" ]
    run --separate-stderr mbx create q --capacity 0
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"--capacity: '0' out of range"*"--rendezvous"* ]]
    run mbx stat q
    [ "$status" -eq 1 ] # nothing was created
    mbx create q --max-size 10
    run --separate-stderr mbx send q 0123456789abcd
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: send: q: message too large: 14 bytes, the mailbox takes at most 10" ]
}
