#!/usr/bin/env bats
# mbx serve --listen: a gateway; tcp:// names in the other commands; and a
# gateway and a client in two network namespaces joined by veth (root).

load common

# A private secret for the test, and a gateway exporting jobs* and svc
# (start_gateway [ADDR [OPTION...]]).
start_gateway() {
    export MBX_SECRET_FILE=$BATS_TEST_TMPDIR/secret
    export MBX_TCP_BYPASS=0 # through the gateway, though it is on this machine
    [ -f "$MBX_SECRET_FILE" ] || (umask 077 && echo 0123456789abcdef0123456789 > "$MBX_SECRET_FILE")
    bg "$MBX" serve --listen "${1:-127.0.0.1:0}" --allow 'jobs*' --allow svc "${@:2}" \
        > "$BATS_TEST_TMPDIR/gw.out"
    wait_until 10 grep -q listening "$BATS_TEST_TMPDIR/gw.out"
    PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/gw.out")
    [ -n "$PORT" ]
}

@test "messages go through the gateway both ways, tcp:// names in every command" {
    mbx create jobs
    start_gateway
    run mbx send "tcp://127.0.0.1:$PORT/jobs" one two -p 3
    [ "$status" -eq 0 ]
    run mbx recv jobs -n 2 -t 5s
    [ "$output" = $'one\ntwo' ]
    # The host a message came from, while the gateway runs; none for a
    # message sent here.
    mbx send "tcp://127.0.0.1:$PORT/jobs" far
    mbx send jobs near
    run mbx recv jobs -n 2 -t 5s --json
    [[ "${lines[0]}" == *'"sender_host":"127.0.0.1","reply"'* ]]
    [[ "${lines[0]}" == *'"payload":"far"}' ]]
    [[ "${lines[1]}" != *sender_host* ]]
    mbx send jobs back
    run mbx recv "tcp://127.0.0.1:$PORT/jobs" -t 5s
    [ "$status" -eq 0 ]
    [ "$output" = back ]
    run mbx stat "tcp://127.0.0.1:$PORT/jobs"
    [ "$status" -eq 0 ]
    [[ "$output" == *"capacity:          64"* ]]
}

@test "a call through the gateway reaches a local server" {
    mbx create svc
    bg "$MBX" serve svc -n 1 -- tr a-z A-Z
    start_gateway
    run mbx call "tcp://127.0.0.1:$PORT/svc" hello -t 20s
    [ "$status" -eq 0 ]
    [ "$output" = HELLO ]
}

@test "names off the allow-list and a wrong secret are refused" {
    mbx create other
    start_gateway
    run mbx send "tcp://127.0.0.1:$PORT/other" x
    [ "$status" -ne 0 ]
    [[ "$output" == *"permission denied"* ]]
    (umask 077 && echo a-different-secret-entirely > "$BATS_TEST_TMPDIR/wrong")
    MBX_SECRET_FILE=$BATS_TEST_TMPDIR/wrong run mbx send "tcp://127.0.0.1:$PORT/jobs" x
    [ "$status" -ne 0 ]
    run mbx stat other
    [[ "$output" == *"messages:          0"* ]]
}

@test "serve --listen says what is missing or wrong" {
    export MBX_SECRET_FILE=$BATS_TEST_TMPDIR/secret
    run mbx serve --listen 127.0.0.1:0
    [ "$status" -eq 2 ]
    [[ "$output" == *"--allow"* ]]
    run mbx serve --listen nowhere --allow x
    [ "$status" -ne 0 ]
    [[ "$output" == *"HOST:PORT"* ]]
    echo 0123456789abcdef0123456789 > "$MBX_SECRET_FILE"
    chmod 644 "$MBX_SECRET_FILE"
    run mbx serve --listen 127.0.0.1:0 --allow x
    [ "$status" -ne 0 ]
    [[ "$output" == *"chmod 600"* ]]
}

# The cap itself (-EUSERS while every session has a client, a lingering
# one making way) is tested in tcp_wire_test, where the order of sessions
# is in the test's hands: here, that the option is read and checked.
@test "serve --listen --max-sessions: checked, and a capped gateway serves" {
    export MBX_SECRET_FILE=$BATS_TEST_TMPDIR/secret
    run mbx serve --listen 127.0.0.1:0 --allow x --max-sessions 0
    [ "$status" -eq 2 ]
    [[ "$output" == *"--max-sessions"* ]]
    run mbx serve --listen 127.0.0.1:0 --allow x --max-sessions many
    [ "$status" -eq 2 ]
    mbx create jobs
    start_gateway 127.0.0.1:0 --max-sessions 1
    run mbx send "tcp://127.0.0.1:$PORT/jobs" one -t 20s
    [ "$status" -eq 0 ]
    run mbx recv "tcp://127.0.0.1:$PORT/jobs" -t 20s
    [ "$status" -eq 0 ]
    [ "$output" = one ]
}

# Throwaway certificates in the test's directory: a CA and the gateway's
# (127.0.0.1), a client's from the CA.
make_certs() {
    command -v openssl > /dev/null || skip "needs the openssl command"
    (
        cd "$BATS_TEST_TMPDIR" && umask 077
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2> /dev/null; }
        key ca.key
        openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=ca \
            -addext basicConstraints=critical,CA:TRUE 2> /dev/null
        for n in srv cli; do
            key $n.key
            openssl req -new -key $n.key -subj /CN=$n -out $n.csr 2> /dev/null
            echo "subjectAltName=IP:127.0.0.1" > $n.ext
            openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -set_serial $RANDOM -days 2 \
                -extfile $n.ext -out $n.pem 2> /dev/null
        done
    )
}

