#!/usr/bin/env bash
# The durable job queue example: jobs added and synced by one process are
# done by another, later one, from a mailbox file in a disk directory.
set -euo pipefail
bin=$1
dir=$(mktemp -d /tmp/mbx-durable-XXXXXX)
trap 'rm -rf "$dir"' EXIT
export MBX_DIR=$dir
"$bin" add "resize a.jpg" "resize b.jpg" >/dev/null
"$bin" add "send mail" >/dev/null
# Done by a later process, each once, in the order they were queued.
out=$("$bin" work)
echo "$out"
want=$'doing: resize a.jpg\ndoing: resize b.jpg\ndoing: send mail\n3 job(s) done'
[ "$out" = "$want" ] || { echo "expected:"; echo "$want"; exit 1; }
"$bin" work | grep -qx "0 job(s) done"
