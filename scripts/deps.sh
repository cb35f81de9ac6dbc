#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the benchmark need
# (libssl-dev: the HMAC and TLS of tcp:// and tls://; openssl: the TLS tests
# make their certificates with it; ZeroMQ, NNG and iceoryx only for the
# benchmark's optional rows: iceoryx is the iox-roudi daemon,
# libiceoryx-binding-c-dev its C API; libnats-dev for the NATS bridge,
# nats-server for its tests and benchmark rows; spin for the model check of
# the ring's protocol, tests/model/run.sh, which CI runs).
# As root it runs apt-get itself; otherwise it prints the command to run.
set -euo pipefail
want=(cmake make gcc pkg-config libcmocka-dev bats libzmq3-dev libnng-dev gnuplot-nox
      clang libclang-rt-14-dev valgrind libuv1-dev python3 scdoc libssl-dev openssl
      iceoryx libiceoryx-binding-c-dev
      nats-server libnats-dev spin)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "deps: missing packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
