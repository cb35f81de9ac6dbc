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

@test "recv --escape escapes a stream's bytes and keeps its newlines" {
    mbx create s --stream
    printf 'a\x1b[2Jb\n\xc2\x9bc\tz \xff \xc3\xa9\n' | mbx send s
    run mbx recv s --escape
    [ "$status" -eq 0 ]
    [ "$output" = 'a\x1b[2Jb'$'\n''\xc2\x9bc\tz \xff '$'\xc3\xa9' ]
    printf 'c\x1bd' | mbx send s
    mbx recv s --raw | od -An -c | tr -d ' \n' | grep -qx 'c033d'
}

@test "recv --escape keeps a character that two pieces of a stream cut" {
    mbx create s --stream
    mkfifo "$BATS_TEST_TMPDIR/in"
    bg bash -c 'exec "$MBX" recv s --escape > "$1"' _ "$BATS_TEST_TMPDIR/out"
    recv_pid=$BG_PID
    bg bash -c 'exec "$MBX" send s < "$1"' _ "$BATS_TEST_TMPDIR/in"
    send_pid=$BG_PID
    exec 4> "$BATS_TEST_TMPDIR/in"
    printf 'x\xc3' >&4
    # The receiver got the first piece: it wrote what it could before
    # waiting for more (the cut character stays held back).
    wait_until 30 grep -q x "$BATS_TEST_TMPDIR/out"
    printf '\xa9y\xe2' >&4
    exec 4>&-
    wait_exit "$send_pid"
    [ "$EXIT" -eq 0 ]
    wait_exit "$recv_pid"
    [ "$EXIT" -eq 0 ]
    # The cut é whole; an e2 the stream ended in escaped.
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = 'x'$'\xc3\xa9''y\xe2' ]
}

@test "recv escapes a stream by default on a terminal" {
    command -v script >/dev/null || skip "script(1) is not installed"
    mbx create s --stream
    printf 'a\x1b[2Jb' | mbx send s
    run script -qec "$MBX recv s" /dev/null
    [[ "$output" == *'a\x1b[2Jb'* ]]
}

# plant_list PID BYTES...: a bridge's list file for PID in MBX_DIR.
plant_list() {
    local pid=$1
    shift
    printf "$@" > "$MBX_DIR/.mbx-bridge.$pid.list"
}

@test "ls shows what a bridge list names escaped" {
    plant_list $$ 'export jo\x1b]0;pwned\x07bs mbx.*.j\x1b[2J\xc2\x9b core\n'
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *'jo\x1b]0;pwned\x07bs     export  core       '"$$"'    '*'mbx.*.j\x1b[2J\xc2\x9b'* ]]
    [[ "$output" != *$'\x1b'* ]]
    [[ "$output" != *$'\x9b'* ]]
}

@test "ls neither hangs nor spins on a bridge list that is a FIFO or a link to /dev/zero" {
    mkfifo "$MBX_DIR/.mbx-bridge.$$.list"
    bg sleep 600
    ln -s /dev/zero "$MBX_DIR/.mbx-bridge.$BG_PID.list"
    # A FIFO its planter holds open, with a line waiting in it.
    bg bash -c 'f=$1/.mbx-bridge.$$.list; mkfifo "$f"; exec 5<>"$f"
        printf "export fifo mbx.*.fifo core\n" >&5; touch "$2"; exec sleep 600' _ "$MBX_DIR" "$BATS_TEST_TMPDIR/held"
    wait_until 30 test -e "$BATS_TEST_TMPDIR/held"
    # Without the fix each of them waits forever; 30 s is plenty for one ls.
    run --separate-stderr timeout 30 "$MBX" ls
    [ "$status" -eq 0 ]
    [[ "$output" != *bridged* ]]
}

