/* mq_getattr, mq_setattr. */
#include "mq_internal.h"

#include <fcntl.h>
#include <string.h>

/* mq_getattr(3): fills *attr (mq_flags: O_NONBLOCK or 0; mq_maxmsg and
 * mq_msgsize as created; mq_curmsgs: messages queued now; attr NULL:
 * nothing, as Linux). Returns 0, or -1 with errno EBADF. */
static int getattr_of(struct mq_desc *d, struct mq_attr *attr)
{
    if (!attr)
        return 0; /* as Linux: glibc asks mq_getsetattr for nothing */
    mbx_stat st;
    int r = mbx_stat_get(d->h, &st);
    if (r < 0)
        return mq_fail(r == -EIDRM ? EBADF : -r);
    memset(attr, 0, sizeof(*attr));
    attr->mq_flags = atomic_load(&d->fl->flags) & O_NONBLOCK;
    attr->mq_maxmsg = (long)d->maxmsg;
    attr->mq_msgsize = (long)d->msgsize;
    attr->mq_curmsgs = (long)st.count;
    return 0;
}

MQ_API int mbxmq_getattr(mqd_t q, struct mq_attr *attr)
{
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    int r = getattr_of(d, attr);
    mq_put(d);
    return r;
}

/* mq_setattr(3): sets O_NONBLOCK from newattr->mq_flags (the other fields
 * are ignored, as in Linux) for every descriptor sharing this open queue,
 * in this process and forked ones; the previous attributes go to *oldattr
 * when not NULL (newattr NULL: only that). Returns 0, or -1 with errno EBADF, EINVAL (mq_flags has
 * other bits). */
MQ_API int mbxmq_setattr(mqd_t q, const struct mq_attr *newattr, struct mq_attr *oldattr)
{
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    int r = 0;
    if (newattr && (newattr->mq_flags & ~(long)O_NONBLOCK))
        r = mq_fail(EINVAL);
    else if (oldattr)
        r = getattr_of(d, oldattr);
    if (r == 0 && newattr)
        atomic_store(&d->fl->flags, (int32_t)(newattr->mq_flags & O_NONBLOCK));
    mq_put(d);
    return r;
}
