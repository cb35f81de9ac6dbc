#include "shm/poller.h"
#include "shm/process.h"

#include "shm/call.h"
#include "shm/handles.h"
#include "shm/hosts.h"
#include "shm/owner.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define PEERS 8 /* cached handles on callers' mailboxes */

struct peer {
    int32_t pid;
    int refs;
    struct shm_box *b;
};

/* Everything below is guarded by `lock`, which fork handlers hold across
 * a fork so that no other thread leaves it taken in the child. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
#define SELF_MAX_MSG ((uint64_t)1 << 20) /* mbx.h: mbx_self */

static struct shm_box *self_box; /* the handle mbx_self hands out */
static int32_t self_pid;         /* the process it belongs to */
static struct peer peers[PEERS];

int shm_self(struct mbx **out)
{
    int32_t me = ident_self_pid();
    int r = 0;
    pthread_mutex_lock(&lock);
    /* A handle inherited over fork, or one whose mailbox was removed, is
     * replaced. It is not closed: callers may still hold it. */
    if (self_box && (self_pid != me || seg_removed(&self_box->seg)))
        self_box = NULL;
    if (!self_box) {
        char name[16];
        snprintf(name, sizeof(name), "@%d", (int)me);
        mbx_options o;
        mbx_options_init(&o);
        /* Replies to this process's calls come here: room for large ones.
         * Still a ring (64 slots of 1 MiB, 64 MiB at most), and a sparse
         * file: a slot gets storage only when a message that long uses it. */
        o.attr.max_msg_size = SELF_MAX_MSG;
        struct mbx *m;
        r = shm_box_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_OWNED, &o, &m);
        if (!r) {
            self_box = shm_box_of(m);
            self_pid = me;
        }
    }
    if (!r)
        *out = &self_box->base;
    pthread_mutex_unlock(&lock);
    return r;
}

int shm_peer_get(pid_t pid, struct shm_box **out)
{
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < PEERS; i++) {
        struct peer *p = &peers[i];
        if (p->b && p->pid == pid && !seg_removed(&p->b->seg)) {
            p->refs++;
            *out = p->b;
            pthread_mutex_unlock(&lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&lock);
    char name[16];
    snprintf(name, sizeof(name), "@%d", (int)pid);
    mbx_options o;
    mbx_options_init(&o);
    struct mbx *m;
    /* A process's own mailbox is found among that process's open files,
     * so whoever owns the file, it is the caller's: MBX_SHARED lets root
     * answer another user. */
    int r = shm_box_open(name, MBX_SEND | MBX_SHARED, &o, &m);
    if (r)
        return r;
    struct shm_box *b = shm_box_of(m), *evicted = NULL;
    pthread_mutex_lock(&lock);
    unsigned i = 0;
    while (i < PEERS && peers[i].b && peers[i].refs > 0)
        i++;
    if (i < PEERS) {
        evicted = peers[i].b;
        peers[i] = (struct peer){pid, 1, b};
    }
    pthread_mutex_unlock(&lock);
    if (evicted)
        shm_box_close(&evicted->base);
    *out = b;
    return 0;
}

/* The pids whose mailboxes were last looked up again (shm_peer_forget),
 * and when: at most once a second each. */
#define RELOOK_NS 1000000000ll
static struct {
    int32_t pid;
    int64_t at;
} relooks[PEERS];
static unsigned relooks_next;

int shm_peer_forget(struct shm_box *b)
{
    int64_t now = clock_now_ns();
    pthread_mutex_lock(&lock);
    int32_t pid = 0;
    for (unsigned i = 0; i < PEERS; i++)
        if (peers[i].b == b)
            pid = peers[i].pid;
    int due = pid > 0;
    for (unsigned i = 0; due && i < PEERS; i++)
        if (relooks[i].pid == pid && now - relooks[i].at < RELOOK_NS)
            due = 0;
    if (due) {
        relooks[relooks_next % PEERS].pid = pid;
        relooks[relooks_next % PEERS].at = now;
        relooks_next++;
        for (unsigned i = 0; i < PEERS; i++)
            if (peers[i].b == b)
                peers[i].pid = 0; /* never found again; closed when evicted */
    }
    pthread_mutex_unlock(&lock);
    return due;
}

void shm_peer_put(struct shm_box *b)
{
    pthread_mutex_lock(&lock);
    unsigned i = 0;
    while (i < PEERS && peers[i].b != b)
        i++;
    if (i < PEERS)
        peers[i].refs--;
    pthread_mutex_unlock(&lock);
    if (i == PEERS)
        shm_box_close(&b->base); /* the cache was full of handles in use */
}

/* In the order the open path takes them: `lock` is held while this
 * process's own mailbox is opened, which takes call.c's locks (its
 * receive set), and handles.c's and hosts.c's locks are leaves. The other way round a
 * fork beside a first open deadlocked (ThreadSanitizer saw the cycle). */
void shm_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
    call_fork_prepare();
    handles_fork_prepare();
    hosts_fork_prepare();
}

void shm_fork_parent(void)
{
    hosts_fork_parent();
    handles_fork_parent();
    call_fork_after();
    pthread_mutex_unlock(&lock);
}

void shm_fork_child(void)
{
    hosts_fork_child();
    handles_fork_child();
    call_fork_after();
    pthread_mutex_unlock(&lock);
}

/* A normal exit removes this process's mailbox at once; after a crash the
 * next process to touch it notices the owner is gone. */
void shm_at_exit(void)
{
    poller_at_exit();
    handles_at_exit();
    if (self_box && self_pid == ident_self_pid())
        owner_remove(self_box);
}
