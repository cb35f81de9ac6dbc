#!/usr/bin/env bats
# mbx serve --listen-udp: a UDP gateway; udp:// names in mbx send; what
# was dropped in mbx stat; and senders in another network namespace joined
# by veth (root).
#
# Loopback and a veth pair drop a datagram only when the receiving socket's
# buffer is full; these tests send a handful, so they assert exact counts.

load common

# A private secret, and a UDP gateway exporting jobs* ($1: where).
start_gateway() {
    export MBX_SECRET_FILE=$BATS_TEST_TMPDIR/secret
    [ -f "$MBX_SECRET_FILE" ] || (umask 077 && echo 0123456789abcdef0123456789 > "$MBX_SECRET_FILE")
    bg "${NETNS_A[@]}" "$MBX" serve --listen-udp "${1:-127.0.0.1:0}" --allow 'jobs*' \
        > "$BATS_TEST_TMPDIR/gw.out"
    GW=$BG_PID
    wait_until 10 grep -q listening "$BATS_TEST_TMPDIR/gw.out"
    PORT=$(sed -n 's/^listening on udp .*:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/gw.out")
    [ -n "$PORT" ]
}

# counts_lines_over N: the gateway has printed more than N lines of counts.
counts_lines_over() {
    [ "$(grep -c '^udp:' "$BATS_TEST_TMPDIR/gw.out")" -gt "$1" ]
}

# gateway_counts: the gateway's line of counts, asked for with SIGUSR1.
# (The count is read again at every poll: given to wait_until as
# "$(grep ...)", it was read once, and a line the gateway printed a moment
# after the signal was never seen.)
gateway_counts() {
    local before
    before=$(grep -c '^udp:' "$BATS_TEST_TMPDIR/gw.out" || true)
    kill -USR1 "$GW"
    wait_until 10 counts_lines_over "$before"
    COUNTS=$(grep '^udp:' "$BATS_TEST_TMPDIR/gw.out" | tail -1)
}

# wait_received N: until the gateway has read N datagrams.
wait_received() {
    local i
    for i in $(seq 200); do
        gateway_counts
        [[ "$COUNTS" == "udp: received $1,"* ]] && return 0
        sleep 0.05
    done
    echo "gateway: $COUNTS, expected received $1" >&2
    return 1
}

@test "datagrams reach the mailbox; a full one drops and counts, nothing waits" {
    mbx create jobs --capacity 2
    start_gateway
    export MBX_UDP_BYPASS=0
    run timeout 10 "$MBX" send "udp://127.0.0.1:$PORT/jobs" one two three -p 3
    [ "$status" -eq 0 ]
    wait_received 3
    [[ "$COUNTS" == *"delivered 2, probes 0, dropped: full 1, bad 0, missing 0"* ]]
    run mbx recv jobs -n 2 -t 5s
    [ "$output" = $'one\ntwo' ]
    run mbx stat jobs
    [[ "$output" == *"udp-dropped-full:  1"* ]]
    [[ "$output" == *"udp-dropped-bad:   0"* ]]
    run mbx stat jobs --json
    [[ "$output" == *'"udp_dropped_full":1,"udp_dropped_bad":0}'* ]]
}

@test "names off the list, a wrong secret and oversize messages are refused" {
    mbx create jobs
    mbx create other
    start_gateway
    export MBX_UDP_BYPASS=0
    run mbx send "udp://127.0.0.1:$PORT/other" x
    [ "$status" -eq 0 ] # a datagram went; the gateway drops it
    (umask 077 && echo a-different-secret-entirely > "$BATS_TEST_TMPDIR/wrong")
    MBX_SECRET_FILE=$BATS_TEST_TMPDIR/wrong run mbx send "udp://127.0.0.1:$PORT/jobs" x
    [ "$status" -eq 0 ]
    run mbx send "udp://127.0.0.1:$PORT/jobs-none" x
    [ "$status" -eq 0 ]
    # The largest payload for "jobs" is 65427 - 4 bytes: one more is refused
    # before anything is sent.
    head -c 65424 /dev/zero > "$BATS_TEST_TMPDIR/big"
    run mbx send "udp://127.0.0.1:$PORT/jobs" --raw < "$BATS_TEST_TMPDIR/big"
    [ "$status" -ne 0 ]
    [[ "$output" == *"too long"* || "$output" == *"too large"* ]]
    head -c 65423 /dev/zero > "$BATS_TEST_TMPDIR/big"
    run mbx send "udp://127.0.0.1:$PORT/jobs" --raw < "$BATS_TEST_TMPDIR/big"
    [ "$status" -eq 0 ] # sent; larger than jobs takes (8 KiB): dropped there
    wait_received 4
    # The wrong secret's datagram came before the gateway held jobs open: a
    # forged datagram opens nothing, so only the gateway counted it. Now
    # that it holds jobs (the oversize one was authentic), one counts there.
    MBX_SECRET_FILE=$BATS_TEST_TMPDIR/wrong run mbx send "udp://127.0.0.1:$PORT/jobs" x
    [ "$status" -eq 0 ]
    wait_received 5
    [[ "$COUNTS" == *"delivered 0, probes 0, dropped: full 0, bad 4, missing 1"* ]]
    run mbx stat jobs
    [[ "$output" == *"messages:          0"* ]]
    [[ "$output" == *"udp-dropped-bad:   2"* ]]
    run mbx stat other
    [[ "$output" == *"udp-dropped-bad:   0"* ]]
    # What a udp:// name does not do.
    run mbx recv "udp://127.0.0.1:$PORT/jobs" -t 1s
    [ "$status" -ne 0 ]
    [[ "$output" == *"not supported"* ]]
}

@test "a sender on the gateway's machine skips it unless MBX_UDP_BYPASS=0" {
    mbx create jobs
    start_gateway
    unset MBX_UDP_BYPASS MBX_TCP_BYPASS
    run mbx send "udp://127.0.0.1:$PORT/jobs" direct
    [ "$status" -eq 0 ]
    run mbx recv jobs -t 5s
    [ "$output" = direct ]
    gateway_counts
    [[ "$COUNTS" == "udp: received 1, delivered 0, probes 1,"* ]]
    MBX_UDP_BYPASS=0 run mbx send "udp://127.0.0.1:$PORT/jobs" around
    [ "$status" -eq 0 ]
    run mbx recv jobs -t 5s
    [ "$output" = around ]
    gateway_counts
    [[ "$COUNTS" == "udp: received 2, delivered 1, probes 1,"* ]]
}

@test "serve --listen-udp says what is missing or wrong" {
    export MBX_SECRET_FILE=$BATS_TEST_TMPDIR/secret
    run mbx serve --listen-udp 127.0.0.1:0
    [ "$status" -eq 2 ]
    [[ "$output" == *"--allow"* ]]
    run mbx serve --listen-udp nowhere --allow x
    [ "$status" -ne 0 ]
    [[ "$output" == *"HOST:PORT"* ]]
    echo 0123456789abcdef0123456789 > "$MBX_SECRET_FILE"
    chmod 644 "$MBX_SECRET_FILE"
    run mbx serve --listen-udp 127.0.0.1:0 --allow x
    [ "$status" -ne 0 ]
    [[ "$output" == *"chmod 600"* ]]
    run mbx help serve
    [[ "$output" == *"--listen-udp"* ]]
}

# Two namespaces joined by a veth pair: the gateway is bound to A's address
# only; senders in B reach it across the pair, through the network path
# (B's own addresses are not the gateway's).
make_namespaces() {
    [ "$(id -u)" -eq 0 ] || skip "needs root to make network namespaces"
    command -v ip > /dev/null || skip "needs ip (iproute2)"
    A=mbxua$$ B=mbxub$$ NET=$((($$ % 200) + 20))
    ip netns add "$A" || skip "cannot make network namespaces here"
    ip netns add "$B"
    EXTRA_NETNS="$A $B"
    ip link add "ua$$" type veth peer name "ub$$"
    ip link set "ua$$" netns "$A"
    ip link set "ub$$" netns "$B"
    ip -n "$A" addr add "10.232.$NET.1/24" dev "ua$$"
    ip -n "$B" addr add "10.232.$NET.2/24" dev "ub$$"
    ip -n "$A" link set "ua$$" up
    ip -n "$B" link set "ub$$" up
    ip -n "$A" link set lo up
    ip -n "$B" link set lo up
    NETNS_A=(ip netns exec "$A")
}

@test "across network namespaces joined by veth" {
    make_namespaces
    mbx create jobs --capacity 3
    start_gateway "10.232.$NET.1:0"
    run timeout 60 ip netns exec "$B" "$MBX" send "udp://10.232.$NET.1:$PORT/jobs" a b c d e
    [ "$status" -eq 0 ]
    wait_received 5
    [[ "$COUNTS" == *"delivered 3, probes 0, dropped: full 2, bad 0, missing 0"* ]]
    run mbx recv jobs -n 3 -t 5s
    [ "$output" = $'a\nb\nc' ]
    run mbx stat jobs
    [[ "$output" == *"udp-dropped-full:  2"* ]]
    # From this (the root) namespace there is no route to A: the send
    # succeeds (the kernel took the datagram, or had nowhere to put it) and
    # nothing arrives.
    run timeout 10 "$MBX" send "udp://10.232.$NET.1:$PORT/jobs" lost
    # A's end of the pair down: B's datagrams are lost on the way, and B's
    # sends still succeed: nothing tells a sender.
    ip -n "$A" link set "ua$$" down
    run timeout 10 ip netns exec "$B" "$MBX" send "udp://10.232.$NET.1:$PORT/jobs" lost too
    [ "$status" -eq 0 ]
    sleep 0.5
    gateway_counts
    [[ "$COUNTS" == "udp: received 5,"* ]]
    run mbx stat jobs
    [[ "$output" == *"messages:          0"* ]]
}

teardown() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2> /dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2> /dev/null || true
    done
    local ns
    for ns in ${EXTRA_NETNS:-}; do
        ip netns del "$ns" 2> /dev/null || true
    done
    rm -rf "$MBX_DIR" "${EXTRA_DIRS[@]}"
}
