/* The transports, and which one serves a name. */
#include "core/transport.h"

#include <string.h>

extern const struct mbx_transport mbx__shm_transport;
extern const struct mbx_transport mbx__tcp_transport;
extern const struct mbx_transport mbx__udp_transport;
extern const struct mbx_transport mbx__tls_transport;
#ifdef MBX_WITH_NATS
extern const struct mbx_transport mbx__nats_transport;
#endif

const struct mbx_transport *const mbx_transports[] = {&mbx__shm_transport,
                                                      &mbx__tcp_transport,
                                                      &mbx__tls_transport,
                                                      &mbx__udp_transport,
#ifdef MBX_WITH_NATS
                                                      &mbx__nats_transport,
#endif
                                                      NULL};

const struct mbx_transport *transport_local(void)
{
    return &mbx__shm_transport;
}

const struct mbx_transport *transport_for(const char *name)
{
    const char *sep = strstr(name, "://");
    if (!sep)
        return &mbx__shm_transport;
    for (const struct mbx_transport *const *t = mbx_transports; *t; t++) {
        size_t n = strlen((*t)->scheme);
        if (n && (size_t)(sep - name) == n && strncmp(name, (*t)->scheme, n) == 0)
            return *t;
    }
    return NULL;
}
