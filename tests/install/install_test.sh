#!/usr/bin/env bash
# Installs the build with `make install` into a staging root (DESTDIR) under
# a non-system PREFIX, then builds and runs a small program against it:
# with pkg-config (once with an rpath, once through LD_LIBRARY_PATH), and
# with CMake's find_package. The installed tree finds its prefix relative
# to itself, so it works from where DESTDIR put it.
set -euo pipefail
build=$1 src=$2
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
