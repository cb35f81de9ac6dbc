#!/usr/bin/env bats
# mbx bridge: its help and usage errors, and two "hosts" (two mailbox
# directories) bridged through a nats-server of the test's own on a free
# loopback port (skipped when nats-server is not installed).

load common

# A free port below the kernel's ephemeral range: one bind(0) handed out
# went back to that range when closed, where another test's connection
# could take it before nats-server bound it.
free_port() {
    python3 -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randrange(10000, max(lo, 20000))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
'
}

# Skips in a build without NATS (MBX_WITH_NATS off).
need_nats_build() {
    if "$MBX" bridge --server nats://127.0.0.1:1 --export jobs 2>&1 | grep -q "without NATS"; then
        skip "mbx was built without NATS (MBX_WITH_NATS)"
    fi
}

# port_owner PID PORT: whether every TCP socket listening on PORT (IPv4 and
# IPv6, any address) is an open file of PID. Returns 0 when so, 1 when one
# is another process's, 2 when nobody listens yet. The same check as
# bench/port_owner.c: a connect to the port is no proof that nats-server
# bound it, as another user who bound it first would take the connection.
port_owner() {
    local pid=$1 hex inode st addr links ino
    local -a inodes=()
    hex=$(printf '%04X' "$2")
    # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    while read -r _ addr _ st _ _ _ _ _ inode _; do
        [ "$st" = 0A ] && [ "${addr##*:}" = "$hex" ] && inodes+=("$inode")
    done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    [ "${#inodes[@]}" -gt 0 ] || return 2
    links=$(for fd in "/proc/$pid/fd/"*; do readlink "$fd"; done 2>/dev/null)
    for ino in "${inodes[@]}"; do
        grep -qxF "socket:[$ino]" <<<"$links" || return 1
    done
}

# launch_server PORT ARGS...: nats-server on PORT, once it is the listener
# there (BG_PID names it). Fails, the server killed, when it exited or
# another process listens on PORT.
launch_server() {
    local port=$1 deadline=$((SECONDS + 20)) st
    shift
    bg nats-server -a 127.0.0.1 -p "$port" "$@"
    while running "$BG_PID" && [ "$SECONDS" -lt "$deadline" ]; do
        st=0
        port_owner "$BG_PID" "$port" || st=$?
        [ "$st" -ne 0 ] || return 0
        [ "$st" -eq 2 ] || break
        sleep 0.01
    done
    echo "nats-server did not become the listener of port $port" >&2
    kill -KILL "$BG_PID" 2>/dev/null || true
    return 1
}

# A port lost to another process between the probe and the server's bind
# costs a new port, not the test.
start_server() {
    need_nats_build
    command -v nats-server >/dev/null || skip "nats-server is not installed (apt-get install nats-server)"
    local try
    for try in 1 2 3 4 5; do
        NPORT=$(free_port)
        if launch_server "$NPORT" "$@"; then
            URL=nats://127.0.0.1:$NPORT
            return 0
        fi
    done
    return 1
}

# start_bridge DIR ARGS...: a bridge with MBX_DIR=DIR, once it said it runs.
start_bridge() {
    local dir=$1 out
    shift
    out=$(mktemp "$BATS_TEST_TMPDIR/bridge.XXXXXX")
    MBX_DIR=$dir bg "$MBX" bridge --server "$URL" "$@" > "$out"
    wait_until 20 grep -q bridging "$out"
}

@test "bridge --help describes the subjects, JetStream and the credentials" {
    run mbx bridge --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"PREFIX.pB.NAME"* ]]
    [[ "$output" == *"--jetstream"* ]]
    [[ "$output" == *"--creds FILE"* ]]
    run mbx help
    [[ "$output" == *"bridge"* ]]
}

@test "bridge usage errors exit 2" {
    run mbx bridge --export jobs
    [ "$status" -eq 2 ]
    [[ "$output" == *"--server"* ]]
    run mbx bridge --server nats://127.0.0.1:1
    [ "$status" -eq 2 ]
    run mbx bridge --server nats://127.0.0.1:1 --export jobs --nkey UABC
    [ "$status" -eq 2 ]
    run mbx bridge --server nats://127.0.0.1:1 --export jobs --replicas 9
    [ "$status" -eq 2 ]
}

@test "bridge refuses a name it cannot map, and a server that is not there" {
    need_nats_build
    run mbx bridge --server nats://127.0.0.1:1 --export /tmp/x/jobs
    [ "$status" -eq 1 ]
    [[ "$output" == *"invalid"* ]]
    port=$(free_port)
    run mbx bridge --server "nats://127.0.0.1:$port" --export jobs
    [ "$status" -eq 1 ]
    [ -n "$output" ]
    run mbx bridge --server nats://127.0.0.1:1 --export jobs --creds /nonexistent.creds
    [ "$status" -eq 1 ]
}

