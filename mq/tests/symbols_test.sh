#!/bin/sh
# The preload must win for a program built against glibc 2.34+, which asks
# for mq_open@GLIBC_2.34: the shim exports every mq_* at that version (and
# at librt's GLIBC_2.3.4), the descriptor calls it interposes, and nothing
# of mbx's internals.
# Usage: symbols_test.sh LIBMBX_MQ_SO PLAIN_PROGRAM
set -eu
lib=$1 prog=$2
fail() { echo "FAIL: $*"; exit 1; }
defs=$(nm -D --defined-only "$lib")
for f in mq_open mq_close mq_unlink mq_send mq_receive mq_timedsend mq_timedreceive \
         mq_getattr mq_setattr mq_notify; do
  echo "$defs" | grep -q " T $f@@GLIBC_2.34\$" || fail "$f@@GLIBC_2.34 not exported"
  echo "$defs" | grep -q " T $f@GLIBC_2.3.4\$" || fail "$f@GLIBC_2.3.4 not exported"
done
# What a fortified two-argument mq_open calls (glibc's versions).
echo "$defs" | grep -q " T __mq_open_2@@GLIBC_2.34\$" || fail "__mq_open_2@@GLIBC_2.34 not exported"
echo "$defs" | grep -q " T __mq_open_2@GLIBC_2.7\$" || fail "__mq_open_2@GLIBC_2.7 not exported"
# On x86_64 the descriptor calls it interposes (mq/interpose.c) and the
# handler installers it fronts (mq/signals.c), each at
# glibc's version, so the preload is chosen for them too.
if [ "$(uname -m)" = x86_64 ]; then
  for fv in poll@@GLIBC_2.2.5 ppoll@@GLIBC_2.4 __poll_chk@@GLIBC_2.16 __ppoll_chk@@GLIBC_2.16 \
            select@@GLIBC_2.2.5 pselect@@GLIBC_2.2.5 epoll_ctl@@GLIBC_2.3.2 close@@GLIBC_2.2.5 \
            dup@@GLIBC_2.2.5 dup2@@GLIBC_2.2.5 dup3@@GLIBC_2.9 close_range@@GLIBC_2.34 \
            closefrom@@GLIBC_2.34 sigaction@@GLIBC_2.2.5 __sigaction@@GLIBC_2.2.5 \
            signal@@GLIBC_2.2.5 bsd_signal@@GLIBC_2.2.5 ssignal@@GLIBC_2.2.5 \
            sysv_signal@@GLIBC_2.2.5 __sysv_signal@@GLIBC_2.2.5 sigset@@GLIBC_2.2.5 \
            siginterrupt@@GLIBC_2.2.5 fcntl@@GLIBC_2.2.5 fcntl64@@GLIBC_2.28; do
    echo "$defs" | grep -q " T $fv\$" || fail "$fv not exported"
  done
fi
interposed=' (poll|ppoll|__poll_chk|__ppoll_chk|select|pselect|epoll_ctl|close|dup|dup2|dup3|close_range|closefrom|_?_?sigaction|signal|bsd_signal|ssignal|_?_?sysv_signal|sigset|siginterrupt|_?_?fcntl|fcntl64)@@GLIBC_'
other=$(echo "$defs" | grep ' T ' | grep -v ' mq_' | grep -v ' __mq_open_2@' | grep -v ' mbx_mq_shim@@MBX_MQ_0$' |
  grep -Ev "$interposed" || true)
[ -z "$other" ] || fail "exports more than mq_* and the interposers: $other"
# Against the C library the program runs with: each interposer is at a
# version that library gives its name (a wrong one is never chosen), and
# every fcntl entry it exports is interposed (__fcntl was not).
libc=$(ldd "$prog" | awk '$1 ~ /^libc\.so/ {print $3}')
if [ "$(uname -m)" = x86_64 ] && [ -n "$libc" ]; then
  cdefs=$(nm -D --defined-only "$libc")
  for fv in $(echo "$defs" | grep ' T ' | grep -E "$interposed" | awk '{print $3}'); do
    n=${fv%%@*} v=${fv##*@}
    echo "$cdefs" | grep -Eq " $n@@?$v\$" || fail "$fv: $libc has no $n@$v"
  done
  for n in $(echo "$cdefs" | awk '{print $3}' | grep -E '^_*fcntl(64)?@' | sed 's/@.*//' | sort -u); do
    echo "$defs" | grep -q " T $n@" || fail "$libc's $n is not interposed"
  done
fi
# The unmodified test program binds to glibc's versioned names.
nm -D "$prog" | grep -q ' U mq_open@GLIBC_2.34$' ||
  echo "note: $prog does not ask for mq_open@GLIBC_2.34 (glibc older than 2.34?)"
# And under LD_PRELOAD the shim answers it.
out=$(LD_PRELOAD=$lib "$prog" -h 2>&1 || true)
echo "$out" | grep -q 'libmbx-mq queues' || fail "preloaded program does not use the shim: $out"
echo ok
