/* The interface every IPC mechanism of the benchmark implements, so that one
 * harness forks the two sides of any of them and measures them all the same way.
 */
#ifndef BENCH_MECH_H
#define BENCH_MECH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writable bytes the harness leaves in front of every message buffer, so a
 * mechanism whose API wants a header before the payload (System V's mtype)
 * builds it in place instead of paying a copy no real user would make. */
#define MECH_HEADROOM 64

/* Leading bytes of every message the harness writes and checks; the loan rows
 * copy only these, because zero copy means the payload is made in place. */
#define MECH_HDR_BYTES 16

/* Messages a queue holds when its size is ours to choose: as many as an mbx
 * mailbox holds by default. */
#define QUEUE_DEPTH 64

/* The initiator pings or sends; the responder pongs or receives. */
enum mech_role { ROLE_INITIATOR, ROLE_RESPONDER };

enum mech_pattern { PATTERN_PINGPONG, PATTERN_ONEWAY };

/* Whether the fan-in test (many senders, one receiver) includes a mechanism. */
enum mech_fanin { FANIN_NO, FANIN_YES, FANIN_FULL_ONLY };

struct mech_params {
    enum mech_pattern pattern;
    size_t size;     /* every message has exactly this many bytes, at least 64 */
    int senders;     /* initiators sharing the channel: 1 except in fan-in */
    const char *dir; /* private temporary directory for file-system names */
    char tag[40];    /* unique per channel, so names of two runs never meet */
};

struct chan {
    const struct mech *mech;
    struct mech_params p;
    void *priv; /* the mechanism's state, made by setup, copied by fork */
};

/* Every function returns 0 (recv: the bytes received) or a negative errno. */
struct mech {
    const char *name;  /* for --only and the CSV */
    const char *label; /* for the table and plots; NULL: the name */
    const char *about; /* one line for --help */
    int64_t variant;   /* picks a member of a family: socket type, wait mode */
    enum mech_fanin fanin;
    bool kernel;            /* a kernel IPC facility, for the targets */
    const char *nosys_note; /* what -ENOSYS means for this row, or NULL */
    bool zero_copy;         /* touches only MECH_HDR_BYTES of its buffers */
    bool needs_roudi;       /* iceoryx: the run starts iox-roudi first (roudi.h) */
    /* --quick measures only the 64 B cells of this row (--full: all), to
     * keep the quick run short; the other cells say n/a and why. */
    bool quick_64b_only;
    /* Datagrams: no round trip is measured (the latency cells and the
     * per-message counts say n/a), and one-way tolerates loss: gaps in a
     * sender's numbers are counted as lost, not a failure, and the sender
     * repeats its end message until the receiver has it. */
    bool lossy;
    /* A library the row's processes run with (LD_PRELOAD), or NULL: the
     * row is measured by a copy of the benchmark started with it, so it
     * applies to that row's processes only (run_preloaded.c). */
    const char *preload;

    /* In the parent, before forking: creates the channel described by c->p.
     * On failure also says why in `why` (a size over a system limit, ...). */
    int (*setup)(struct chan *c, char *why, size_t whylen);
    /* In a child after forking: takes one end; index numbers the initiators. */
    int (*attach)(struct chan *c, enum mech_role role, int index);
    /* Sends len bytes of buf and waits for the reply, stored in buf. */
    int (*ping)(struct chan *c, void *buf, size_t len);
    /* Waits for a message of len bytes into buf and sends it back. */
    int (*pong)(struct chan *c, void *buf, size_t len);
    /* buf has MECH_HEADROOM writable bytes before it (see above). */
    int (*send)(struct chan *c, void *buf, size_t len);
    ssize_t (*recv)(struct chan *c, void *buf, size_t len);
    /* In a child, once its peer has received everything it will: lets go. */
    void (*detach)(struct chan *c);
    /* In the parent after the children are gone, also after a failed setup:
     * removes names and frees c->priv. */
    void (*teardown)(struct chan *c);
};

/* registry.c: every mechanism built in, in table order. */
extern const struct mech *const mech_all[];
extern const size_t mech_count;
/* Mechanisms left out of this build, with the reason; NULL-terminated. */
extern const char *const mech_not_built[];

const struct mech *mech_find(const char *name);
const char *mech_label(const struct mech *m);

#endif
