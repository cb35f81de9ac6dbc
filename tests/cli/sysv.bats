#!/usr/bin/env bats
# mbx ls lists the System V queues of libmbx-sysv, made here by an
# unmodified ipcmk (util-linux) under LD_PRELOAD, like `ipcs -q`.

load common

@test "ls lists libmbx-sysv queues with key, id, perms and messages" {
    [ -n "${MBX_SYSV_PRELOAD:-}" ] || skip "MBX_SYSV_PRELOAD not set (ctest sets it)"
    command -v ipcmk >/dev/null || skip "ipcmk (util-linux) is not installed"
    run env LD_PRELOAD="$MBX_SYSV_PRELOAD" ipcmk -Q -p 0640
    [ "$status" -eq 0 ]
    id=${output##*: }
    [[ "$id" =~ ^[0-9]+$ ]]
    # The key is the name of the link that names the id.
    link=$(cd "$MBX_DIR" && for f in sysv-key.*; do [ "$(readlink "$f")" = "$id" ] && echo "$f"; done)
    key=0x${link#sysv-key.}
    [ "$key" != 0x ]
    run mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" == *"System V queues (libmbx-sysv):"* ]]
    row=$(echo "$output" | awk -v id="$id" '$2 == id')
    [ "$(echo "$row" | awk '{print $1, $4, $5, $6}')" = "$key 640 0 0" ]
}

@test "ls shows no System V section without queues" {
    run mbx ls
    [ "$status" -eq 0 ]
    [[ "$output" != *"System V"* ]]
}