@test "ls reads at most 64 KiB of a bridge list, NUL bytes included" {
    {
        printf 'export first mbx.*.first core\n'
        head -c 70000 /dev/zero
        printf '\nexport past mbx.*.past core\n'
    } > "$MBX_DIR/.mbx-bridge.$$.list"
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *'mbx.*.first'* ]]
    [[ "$output" != *past* ]]
}

@test "ls leaves out a bridge list of another process under its pid (a killed bridge's, the pid reused)" {
    bg sleep 600
    started=$(awk '{print $22}' "/proc/$BG_PID/stat")
    # Written by a process that started at another time under that pid.
    plant_list "$BG_PID" "# started $((started + 1))\nexport stale mbx.*.stale core\n"
    plant_list $$ "# started $(awk '{print $22}' /proc/$$/stat)\nexport fresh mbx.*.fresh core\n"
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *'mbx.*.fresh'* ]]
    [[ "$output" != *stale* ]]
}

@test "ls leaves out a bridge list whose owner does not run the pid it names" {
    bg sleep 600
    sleeper=$BG_PID
    plant_list "$sleeper" 'export real mbx.*.real core\n'
    if [ "$(id -u)" -eq 0 ]; then
        # Planted by another user under a live pid of ours.
        plant_list $$ 'export forged mbx.*.forged core\n'
        chown 65534 "$MBX_DIR/.mbx-bridge.$$.list"
    else
        [ "$(stat -c %u /proc/1)" != "$(id -u)" ] || skip "pid 1 runs as this user"
        # Ours, under pid 1, which always runs.
        plant_list 1 'export forged mbx.*.forged core\n'
    fi
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *'mbx.*.real'* ]]
    [[ "$output" != *forged* ]]
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

@test "recv --escape shows bidirectional controls and invisible characters as \\u{...}" {
    mbx create q
    # A right-to-left override, a zero-width space, an isolate, a BOM, a
    # tag character (four bytes); around them characters that stay.
    printf 'txt\xe2\x80\xaeexe.sh a\xe2\x80\x8bb \xe2\x81\xa6i\xe2\x81\xa9 \xef\xbb\xbf \xf3\xa0\x80\x81 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80' | mbx send q --raw
    run mbx recv q --escape
    [ "$status" -eq 0 ]
    [ "$output" = 'txt\u{202e}exe.sh a\u{200b}b \u{2066}i\u{2069} \u{feff} \u{e0001} é€😀' ]
}

@test "ls shows a right-to-left override in a bridge list escaped" {
    plant_list $$ 'export jobs mbx.*.\xe2\x80\xaegpj.exe core\n'
    run --separate-stderr mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *'mbx.*.\u{202e}gpj.exe'* ]]
    [[ "$output" != *$'\xe2\x80\xae'* ]]
}

@test "bridge shows a server URL without its password or token" {
    mbx create q
    run --separate-stderr mbx bridge --server 'nats://alice:s3cret@127.0.0.1:1,nats://t0ken@127.0.0.1:2' --export q
    [ "$status" -ne 0 ]
    [[ "$stderr" == *'nats://***@127.0.0.1:1,nats://***@127.0.0.1:2'* ]]
    [[ "$stderr" != *s3cret* ]]
    [[ "$stderr" != *t0ken* ]]
    # A password with '/' and '@' in it (the client takes the last '@').
    run --separate-stderr mbx bridge --server 'nats://bob:pa/ss@wd@127.0.0.1:1' --export q
    [ "$status" -ne 0 ]
    [[ "$stderr" == *'nats://***@127.0.0.1:1'* ]]
    [[ "$stderr" != *pa/ss* ]]
    [[ "$stderr" != *wd@* ]]
}

@test "an invalid name in an error message is shown escaped" {
    run --separate-stderr mbx create $'a\x1b[2Jb\xe2\x80\xaec'
    [ "$status" -ne 0 ]
    [[ "$stderr" == *'a\x1b[2Jb\u{202e}c: invalid name'* ]]
    [[ "$stderr" != *$'\x1b'* ]]
}
