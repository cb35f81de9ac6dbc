/* The bridge between local mailboxes and NATS (mbx_bridge_start): the
 * state its threads share. bridge.c starts and stops it; bridge_export.c
 * publishes what exported mailboxes receive (and forwards their calls);
 * bridge_import.c delivers what imported subjects carry (and answers
 * requests); jsstate.c remembers, across a kill -9, which JetStream
 * messages an import delivered. */
#ifndef MBX_NATS_BRIDGE_H
#define MBX_NATS_BRIDGE_H

#include "core/names.h"
#include "mbx.h"
#include "nats/journal.h"
#include "nats/jsstate.h"
#include "nats/pull.h"
#include "nats/subject.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>

#define BRIDGE_BAND_CALL NSUBJ_BANDS /* the request subject: PREFIX.c.NAME */

/* Headers the bridge writes and reads (values untrusted on reading). */
#define HDR_PRIO  "Mbx-Prio"  /* exact priority, 0..32767 */
#define HDR_TYPE  "Mbx-Type"  /* type tag (mbx_send_typed), decimal, when not 0 */
#define HDR_ERROR "Mbx-Error" /* a request's failure at the far side: errno, decimal */
/* A request with HDR_CONFIRM is a confirmed send (mbx_send_confirmed): the
 * importing bridge makes it into its mailbox and answers, once a receiver
 * took it, with the taker's pid, uid and the bridge's host id. */
#define HDR_CONFIRM    "Mbx-Confirm"
#define HDR_TAKER_PID  "Mbx-Taker-Pid"
#define HDR_TAKER_UID  "Mbx-Taker-Uid"
#define HDR_TAKER_HOST "Mbx-Taker-Host"

struct mbx_bridge;

/* A stream found missing is made again only once it has been missing
 * this long: nats-server 2.9 removes a deleted stream's files after it
 * stops answering for it, and a stream made under the same name in
 * between lost its files (every message it took was gone: "error looking
 * up message for consumer" in the server's log, seen once in
 * nats_life_test under ASan). */
#define BRIDGE_REMAKE_GRACE_NS 1000000000LL

struct bexport {
    struct mbx_bridge *b;
    mbx *m;
    char name[NAME_MAX_LEN + 1];
    char subj[NSUBJ_BANDS + 1][NSUBJ_MAX]; /* per band, then the request subject */
    char epoch[48];                        /* JetStream message ids: this mailbox's life */
    char stream[160];
    int64_t stream_created; /* its creation time: which life of the stream */
    int64_t remade_at;      /* when the export last made its stream again (CLOCK_MONOTONIC ns) */
    int64_t gone_since;     /* when a publish first found no stream (0: it found one since) */
    int64_t checked_at;     /* when a publish left unanswered last had the stream checked */
    int refused; /* atomic: the stream now is not one to publish to (mbx_bridge_refusing) */
    uint64_t max_msg;
    struct journal_rec *j; /* JetStream: the message in hand (journal.h) */
    uint8_t *buf;          /* core NATS: the message in hand */
    pthread_t th;
    int started;
};

/* An imported mailbox's handle, shared by the import's threads (its band
 * threads and its request thread): taken and given back around each use,
 * and replaced when the mailbox was removed (bridge_import.c). */
struct ibox {
    mbx *m;
    unsigned refs; /* under bimport.box_mu: its users, and one while it is im->box */
};

struct bimport {
    struct mbx_bridge *b;
    struct ibox *box; /* the mailbox now (bimport_box), swapped under box_mu */
    pthread_mutex_t box_mu;
    char name[NAME_MAX_LEN + 1];
    char subj[NSUBJ_BANDS + 1][NSUBJ_MAX];
    char stream[160];
    /* Its creation time: which life of the stream the delivery record is
     * bound to (under life_mu once the threads run). */
    int64_t stream_created;
    int64_t gone_since; /* when a look first found no stream (0: found), under life_mu */
    char queue[NSUBJ_MAX];
    uint64_t max_msg; /* atomic: the mailbox now takes no larger */
    natsSubscription *sub[NSUBJ_BANDS + 1];
    /* JetStream: each band's pull (pull.h), its thread's alone; sub[band]
     * is its inbox's subscription, swapped under mu (bridge_import.c). */
    struct js_pull pull[NSUBJ_BANDS];
    /* JetStream, atomic: each band consumer's ack wait (ns) when shorter
     * than the bridge's, else the bridge's: a held batch is kept "in
     * progress" within it (bridge_import.c consumer_fits). */
    int64_t ack_wait_ns[NSUBJ_BANDS];
    pthread_t th[NSUBJ_BANDS + 1];
    int started[NSUBJ_BANDS + 1];
    /* One delivery at a time, highest band first (bridge_import.c). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sending;
    unsigned waiting[NSUBJ_BANDS];
    struct jsstate *st; /* JetStream: what was delivered */
    /* JetStream: the stream deleted and made again while the bridge runs
     * (bridge_import.c). A look asks the server which life is current. */
    pthread_mutex_t life_mu;  /* one look at a time */
    pthread_rwlock_t life_rw; /* acks (read) against a move to a new life (write) */
    uint64_t life;            /* atomic: one more at each new life bound */
    int64_t looked_at;        /* atomic: when the last look began (CLOCK_MONOTONIC ns) */
    int look_result;          /* its result, under life_mu */
    int refused;              /* atomic: the stream now is not one to import from */
};

