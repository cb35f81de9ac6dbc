/* The list of mechanisms, in the order of the table: kernel facilities from
 * the oldest, the two messaging libraries (ipc:// and tcp://), mbx over
 * tcp:// and udp:// beside them, then the shared-memory rows, each iceoryx row beside
 * the mbx row that does the same work. */
#include <string.h>

#include "mech.h"

extern const struct mech mech_pipe, mech_fifo, mech_unix_stream, mech_unix_seqpacket,
    mech_unix_seqpacket_epoll, mech_tcp, mech_udp, mech_posixmq, mech_posixmq_mbx, mech_sysvmq,
    mech_sysvmq_mbx, mech_zmq, mech_zmq_tcp, mech_nng, mech_nng_tcp, mech_mbx_tcp,
    mech_mbx_tcp_deep, mech_mbx_tcp_here, mech_mbx_udp, mech_shm_raw, mech_mbx, mech_mbx_deep,
    mech_mbx_sleep, mech_mbx_busy, mech_mbx_spin, mech_mbx_epoll, mech_mbx_call, mech_mbx_loan,
    mech_iceoryx, mech_iceoryx_poll, mech_iceoryx_zc, mech_iceoryx_zc_poll, mech_nats,
    mech_mbx_nats, mech_mbx_nats_deep, mech_nats_js, mech_mbx_nats_js;

const struct mech *const mech_all[] = {
    &mech_pipe,
    &mech_fifo,
    &mech_unix_stream,
    &mech_unix_seqpacket,
    &mech_unix_seqpacket_epoll,
    &mech_tcp,
    &mech_udp,
    &mech_posixmq,
    &mech_posixmq_mbx,
    &mech_sysvmq,
    &mech_sysvmq_mbx,
#ifdef BENCH_HAVE_ZMQ
    &mech_zmq,
    &mech_zmq_tcp,
#endif
#ifdef BENCH_HAVE_NNG
    &mech_nng,
    &mech_nng_tcp,
#endif
    &mech_mbx_tcp,
    &mech_mbx_tcp_deep,
    &mech_mbx_tcp_here,
    &mech_mbx_udp,
#ifdef BENCH_HAVE_NATS
    &mech_nats,
    &mech_mbx_nats,
    &mech_mbx_nats_deep,
    &mech_nats_js,
    &mech_mbx_nats_js,
#endif
    &mech_shm_raw,
    &mech_mbx,
    &mech_mbx_deep,
    &mech_mbx_sleep,
    &mech_mbx_busy,
    &mech_mbx_spin,
    &mech_mbx_epoll,
    &mech_mbx_call,
    &mech_iceoryx,
    &mech_iceoryx_poll,
    &mech_mbx_loan,
    &mech_iceoryx_zc,
    &mech_iceoryx_zc_poll,
};

const size_t mech_count = sizeof(mech_all) / sizeof(mech_all[0]);

const char *const mech_not_built[] = {
#ifndef BENCH_HAVE_ZMQ
    "zmq (libzmq was not found when building)",
#endif
#ifndef BENCH_HAVE_NNG
    "nng (nng was not found when building)",
#endif
#ifndef BENCH_HAVE_NATS
    "nats, mbx-nats, mbx-nats-deep, nats-js, mbx-nats-js (built without NATS: MBX_WITH_NATS off)",
#endif
    NULL,
};

const struct mech *mech_find(const char *name)
{
    for (size_t i = 0; i < mech_count; i++)
        if (strcmp(mech_all[i]->name, name) == 0)
            return mech_all[i];
    return NULL;
}

const char *mech_label(const struct mech *m)
{
    return m->label ? m->label : m->name;
}
