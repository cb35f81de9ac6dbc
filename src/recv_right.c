#include "recv_right.h"

#include "platform/linux/proc.h"
#include "self_id.h"
#include "sync.h"

#include <errno.h>

static uint64_t next_id;

static int exclusive(const struct mbx *m)
{
    return (m->flags & MBX_RECV) && m->seg.recv_policy == MBX_RECV_EXCLUSIVE;
}

int recv_right_take(struct mbx *m)
{
    if (!exclusive(m))
        return 0;
    m->recv_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    int r = sync_lock(&m->seg);
    if (r)
        return r;
    struct seg_model *md = &m->seg.hdr->model;
    if (md->receiver.pid != 0 && proc_alive(md->receiver.pid, md->receiver.start, 0)) {
        r = -EBUSY;
    } else {
        md->receiver = (struct seg_proc){self_pid(), 0, proc_self_start()};
        md->receiver_handle = m->recv_id;
    }
    sync_unlock(&m->seg);
    return r;
}

void recv_right_drop(struct mbx *m)
{
    if (!exclusive(m) || sync_lock(&m->seg))
        return;
    struct seg_model *md = &m->seg.hdr->model;
    if (md->receiver.pid == self_pid() && md->receiver.start == proc_self_start() &&
        md->receiver_handle == m->recv_id)
        md->receiver = (struct seg_proc){0, 0, 0};
    sync_unlock(&m->seg);
}
