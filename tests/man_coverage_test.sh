#!/usr/bin/env bash
# Every public name of mbx.h is documented in the manual (docs/man/*.scd):
#  - each function is named in the NAME line of a section-3 page, so it has
#    a page or an alias page of its own (and, given the directory of the
#    built pages, that file exists: man3/NAME.3);
#  - each macro, enum constant and struct type appears in some page;
#  - a NAME line names only functions the header declares.
# Usage: man_coverage_test.sh include/mbx.h docs/man [build/docs/man/man]
set -euo pipefail
header=$1 scd=$2 built=${3:-}

functions=$(grep -oE '^[a-z][a-z_ ]*[ *]+mbx_[a-z0-9_]+\(' "$header" |
            grep -oE 'mbx_[a-z0-9_]+' | sort -u)
others=$( { grep -oE '^#define MBX_[A-Z0-9_]+' "$header" | awk '{print $2}' | grep -vx MBX_H
            grep -oE '^ +MBX_[A-Z0-9_]+ =' "$header" | awk '{print $1}'
            grep -oE '^typedef struct mbx_[a-z_]+' "$header" | awk '{print $3}'; } | sort -u)
[ -n "$functions" ] && [ -n "$others" ] || { echo "no public names found in $header"; exit 1; }

# The names of every section-3 page's NAME line ("a, b, c - what they do").
named=$(for f in "$scd"/*.3.scd; do
          awk 'found && NF { sub(/ - .*/, ""); gsub(/, /, "\n"); print; exit }
               /^# NAME$/ { found = 1 }' "$f"
        done | sort -u)

fail=0
for fn in $functions; do
  if ! grep -qx "$fn" <<<"$named"; then
    echo "no manual page names $fn (add it to the NAME line of a docs/man/*.3.scd)"; fail=1
  elif [ -n "$built" ] && [ ! -f "$built/man3/$fn.3" ]; then
    echo "$built/man3/$fn.3 was not made"; fail=1
  fi
done
for name in $named; do
  grep -qx "$name" <<<"$functions" || { echo "a NAME line names $name, which mbx.h does not declare"; fail=1; }
done
for name in $others; do
  grep -qw -- "$name" "$scd"/*.scd || { echo "no manual page mentions $name"; fail=1; }
done
[ "$fail" -eq 0 ] || exit 1
echo "manual: $(wc -w <<<"$functions") functions with pages, $(wc -w <<<"$others") macros, constants and types mentioned"
