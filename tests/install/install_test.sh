#!/usr/bin/env bash
# Installs the build with `make install` into a staging root (DESTDIR) under
# a non-system PREFIX, then builds and runs a small program against it:
# with pkg-config (once with an rpath, once through LD_LIBRARY_PATH), and
# with CMake's find_package. The installed tree finds its prefix relative
# to itself, so it works from where DESTDIR put it.
set -euo pipefail
build=$1 src=$2 man=${3:-no-man}
root=$(cd "$src/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$root" install NOBUILD=1 BUILD="$build" PREFIX=/opt/mbx DESTDIR="$tmp/stage" >/dev/null
prefix=$tmp/stage/opt/mbx
lib=$(ls -d "$prefix"/lib*/ | head -1)
lib=${lib%/}
export PKG_CONFIG_PATH="$lib/pkgconfig"
cc "$src/consumer.c" $(pkg-config --cflags --libs mbx) -Wl,-rpath,"$lib" -o "$tmp/by-rpath"
"$tmp/by-rpath"
cc "$src/consumer.c" $(pkg-config --cflags --libs mbx) -o "$tmp/by-env"
LD_LIBRARY_PATH="$lib" "$tmp/by-env"
cmake -S "$src" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
test -x "$prefix/bin/mbx"
test -f "$prefix/share/man/man1/mbx.1"
echo "install: make install PREFIX DESTDIR; pkg-config (rpath, LD_LIBRARY_PATH) and find_package(mbx) build and run"
# The library's manual: mbx_recv is an alias of mbx_send(3), found by man.
if [ "$man" != man ]; then
  echo "install: manual pages 3 and 7 not built (no scdoc): man not tried"
  exit 77
fi
test -f "$prefix/share/man/man7/mbx.7"
if ! command -v man >/dev/null; then
  echo "install: man is not installed (apt-get install man-db): the installed pages were not read"
  exit 77
fi
page=$(MANPAGER=cat MANWIDTH=80 man -M "$prefix/share/man" 3 mbx_recv 2>&1) ||
  { echo "man -M $prefix/share/man 3 mbx_recv: $page"; exit 1; }
grep -q 'mbx_recv_from' <<<"$page" || { echo "man 3 mbx_recv showed no mbx_send(3): $page"; exit 1; }
MANPAGER=cat man -M "$prefix/share/man" 7 mbx >/dev/null
echo "install: man 3 mbx_recv and man 7 mbx find the installed pages"
