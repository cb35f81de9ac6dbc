/* The kinds of shared-memory mailbox, in the order a new mailbox tries
 * them. */
#include "shm/kind.h"

#include <stdlib.h>
#include <string.h>

static const struct shm_kind *const kinds[] = {&shm_kind_ring, &shm_kind_heap, &shm_kind_stream};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct shm_kind *shm_kind_of_flags(uint32_t hdr_flags)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i]->hdr_flag == hdr_flags)
            return kinds[i];
    return NULL;
}

const struct shm_kind *shm_kind_choose(const mbx_attr *a, int flags, uint32_t asked)
{
    if (asked == MBX_KIND_AUTO) {
        const char *env = getenv("MBX_QUEUE");
        if (env && strcmp(env, "heap") == 0 && !(flags & MBX_STREAM))
            asked = MBX_KIND_HEAP;
    }
    if (flags & MBX_STREAM) /* a stream is asked for by its flag */
        return asked == MBX_KIND_AUTO && shm_kind_stream.accepts(a, flags) ? &shm_kind_stream
                                                                           : NULL;
    if (asked == MBX_KIND_RING)
        return shm_kind_ring.accepts(a, flags) ? &shm_kind_ring : NULL;
    if (asked == MBX_KIND_HEAP)
        return &shm_kind_heap;
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i]->accepts(a, flags))
            return kinds[i];
    return NULL;
}
