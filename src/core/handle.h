/* What every handle holds, whatever its transport: the transport's own
 * struct begins with it. */
#ifndef MBX_CORE_HANDLE_H
#define MBX_CORE_HANDLE_H

#include "core/names.h"
#include "core/transport.h"

#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

struct mbx {
    const struct mbx_transport *tp;
    int flags;        /* as opened: MBX_SEND, MBX_RECV, ... */
    uint32_t closing; /* mbx_close under way: blocked calls end with -EBADF */
    int64_t spin_ns;  /* how long a blocked call spins before it sleeps */
    /* 1 while spin_ns is the default (neither mbx_set_spin nor
     * MBX_SPIN_NS): the transport may then spin longer after large
     * messages (shm/transport.c). */
    uint32_t spin_default;
    char name[NAME_FULL_MAX + 1];
};

/* Fills the fields above for a new handle of transport tp. */
void handle_init(struct mbx *m, const struct mbx_transport *tp, const char *name, int flags);

#endif