@test "nats-server start: refused on a port another process listens on" {
    start_server
    local first=$BG_PID st=0
    port_owner "$first" "$NPORT"
    # This shell does not listen there: someone else's port to it.
    port_owner $$ "$NPORT" || st=$?
    [ "$st" -eq 1 ]
    # A second server on the same port exits (or is killed) and is not
    # taken for started, though the port accepts connections.
    st=0
    launch_server "$NPORT" || st=$?
    [ "$st" -eq 1 ]
    ! running "$BG_PID"
    running "$first"
}

@test "two hosts: send on one, receive on the other; call across; no responders" {
    start_server
    B=$(mktemp -d "${TMPDIR:-/tmp}/mbx-cli-b.XXXXXX")
    EXTRA_DIRS+=("$B")
    start_bridge "$B" --import jobs --import svc
    start_bridge "$MBX_DIR" --export jobs --export svc --export nobody
    mbx send jobs one two three
    run env MBX_DIR="$B" "$MBX" recv jobs -n 3 -t 10s
    [ "$status" -eq 0 ]
    [ "$output" = $'one\ntwo\nthree' ]
    MBX_DIR=$B bg "$MBX" serve svc -n 1 -- tr a-z A-Z
    run mbx call svc hello -t 10s
    [ "$status" -eq 0 ]
    [ "$output" = HELLO ]
    run mbx call nobody hello -t 10s
    [ "$status" -eq 1 ]
    run mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *"bridged to NATS"* ]]
    [[ "$output" == *"jobs"*"export"*"core"*"mbx.*.jobs"* ]]
    run env MBX_DIR="$B" "$MBX" ls
    [[ "$output" == *"svc"*"import"* ]]
}

# fake_taker HOST: a NATS client of the test's own that answers every
# confirmed send to an mbx subject as a taker on HOST would (what a
# hostile importer may put in the header), once it is subscribed.
fake_taker() {
    cat > "$BATS_TEST_TMPDIR/taker.py" <<'PY'
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB mbx.> 1\r\nPING\r\n')
host = os.fsencode(sys.argv[2])
for line in f:
    w = line.split()
    if w[:1] == [b"PING"]:
        s.sendall(b"PONG\r\n")
    elif w[:1] == [b"PONG"]:
        print("subscribed", flush=True)
    elif w[:1] in ([b"MSG"], [b"HMSG"]):
        body = f.read(int(w[-1]) + 2)
        if w[0] == b"HMSG" and len(w) == 6 and b"Mbx-Confirm" in body:
            hdr = (b"NATS/1.0\r\nMbx-Taker-Pid: 42\r\nMbx-Taker-Uid: 7\r\n"
                   b"Mbx-Taker-Host: " + host + b"\r\n\r\n")
            s.sendall(b"HPUB %s %d %d\r\n%s\r\n" % (w[3], len(hdr), len(hdr), hdr))
PY
    bg python3 "$BATS_TEST_TMPDIR/taker.py" "$NPORT" "$1" > "$BATS_TEST_TMPDIR/taker.out"
    wait_until 20 grep -q subscribed "$BATS_TEST_TMPDIR/taker.out"
}

@test "send --confirm over nats:// shows the taker's host escaped" {
    start_server
    fake_taker $'evil\x1b]0;pwned\x07\x1b[2J\xc2\x9b'
    run --separate-stderr mbx send "nats://127.0.0.1:$NPORT/jobs" --confirm -t 10s hello
    [ "$status" -eq 0 ]
    [ "$output" = 'taken by pid 42 uid 7 on evil\x1b]0;pwned\x07\x1b[2J\xc2\x9b' ]
}

@test "mbx ls leaves out what a stopped or killed bridge bridged" {
    start_server
    start_bridge "$MBX_DIR" --export jobs
    pid=${BG_PIDS[-1]}
    run mbx ls
    [[ "$output" == *"bridged to NATS"* ]]
    kill -TERM "$pid"
    wait "$pid" || true
    run mbx ls
    [[ "$output" != *"bridged to NATS"* ]]
    [ -z "$(ls -A "$MBX_DIR" | grep '^\.mbx-bridge\..*\.list$' || true)" ]
    start_bridge "$MBX_DIR" --export jobs
    pid=${BG_PIDS[-1]}
    kill -KILL "$pid"
    wait "$pid" || true
    run mbx ls
    [[ "$output" != *"bridged to NATS"* ]]
}

@test "JetStream: what was sent while no bridge imported it arrives later" {
    store=$(mktemp -d "${TMPDIR:-/tmp}/mbx-cli-js.XXXXXX")
    EXTRA_DIRS+=("$store")
    start_server -js -sd "$store"
    B=$(mktemp -d "${TMPDIR:-/tmp}/mbx-cli-b.XXXXXX")
    EXTRA_DIRS+=("$B")
    start_bridge "$MBX_DIR" --jetstream --export jobs
    seq 50 | mbx send jobs
    start_bridge "$B" --jetstream --import jobs
    run env MBX_DIR="$B" "$MBX" recv jobs -n 50 -t 10s
    [ "$status" -eq 0 ]
    [ "$output" = "$(seq 50)" ]
}

