#!/bin/sh
# mbx ls lists a queue opened through libmbx-mq as mailbox mq.NAME, one
# message queued; bytes outside [A-Za-z0-9.-] of the name show as _XX.
# Usage: ls_test.sh MQ_HOLD MBX
set -eu
hold=$1 mbx=$2
dir=$(mktemp -d /dev/shm/mbx-mq-ls.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export MBX_DIR="$dir"
out=$("$hold" /ls-demo "$mbx" ls)
echo "$out"
echo "$out" | grep -Eq '^mq\.ls-demo +1 ' || { echo "FAIL: mq.ls-demo with 1 message not listed"; exit 1; }
out=$("$hold" "/sp ace" "$mbx" ls)
echo "$out" | grep -q '^mq\.sp_20ace ' || { echo "FAIL: mq.sp_20ace not listed"; exit 1; }
# Closed and unlinked: nothing left.
[ -z "$(ls -A "$dir")" ] || { echo "FAIL: left behind: $(ls -A "$dir")"; exit 1; }
echo ok
