/* A stream used like a pipe: a producer process writes text in pieces of any
 * size, the consumer reads until the end of the stream (mbx_recv returns 0
 * once the producer has closed its handle, or died, and all bytes are read). */
#include <mbx.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINES 10000

static int produce(void)
{
    mbx *out;
    int r = mbx_open("pipe", MBX_SEND, NULL, &out); /* the one send right */
    if (r < 0) {
        fprintf(stderr, "producer open: %s\n", mbx_strerror(r));
        return 1;
    }
    for (int i = 1; i <= LINES; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        if ((r = mbx_send(out, line, (size_t)n, 0, MBX_FOREVER)) < 0) {
            fprintf(stderr, "send: %s\n", mbx_strerror(r));
            return 1;
        }
    }
    mbx_close(out); /* the consumer sees the end of the stream */
    return 0;
}

int main(void)
{
    mbx_attr attr;
    mbx_attr_init(&attr);
    attr.capacity = 16; /* buffers capacity * max_msg_size = 64 KiB */
    attr.max_msg_size = 4096;
    mbx *in;
    int r = mbx_open("pipe", MBX_RECV | MBX_CREATE | MBX_STREAM, &attr, &in);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    pid_t child = fork();
    if (child == 0)
        _exit(produce());
    /* Boundaries are not kept: a read may end in the middle of a line. */
    static char text[LINES * 16];
    size_t bytes = 0;
    ssize_t n;
    while ((n = mbx_recv(in, text + bytes, sizeof(text) - bytes, NULL, 5000000000)) > 0)
        bytes += (size_t)n;
    int status;
    waitpid(child, &status, 0);
    mbx_close(in);
    mbx_unlink("pipe");
    if (n < 0) {
        fprintf(stderr, "recv: %s\n", mbx_strerror((int)n));
        return 1;
    }
    /* Every byte, in order: exactly what the producer wrote. */
    int lines = 0, ok = 1;
    size_t at = 0;
    for (int i = 1; i <= LINES && ok; i++) {
        char line[64];
        int len = snprintf(line, sizeof(line), "line %d\n", i);
        ok = at + (size_t)len <= bytes && memcmp(text + at, line, (size_t)len) == 0;
        at += (size_t)len;
        lines += ok;
    }
    ok = ok && at == bytes;
    printf("read %d lines, %zu bytes, in order, then end of stream\n", lines, bytes);
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
