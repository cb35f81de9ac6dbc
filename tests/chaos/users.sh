#!/bin/sh
# Runs chaos (in $1, with the rest as its arguments) as the users mbxtest-a
# and mbxtest-b, made here with useradd when missing. Exit 77: skipped.
chaos=$1
shift
if [ "$(id -u)" -ne 0 ]; then
    echo "chaos_users: skipped, needs root to act as several users"
    exit 77
fi
for u in mbxtest-a mbxtest-b; do
    id "$u" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$u" >/dev/null 2>&1 || {
        echo "chaos_users: skipped, cannot make user $u (useradd)"
        exit 77
    }
done
MBX_CHAOS_USERS=mbxtest-a,mbxtest-b exec "$chaos" "$@"
