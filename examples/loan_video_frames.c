/* Zero copy: a producer renders 8 MiB video frames straight into the
 * mailbox (mbx_loan), two consumers read them in place (mbx_recv_loan) and
 * give them back (mbx_release). No frame is ever copied. */
#include <mbx.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAME     (8u << 20)
#define FRAMES    40
#define CONSUMERS 2

/* Shows frames until the end marker; writes the number of each frame shown
 * to `shown`. Returns how many, or -1 for a torn frame or an error. */
static int consume(mbx *box, int id, int shown)
{
    int frames = 0;
    for (;;) {
        const void *frame;
        mbx_msginfo info;
        ssize_t n = mbx_recv_loan(box, &frame, &info, 5000000000);
        if (n < 0)
            return -1;
        const uint32_t *px = frame;
        uint32_t number = px[0];
        int last = n == sizeof(uint32_t); /* the end marker */
        if (!last && (n != FRAME || px[FRAME / 4 - 1] != number))
            return -1; /* a torn frame */
        mbx_release(box, frame);
        if (last)
            break;
        if (write(shown, &number, sizeof(number)) != sizeof(number))
            return -1;
        frames++;
    }
    printf("consumer %d showed %d frames\n", id, frames);
    fflush(stdout); /* the consumer ends with _exit */
    return frames;
}

int main(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.max_msg_size = FRAME;
    a.capacity = 4; /* at most four frames in flight */
    mbx *box;
    int r = mbx_open("frames", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &box);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    int shown[2]; /* the consumers report each frame they showed here */
    if (pipe(shown) != 0)
        return 1;
    for (int c = 0; c < CONSUMERS; c++)
        if (fork() == 0)
            _exit(consume(box, c, shown[1]) < 0 ? 1 : 0);
    close(shown[1]);
    for (uint32_t f = 0; f < FRAMES + CONSUMERS; f++) {
        void *buf;
        size_t len = f < FRAMES ? FRAME : sizeof(uint32_t);
        while ((r = mbx_loan(box, len, &buf)) == -EAGAIN)
            usleep(100);
        if (r < 0) {
            fprintf(stderr, "loan: %s\n", mbx_strerror(r));
            return 1;
        }
        uint32_t *px = buf; /* "render": first and last pixel tell the frame */
        px[0] = f;
        if (len == FRAME)
            px[FRAME / 4 - 1] = f;
        if ((r = mbx_send_loan(box, buf, len, 0, 5000000000)) < 0) {
            fprintf(stderr, "send_loan: %s\n", mbx_strerror(r));
            return 1;
        }
    }
    /* Every frame shown exactly once, by one consumer or the other. */
    int times[FRAMES] = {0}, ok = 1, st;
    uint32_t number;
    while (read(shown[0], &number, sizeof(number)) == sizeof(number))
        if (number < FRAMES)
            times[number]++;
        else
            ok = 0;
    for (int f = 0; f < FRAMES; f++)
        ok &= times[f] == 1;
    while (wait(&st) > 0)
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("%d frames of 8 MiB sent without a copy: %s\n", FRAMES, ok ? "ok" : "FAILED");
    mbx_close(box);
    mbx_unlink("frames");
    return ok ? 0 : 1;
}
