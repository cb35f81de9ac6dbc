#include "shm/heap/heap_token.h"

#include <errno.h>

int heap_find_token(struct seg *s, uint64_t token, struct seg_blk **out)
{
    *out = NULL;
    uint32_t n = s->hdr->meta.nactive;
    if (n > MBX_PRIO_MAX)
        return -EUCLEAN;
    /* Bound the walk by what can be queued, so a cycle cannot hang us. */
    uint64_t budget = (uint64_t)__atomic_load_n(&s->hdr->hot.count, __ATOMIC_RELAXED) + 1;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t p = s->active[i];
        if (p >= MBX_PRIO_MAX)
            return -EUCLEAN;
        for (uint64_t off = s->heads[p].head; off;) {
            struct seg_blk *b = seg_blk_at(s, off);
            if (!b || b->state != BLK_QUEUED || b->prio != p || budget-- == 0)
                return -EUCLEAN;
            if (b->token == token) {
                *out = b;
                return 0;
            }
            off = b->next;
        }
    }
    return 0;
}
