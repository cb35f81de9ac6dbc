#!/usr/bin/env bats
# mbx stat --prometheus and mbx top: watching mailboxes from outside.

load common

@test "stat --prometheus prints every mailbox's counts in the Prometheus text format" {
    mbx create jobs
    mbx create idle --capacity 7
    mbx send jobs a bb ccc
    mbx recv jobs > /dev/null
    run --separate-stderr mbx stat --prometheus
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    grep -qx '# TYPE mbx_messages gauge' <<<"$output"
    grep -qx 'mbx_messages{mailbox="jobs"} 2' <<<"$output"
    grep -qx 'mbx_messages{mailbox="idle"} 0' <<<"$output"
    grep -qx 'mbx_bytes{mailbox="jobs"} 5' <<<"$output"
    grep -qx 'mbx_capacity{mailbox="idle"} 7' <<<"$output"
    grep -qx '# TYPE mbx_sent_total counter' <<<"$output"
    grep -qx 'mbx_sent_total{mailbox="jobs"} 3' <<<"$output"
    grep -qx 'mbx_received_total{mailbox="jobs"} 1' <<<"$output"
    # Every sample line belongs to the family its TYPE line named last.
    awk '/^# TYPE /{fam=$3; next} /^#/{next} {split($1, a, "{"); if (a[1] != fam) exit 1}' <<<"$output"
}

@test "stat --prometheus NAME... reports those, and a missing one fails" {
    mbx create jobs
    run --separate-stderr mbx stat --prometheus jobs nope
    [ "$status" -eq 1 ]
    [ "$stderr" = "mbx: stat: nope: no such mailbox" ]
    grep -qx 'mbx_messages{mailbox="jobs"} 0' <<<"$output"
    ! grep -q nope <<<"$output"
    run --separate-stderr mbx stat --prometheus --json jobs
    [ "$status" -eq 2 ]
}

@test "top shows depth and rates frame by frame, and stops after --count" {
    mbx create jobs
    mbx send jobs one two
    run mbx top -i 200ms -n 2 jobs
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "mbx top: "*"every 0.2s" ]]
    [[ "${lines[1]}" == NAME*MSGS*BYTES*IN/S*OUT/S*SEND-WAIT*RECV-WAIT*REPAIRS ]]
    read -r name msgs bytes in out sw rw rep <<<"${lines[2]}"
    [ "$name" = jobs ] && [ "$msgs" = 2 ] && [ "$bytes" = 6 ] && [ "$in" = - ]
}

@test "top turns counts into rates per second" {
    mbx create jobs
    "$MBX" top -i 3s -n 2 jobs > "$BATS_TEST_TMPDIR/frames" &
    top_pid=$!
    BG_PIDS+=("$top_pid")
    # The first frame is out (its totals taken) before anything is sent.
    wait_until 30 grep -q '^jobs ' "$BATS_TEST_TMPDIR/frames"
    for i in $(seq 50); do echo "m$i"; done | mbx send jobs
    mbx recv jobs -n 20 > /dev/null
    wait "$top_pid"
    [ "$(grep -c '^jobs ' "$BATS_TEST_TMPDIR/frames")" -eq 2 ]
    second=$(grep '^jobs ' "$BATS_TEST_TMPDIR/frames" | tail -n 1)
    read -r name msgs bytes in out sw rw rep <<<"$second"
    [ "$msgs" = 30 ]
    # 50 in and 20 out over one interval of about 3 s, long enough for
    # the sends and the receive to fit in it on a busy machine running a
    # sanitizer build (1 s was not); a busy machine may stretch the
    # interval to 6 s, and the frames' own timing moves it a little.
    [ "$in" -ge 8 ] && [ "$in" -le 18 ]
    [ "$out" -ge 3 ] && [ "$out" -le 8 ]
}

@test "top stops on SIGTERM with status 0" {
    mbx create jobs
    "$MBX" top -i 100ms jobs > "$BATS_TEST_TMPDIR/frames" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
    # Its handlers are in place before its first frame is out.
    wait_until 30 grep -q '^jobs ' "$BATS_TEST_TMPDIR/frames"
    kill -TERM "$BG_PID"
    wait_exit "$BG_PID"
    [ "$EXIT" -eq 0 ]
}
