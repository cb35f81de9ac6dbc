#!/usr/bin/env bash
# Builds the Debian packages from the build (cpack, cmake/packaging.cmake),
# checks what each holds with dpkg-deb -c (what it should, nothing of the
# others'), extracts them into a scratch root with dpkg-deb -x and builds and
# runs tests/install/consumer.c against that root (pkg-config), and the
# packaged mbx command.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR VERSION CPACK man|no-man
set -euo pipefail
build=$1 src=$2 version=$3 cpack=$4 man=$5
for tool in dpkg-deb "$cpack" pkg-config cc; do
  command -v "$tool" >/dev/null || { echo "package: $tool not found: packages not built"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ctest runs after the build, so cpack packages it as it stands, quickly:
# the generator named here has no "preinstall" step (cpack would otherwise
# re-check the whole build first, 15-20 s on a busy machine), and what
# needs file(1) run on every packaged file (the libc6 dependency by
# dpkg-shlibdeps, libmbx0's shlibs file and ldconfig scripts: 10-20 s more)
# is left to `make package`.
"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" \
  -D CPACK_CMAKE_GENERATOR=Ninja -D CPACK_DEBIAN_PACKAGE_SHLIBDEPS=OFF \
  -D CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS=OFF >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; exit 1; }

arch=$(dpkg --print-architecture)
fail=0
bad() { echo "package: $*"; fail=1; }
files() { dpkg-deb -c "$tmp/out/$1_${version}_$arch.deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./||' | sort; }
for p in libmbx0 libmbx-dev mbx-tools; do
  [ -f "$tmp/out/${p}_${version}_$arch.deb" ] || { ls "$tmp/out"; bad "no ${p}_${version}_$arch.deb"; exit 1; }
  files $p >"$tmp/$p.files"
done

# has PACKAGE REGEX...: a file of PACKAGE matches each; hasnt: none does.
has()   { local p=$1; shift; for re; do grep -qE "^$re\$" "$tmp/$p.files" || bad "$p lacks $re"; done; }
hasnt() { local p=$1; shift; for re; do grep -qE "^$re\$" "$tmp/$p.files" && bad "$p holds $re: $(grep -E "^$re\$" "$tmp/$p.files" | head -3 | tr '\n' ' ')"; done; return 0; }

lib='usr/lib(/[a-z0-9_-]+)?'
has libmbx0 "$lib/libmbx\.so\.0" "$lib/libmbx\.so\.$version"
hasnt libmbx0 "$lib/libmbx\.so" "$lib/libmbx\.a" 'usr/include/.*' '.*pkgconfig.*' '.*/cmake/.*' 'usr/share/.*' 'usr/bin/.*'
[ "$(wc -l <"$tmp/libmbx0.files")" -eq 2 ] || bad "libmbx0 holds more than the library: $(tr '\n' ' ' <"$tmp/libmbx0.files")"

has libmbx-dev usr/include/mbx.h "$lib/libmbx\.a" "$lib/libmbx\.so" "$lib/pkgconfig/mbx\.pc" \
  "$lib/cmake/mbx/mbxConfig\.cmake" "$lib/cmake/mbx/mbxConfigVersion\.cmake" "$lib/cmake/mbx/mbxTargets\.cmake"
if [ "$man" = man ]; then
  has libmbx-dev usr/share/man/man3/mbx_send\.3 usr/share/man/man3/mbx_recv\.3 usr/share/man/man7/mbx\.7
fi
hasnt libmbx-dev "$lib/libmbx\.so\.0.*" 'usr/bin/.*' 'usr/share/man/man1/.*'

has mbx-tools usr/bin/mbx usr/share/man/man1/mbx\.1
hasnt mbx-tools 'usr/lib.*' 'usr/include/.*' 'usr/share/man/man[37]/.*'
[ "$(wc -l <"$tmp/mbx-tools.files")" -eq 2 ] || bad "mbx-tools holds more than mbx and mbx(1): $(tr '\n' ' ' <"$tmp/mbx-tools.files")"

# No file in two packages (they could not be installed together).
dup=$(sort "$tmp"/*.files | uniq -d)
[ -z "$dup" ] || bad "in more than one package: $dup"

deps=$(dpkg-deb -f "$tmp/out/libmbx-dev_${version}_$arch.deb" Depends)
grep -qF "libmbx0 (= $version)" <<<"$deps" || bad "libmbx-dev depends on '$deps', not libmbx0 (= $version)"
[ "$fail" -eq 0 ] || exit 1

# Unpacked into a root of its own, the packages build and run a program.
root=$tmp/root
for p in libmbx0 libmbx-dev mbx-tools; do dpkg-deb -x "$tmp/out/${p}_${version}_$arch.deb" "$root"; done
pc=$(dirname "$(ls "$root"/usr/lib/pkgconfig/mbx.pc "$root"/usr/lib/*/pkgconfig/mbx.pc 2>/dev/null | head -1)")
export PKG_CONFIG_PATH=$pc
libdir=$(pkg-config --variable=libdir mbx)
cc "$src/tests/install/consumer.c" $(pkg-config --cflags --libs mbx) -Wl,-rpath,"$libdir" -o "$tmp/consumer"
"$tmp/consumer" >/dev/null
loaded=$(ldd "$tmp/consumer")
grep -qF "$root/" <<<"$loaded" || { echo "$loaded"; bad "the program did not load the packaged libmbx"; exit 1; }
out=$("$root/usr/bin/mbx" --version)
[ "$out" = "mbx $version" ] || { bad "packaged mbx --version says '$out'"; exit 1; }
echo "package: libmbx0, libmbx-dev and mbx-tools $version hold what they should; a program builds and runs against them unpacked"
