#!/bin/sh
# The libraries define no global name outside mbx_*: a program that links
# libmbx.a or libmbx.so meets none of the library's internal names.
#   symbols_test.sh LIBMBX_A LIBMBX_SO
set -eu
status=0
check() {
    bad=$(echo "$2" | grep -v '^mbx_' || true)
    if [ -n "$bad" ]; then
        echo "symbols_test: $1 defines global names outside mbx_*:"
        echo "$bad" | sed 's/^/  /'
        status=1
    else
        echo "symbols_test: $1: $(echo "$2" | wc -l) names, all mbx_*"
    fi
}
check "$1" "$(nm -g --defined-only "$1" | awk 'NF == 3 { print $3 }' | sort -u)"
check "$2" "$(nm -D --defined-only "$2" | awk 'NF == 3 { print $3 }' | sort -u)"
exit $status
