#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "child.h"

void *msgbuf_new(size_t size)
{
    char *base = aligned_alloc(64, (MECH_HEADROOM + size + 63) & ~(size_t)63);
    if (!base)
        return NULL;
    memset(base, 0xa5, MECH_HEADROOM + size);
    return base + MECH_HEADROOM;
}

void *msgbuf_for(const struct chan *c)
{
    return msgbuf_new(c->mech->zero_copy ? MECH_HDR_BYTES : c->p.size);
}

void msgbuf_free(void *buf)
{
    if (buf)
        free((char *)buf - MECH_HEADROOM);
}

void hdr_put(void *buf, enum msg_kind kind, uint32_t sender, uint64_t seq)
{
    struct msg_hdr h = {(uint32_t)kind, sender, seq};
    memcpy(buf, &h, sizeof(h));
}

struct msg_hdr hdr_get(const void *buf)
{
    struct msg_hdr h;
    memcpy(&h, buf, sizeof(h));
    return h;
}

int side_fail(struct side_status *st, int err, const char *what)
{
    st->err = err;
    snprintf(st->why, sizeof(st->why), "%s: %s", what, strerror(-err));
    return 1;
}

int64_t ctxsw_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

void wait_flag(const _Atomic int *flag)
{
    struct timespec ms = {0, 1000000};
    while (!atomic_load(flag))
        nanosleep(&ms, NULL);
}