struct mbx_bridge {
    natsConnection *nc;   /* requests, replies, JetStream, subscriptions: written at once */
    natsConnection *bulk; /* core NATS exports' messages: writes batched */
    jsCtx *js;
    char prefix[NSUBJ_PREFIX_MAX + 1];
    char host[NSUBJ_HOST_MAX + 1];
    int jetstream;
    uint32_t replicas, pending_limit, call_timeout_ms, ack_wait_ms;
    int64_t max_payload;
    int stopping;         /* atomic */
    int listed;           /* wrote its list for mbx ls */
    char list_file[4300]; /* where (bridge.c list_write), removed at stop */
    struct bexport *ex;
    size_t nex;
    struct bimport *im;
    size_t nim;
    /* Calls forwarded from exported mailboxes, waiting for their replies
     * (bridge_export.c). */
    natsSubscription *inbox_sub;
    int inbox_tracked; /* its end is told (inbox_ended): bcalls_stop waits for it */
    int inbox_ended;   /* on_reply will not run again */
    char inbox[64];
    pthread_mutex_t calls_mu;
    struct bcall *calls;
    uint64_t next_call;
    pthread_t sweeper;
    int sweeper_started;
    /* mbx_bridge_stat, atomic */
    uint64_t n_exported, n_imported, n_calls, n_refused, n_redeliver;
    /* mbx_bridge_held, atomic: messages a band's thread has taken from
     * NATS (one, or a fetched batch) and not yet delivered or given up */
    uint64_t n_held;
};

/* Room in a subject's payload for the bridge's headers. */
#define BRIDGE_HDR_ROOM 256

/* 1 once mbx_bridge_stop (or a failed start) began, else 0. */
int bridge_stopping(const struct mbx_bridge *b);

/* Opens local mailbox name for the bridge as at the start: creating it
 * (of kind `kind`) with messages no larger than NATS carries, refusing one
 * that takes larger, or larger than `most` (-EMSGSIZE). Its largest
 * message into *max_msg (may be NULL). For a mailbox removed (-EIDRM)
 * while the bridge runs, opened again. Returns 0 or -errno. */
int bridge_open_box(struct mbx_bridge *b, const char *name, int flags, uint32_t kind, uint64_t most,
                    mbx **m, uint64_t *max_msg);

/* The kind of mailbox an import makes (bridge.c). */
uint32_t bridge_import_kind(const struct mbx_bridge *b);

/* The export's mailbox was removed (-EIDRM): opens it again, making it
 * as at the start, for the export's thread (its only user). Returns 0, or
 * an error of the open (-EMSGSIZE: made again with larger messages than
 * the export's buffer takes). */
int bridge_reopen_export(struct bexport *e);

/* Starts the export thread of e. Returns 0 or -EAGAIN (no thread). */
int bexport_start(struct bexport *e);

/* Subscribes the inbox where replies to forwarded calls come and starts
 * the thread that ends calls past their time. Returns 0, -ENOMEM, -EIO or
 * -EAGAIN. bcalls_stop ends it, answering calls still waiting with
 * -ENOTCONN. */
int bcalls_start(struct mbx_bridge *b);
void bcalls_stop(struct mbx_bridge *b);

/* Starts the subscriptions (core: queue subscriptions; JetStream: the
 * durable pull consumers and the delivery record) and threads of import
 * i. Returns 0 or -errno. */
int bimport_start(struct bimport *i);
/* Makes the locks of import i (bimport_free undoes them, and closes its
 * mailbox). Never fails. */
void bimport_init(struct bimport *i);
void bimport_free(struct bimport *i);
/* Gives import i its mailbox m (opened by bridge_open_box, taking no
 * larger than max_msg), before bimport_start. Returns 0, or -ENOMEM (m is
 * not taken: the caller closes it). */
int bimport_box(struct bimport *i, mbx *m, uint64_t max_msg);
/* Ensures the JetStream stream of mailbox name exists, with its creation
 * time (ns since the epoch, 0: not known) in *created. A stream of that
 * name made by someone else is used only when it keeps every message as
 * ours would. Called at the start, and by a running bridge that finds the
 * stream gone or made again. Returns 0 or -errno (-EPROTO: no JetStream;
 * -EEXIST: a stream of that name that could lose messages; -EIO, also
 * when the bridge stops meanwhile). */
int bridge_stream(struct mbx_bridge *b, const char *name, char *stream, size_t cap,
                  int64_t *created);
/* Looks whether the JetStream stream of mailbox name is one the bridge
 * may use (as bridge_stream would find it), changing nothing. Returns 0
 * (it is), -EEXIST (it could lose or stall messages), -ENOENT (there is
 * none), -EPROTO (no answer) or -EIO. */
int bridge_stream_check(struct mbx_bridge *b, const char *name);

/* Priority and type of a NATS message in band band: the headers when
 * present and valid, else the band's lowest priority and type 0. */
void bridge_msg_prio(natsMsg *msg, unsigned band, unsigned *prio, uint64_t *type);

#endif
