# Loaded by every tests/cli/*.bats file. ctest passes the binary under test
# in $MBX; each test gets a private, empty MBX_DIR that teardown removes,
# and background processes started with `bg` are stopped in teardown.

bats_require_minimum_version 1.5.0

setup() {
    MBX=${MBX:-$BATS_TEST_DIRNAME/../../build/tools/mbx}
    [ -x "$MBX" ] || {
        echo "mbx binary not found: $MBX (set MBX)" >&2
        return 1
    }
    MBX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mbx-cli.XXXXXX")
    export MBX MBX_DIR
    BG_PIDS=()
    EXTRA_DIRS=()
}

teardown() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$MBX_DIR" "${EXTRA_DIRS[@]}"
}

# A call that would wait forever (a receive that never gets its message)
# fails the test after 60 s instead of hanging the suite, and says so. (20
# s was not enough for an ASan build on a 2-CPU machine running two
# sanitizer suites at once: cli_help failed there once, on a --help.)
mbx() {
    local st=0
    timeout 60 "$MBX" "$@" || st=$?
    [ "$st" -ne 124 ] || echo "mbx $*: no end within 60 s" >&2
    return "$st"
}

# bg CMD...: runs CMD in the background (BG_PID names it) and stops it in
# teardown. Closing fd 3 keeps bats from waiting for it.
bg() {
    "$@" 3>&- &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# running PID: whether PID runs (an exited child not yet waited for does
# not).
running() {
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

# wait_exit PID: waits for PID and sets EXIT to its exit status.
wait_exit() {
    EXIT=0
    wait "$1" || EXIT=$?
}

# wait_until SECONDS CMD...: polls CMD every 10 ms until it succeeds; fails
# after SECONDS.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.01
    done
}

lines_in() {
    [ -f "$2" ] && [ "$(wc -l < "$2")" -ge "$1" ]
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# as_user USER ARGS...: runs mbx ARGS as USER (made with useradd when
# missing; 99 when it cannot be), in the same MBX_DIR. Root only.
as_user() {
    local user=$1
    shift
    id "$user" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$user" >/dev/null 2>&1 ||
        return 99
    setpriv --reuid="$user" --regid="$user" --clear-groups env MBX_DIR="$MBX_DIR" timeout 20 "$MBX" "$@"
}
