#!/usr/bin/env python3
"""A mailbox in a Python asyncio loop.

mbx_fd (called through ctypes on libmbx.so) gives a descriptor that is
readable while a message waits; loop.add_reader watches it. The `mbx send`
command, started as a child process, sends N numbered messages (more than
the mailbox holds, so it waits for room); the reader takes every queued one
with mbx_recv(..., MBX_NONBLOCK) until -EAGAIN and checks text, order and
sender. Exits 0 when all N came from that child in order, 1 otherwise.

usage: asyncio_reader.py LIBMBX_SO MBX_COMMAND   (MBX_DIR picks the directory)
"""
import asyncio
import ctypes
import errno
import sys

MBX_SEND, MBX_RECV, MBX_CREATE = 0x01, 0x02, 0x04
MBX_NONBLOCK = 0
NAME = b"asyncio-demo"
N = 300


class MsgInfo(ctypes.Structure):
    """struct mbx_msginfo of mbx.h."""
    _fields_ = [("size", ctypes.c_uint64), ("priority", ctypes.c_uint32),
                ("sender_pid", ctypes.c_int32), ("sender_uid", ctypes.c_uint32),
                ("seq", ctypes.c_uint64), ("reply_token", ctypes.c_uint64)]


def load(path):
    """Loads libmbx and declares the functions used here."""
    lib = ctypes.CDLL(path)
    p = ctypes.c_void_p
    lib.mbx_open.argtypes = [ctypes.c_char_p, ctypes.c_int, p, ctypes.POINTER(p)]
    lib.mbx_open.restype = ctypes.c_int
    lib.mbx_fd.argtypes = [p, ctypes.c_int]
    lib.mbx_fd.restype = ctypes.c_int
    lib.mbx_recv.argtypes = [p, p, ctypes.c_size_t, ctypes.POINTER(MsgInfo), ctypes.c_int64]
    lib.mbx_recv.restype = ctypes.c_ssize_t
    lib.mbx_close.argtypes = [p]
    lib.mbx_unlink.argtypes = [ctypes.c_char_p]
    lib.mbx_strerror.argtypes = [ctypes.c_int]
    lib.mbx_strerror.restype = ctypes.c_char_p
    return lib


class Reader:
    """Takes messages whenever the mailbox's descriptor is readable."""

    def __init__(self, lib, box, done):
        self.lib, self.box, self.done = lib, box, done
        self.got, self.senders, self.wakeups = [], set(), 0
        self.buf = ctypes.create_string_buffer(256)

    def on_readable(self):
        """Receives until -EAGAIN: the descriptor stays readable till then."""
        self.wakeups += 1
        info = MsgInfo()
        while not self.done.done():
            n = self.lib.mbx_recv(self.box, self.buf, len(self.buf), ctypes.byref(info),
                                  MBX_NONBLOCK)
            if n == -errno.EAGAIN:
                return
            if n < 0:
                self.done.set_exception(
                    RuntimeError("mbx_recv: " + self.lib.mbx_strerror(n).decode()))
                return
            self.got.append(self.buf.raw[:n].decode())
            self.senders.add(info.sender_pid)
            if len(self.got) == N:
                self.done.set_result(None)


async def main(lib, command):
    box = ctypes.c_void_p()
    rc = lib.mbx_open(NAME, MBX_SEND | MBX_RECV | MBX_CREATE, None, ctypes.byref(box))
    if rc < 0:
        print("mbx_open:", lib.mbx_strerror(rc).decode())
        return 1
    fd = lib.mbx_fd(box, MBX_RECV)
    if fd < 0:
        print("mbx_fd:", lib.mbx_strerror(fd).decode())
        return 1
    loop = asyncio.get_running_loop()
    reader = Reader(lib, box, loop.create_future())
    loop.add_reader(fd, reader.on_readable)
    want = ["message %d" % i for i in range(N)]
    sender = await asyncio.create_subprocess_exec(command, "send", NAME.decode(), *want)
    ok = True
    try:
        await asyncio.wait_for(reader.done, 20)
    except (asyncio.TimeoutError, RuntimeError) as e:
        print("reader:", str(e) or "timed out after %d of %d messages" % (len(reader.got), N))
        ok = False
    loop.remove_reader(fd)
    lib.mbx_close(box)
    lib.mbx_unlink(NAME)  # a sender still waiting after a failure gets -EIDRM
    status = await sender.wait()
    print("received %d of %d messages, %d wake-ups of the reader, sender pids %s"
          % (len(reader.got), N, reader.wakeups, sorted(reader.senders)))
    ok = ok and status == 0 and reader.got == want and reader.senders == {sender.pid}
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(asyncio.run(main(load(sys.argv[1]), sys.argv[2])))