# json_check PY: the output of the last run, strictly UTF-8 and JSON, as
# d in the Python expression PY, which must hold. Neither jq nor json.tool
# does here: both take stdin leniently (invalid UTF-8 replaced or kept).
json_check() {
    printf '%s' "$output" | python3 -c '
import json, sys
raw = sys.stdin.buffer.read()
d = json.loads(raw.decode("utf-8", "strict"))
ok = eval("(" + sys.argv[1] + ")")
if not ok:
    print("json_check failed on:", ascii(d), file=sys.stderr)
sys.exit(0 if ok else 1)
' "$1"
}

# plant_list PID BYTES...: a bridge's list file for PID in MBX_DIR (printf
# escapes in BYTES), as another program than a bridge may write one.
plant_list() {
    local pid=$1
    shift
    printf "$@" > "$MBX_DIR/.mbx-bridge.$pid.list"
}

@test "ls --json stays the array of mailboxes; --bridges adds what bridges bridge" {
    start_server
    mbx create jobs
    start_bridge "$MBX_DIR" --export jobs --import svc
    pid=${BG_PIDS[-1]}
    # The array scripts read today: mailboxes only, bridged names or not.
    run --separate-stderr mbx ls --json
    [ "$status" -eq 0 ]
    [ "${output:0:1}" = "[" ]
    json_check '[m["name"] for m in d] == ["jobs", "svc"] and all("type" in m for m in d)'
    run --separate-stderr mbx ls --json --bridges
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    json_check 'sorted(d) == ["bridges", "mailboxes"]
        and [m["name"] for m in d["mailboxes"]] == ["jobs", "svc"]
        and all("type" in m for m in d["mailboxes"])
        and sorted(d["bridges"], key=lambda b: b["name"]) == [
            {"name": "jobs", "how": "export", "mode": "core", "pid": '"$pid"', "subjects": "mbx.*.jobs"},
            {"name": "svc", "how": "import", "mode": "core", "pid": '"$pid"', "subjects": "mbx.*.svc"}]'
    # The text lists bridges anyway: --bridges changes nothing there.
    [ "$(mbx ls --bridges)" = "$(mbx ls)" ]
    kill -TERM "$pid"
    wait "$pid" || true
    run --separate-stderr mbx ls -j -b
    [ "$status" -eq 0 ]
    json_check 'd["bridges"] == [] and len(d["mailboxes"]) == 2'
}

@test "ls --json --bridges keeps a hostile bridge list valid JSON" {
    run --separate-stderr mbx ls --json --bridges
    [ "$status" -eq 0 ]
    [ "$output" = '{"mailboxes":[],"bridges":[]}' ]
    # Quotes, backslashes, C0 and C1 controls, a hidden character (U+202E,
    # which reverses what follows on a terminal) and bytes that are not
    # UTF-8 (ff, a cut e2, an overlong c0 af), beside lines left out: an
    # unknown word, an unknown mode.
    plant_list $$ '%b\n' \
        'export jo"b\\s\x1b]0;x\x07\xc2\x9b\xe2\x80\xae\xff\xe2 mbx.*.j"\\\x01\xc0\xaf jetstream' \
        'import fine mbx.*.fine core' \
        'bogus a mbx.*.a core' \
        'export b mbx.*.b fast'
    run --separate-stderr mbx ls --json --bridges
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    # Nothing a terminal acts on goes out raw.
    [[ "$output" != *$'\x1b'* && "$output" != *$'\x07'* && "$output" != *$'\x01'* ]]
    [[ "$output" != *$'\xc2\x9b'* && "$output" != *$'\xe2\x80\xae'* ]]
    json_check 'd["mailboxes"] == [] and sorted(d["bridges"], key=lambda b: b["how"]) == [
        {"name": "jo\"b\\s\x1b]0;x\x07\x9b\u202e\ufffd\ufffd", "how": "export",
         "mode": "jetstream", "pid": '"$$"', "subjects": "mbx.*.j\"\\\x01\ufffd\ufffd"},
        {"name": "fine", "how": "import", "mode": "core", "pid": '"$$"', "subjects": "mbx.*.fine"}]'
    # The text shows the same two rows, as before.
    run --separate-stderr mbx ls
    [[ "$output" == *'jo"b\\s\x1b]0;x\x07\xc2\x9b\u{202e}\xff\xe2 '* ]]
    [[ "$output" == *'fine'*'import'*'core'* ]]
    [[ "$output" != *bogus* && "$output" != *fast* ]]
}

@test "ls --json --bridges leaves out a list whose owner does not run its pid" {
    if [ "$(id -u)" -eq 0 ]; then
        # Planted by another user under a live pid of ours.
        plant_list $$ 'export forged mbx.*.forged core\n'
        chown 65534 "$MBX_DIR/.mbx-bridge.$$.list"
    else
        [ "$(stat -c %u /proc/1)" != "$(id -u)" ] || skip "pid 1 runs as this user"
        plant_list 1 'export forged mbx.*.forged core\n'
    fi
    bg sleep 600
    plant_list "$BG_PID" 'export real mbx.*.real core\n'
    run --separate-stderr mbx ls --json --bridges
    [ "$status" -eq 0 ]
    json_check '[b["name"] for b in d["bridges"]] == ["real"]'
}
