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
out=$("$bin" work)
echo "$out"
grep -q "doing: resize a.jpg" <<<"$out"
grep -q "doing: send mail" <<<"$out"
grep -q "3 job(s) done" <<<"$out"
"$bin" work | grep -q "0 job(s) done"
