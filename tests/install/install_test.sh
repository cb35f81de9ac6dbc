#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a small
# program against it twice: with pkg-config, and with CMake's find_package.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(ls -d "$tmp"/prefix/lib*/ | head -1)
export PKG_CONFIG_PATH="$lib/pkgconfig"
cc "$src/consumer.c" $(pkg-config --cflags --libs mbx) -Wl,-rpath,"$lib" -o "$tmp/by-pkgconfig"
"$tmp/by-pkgconfig"
cmake -S "$src" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
test -x "$tmp/prefix/bin/mbx"
test -f "$tmp/prefix/share/man/man1/mbx.1"
echo "install: pkg-config and find_package(mbx) both build and run"