@test "serve --listen --tls-cert: tls:// names; client certificates with --tls-ca --no-secret" {
    make_certs
    mbx create jobs
    local t=$BATS_TEST_TMPDIR
    start_gateway 127.0.0.1:0 --tls-cert "$t/srv.pem" --tls-key "$t/srv.key"
    export MBX_TLS_CA=$t/ca.pem
    run mbx send "tls://127.0.0.1:$PORT/jobs" secure
    [ "$status" -eq 0 ]
    run mbx recv jobs -t 5s
    [ "$output" = secure ]
    run mbx send "tcp://127.0.0.1:$PORT/jobs" plain
    [ "$status" -ne 0 ]
    [[ "$output" == *"not supported"* ]]
    # Client certificates alone: no secret file on the client's side.
    bg "$MBX" serve --listen 127.0.0.1:0 --allow jobs --tls-cert "$t/srv.pem" \
        --tls-key "$t/srv.key" --tls-ca "$t/ca.pem" --no-secret > "$t/gw2.out"
    wait_until 10 grep -q listening "$t/gw2.out"
    local port2
    port2=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$t/gw2.out")
    MBX_SECRET_FILE=$t/none run mbx send "tls://127.0.0.1:$port2/jobs" x
    [ "$status" -ne 0 ]
    [[ "$output" == *"permission denied"* ]]
    MBX_SECRET_FILE=$t/none MBX_TLS_CERT=$t/cli.pem MBX_TLS_KEY=$t/cli.key \
        run mbx send "tls://127.0.0.1:$port2/jobs" by-certificate
    [ "$status" -eq 0 ]
    run mbx recv jobs -t 5s
    [ "$output" = by-certificate ]
}

@test "serve --listen refuses TLS settings that are not whole, and --no-secret alone" {
    make_certs
    local t=$BATS_TEST_TMPDIR
    export MBX_SECRET_FILE=$t/secret
    run mbx serve --listen 127.0.0.1:0 --allow x --tls-cert "$t/srv.pem"
    [ "$status" -eq 2 ]
    [[ "$output" == *"--tls-key"* ]]
    run mbx serve --listen 127.0.0.1:0 --allow x --no-secret
    [ "$status" -eq 2 ]
    [[ "$output" == *"--tls-ca"* ]]
    run mbx serve --listen 127.0.0.1:0 --allow x --tls-cert "$t/srv.pem" --tls-key "$t/srv.key" \
        --no-secret
    [ "$status" -eq 2 ]
    run mbx serve --listen 127.0.0.1:0 --allow x --tls-cert "$t/srv.pem" --tls-key "$t/cli.key"
    [ "$status" -ne 0 ]
    [[ "$output" == *"PEM"* ]]
}

# Two namespaces joined by a veth pair: the gateway listens on A's address
# only; a client in B reaches it across the pair.
@test "across network namespaces joined by veth" {
    [ "$(id -u)" -eq 0 ] || skip "needs root to make network namespaces"
    command -v ip > /dev/null || skip "needs ip (iproute2)"
    local a=mbxa$$ b=mbxb$$ net=$((($$ % 200) + 20))
    ip netns add "$a" || skip "cannot make network namespaces here"
    ip netns add "$b"
    EXTRA_NETNS="$a $b"
    ip link add "va$$" type veth peer name "vb$$"
    ip link set "va$$" netns "$a"
    ip link set "vb$$" netns "$b"
    ip -n "$a" addr add "10.231.$net.1/24" dev "va$$"
    ip -n "$b" addr add "10.231.$net.2/24" dev "vb$$"
    ip -n "$a" link set "va$$" up
    ip -n "$b" link set "vb$$" up
    ip -n "$a" link set lo up
    ip -n "$b" link set lo up
    mbx create jobs
    export MBX_SECRET_FILE=$BATS_TEST_TMPDIR/secret
    (umask 077 && echo 0123456789abcdef0123456789 > "$MBX_SECRET_FILE")
    bg ip netns exec "$a" "$MBX" serve --listen "10.231.$net.1:0" --allow jobs \
        > "$BATS_TEST_TMPDIR/gw.out"
    wait_until 10 grep -q listening "$BATS_TEST_TMPDIR/gw.out"
    PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/gw.out")
    run timeout 20 ip netns exec "$b" "$MBX" send "tcp://10.231.$net.1:$PORT/jobs" across
    [ "$status" -eq 0 ]
    run mbx recv jobs -t 5s --json
    [[ "$output" == *"\"sender_host\":\"10.231.$net.2\",\"reply\":false,\"payload\":\"across\"}"* ]]
    # Not reachable from this (the root) namespace: it listens in A only.
    run timeout 5 "$MBX" send "tcp://10.231.$net.1:$PORT/jobs" x
    [ "$status" -ne 0 ]
}

teardown() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local ns
    for ns in ${EXTRA_NETNS:-}; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$MBX_DIR" "${EXTRA_DIRS[@]}"
}
