#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbx.h>

#include "measure_failure.h"
#include "proc.h"
#include "stats.h"

#define MS           ((int64_t)1000000)
#define WAIT_NS      (5000 * MS) /* the waiter's timeout: far beyond any poll */
#define SETUP_NS     (5000 * MS) /* for a trial's processes to get in place */
#define MAX_DELAY_MS 60          /* the event comes 0..60 ms after the waiter blocks */
#define POLL_STEP_NS (200 * 1000)
#define TRIALS_MAX   1000

const char *const fail_names[N_FAIL] = {"detect_owner_death", "detect_owner_death_heap",
                                        "detect_taker_death", "detect_rr_turn_death",
                                        "detect_unlink"};
const char *const fail_events[N_FAIL] = {
    "owner killed (MBX_OWNED ring, kill -9)",
    "owner killed (MBX_OWNED heap, kill -9)",
    "request's taker killed before replying",
    "message for a stopped round-robin turn",
    "mbx_unlink",
};
const char *const fail_waiters[N_FAIL] = {
    "blocked sender: -EIDRM",     "blocked sender: -EIDRM",   "mbx_call: -EPIPE",
    "next receiver: the message", "blocked receiver: -EIDRM",
};

/* Shared with the trial's processes. */
struct trial {
    char name[64];
    int heap;                /* the owner makes a heap mailbox (MBX_QUEUE=heap) */
    _Atomic int ready;       /* the victim is in place (owner made, request taken) */
    _Atomic int64_t done_ns; /* when the waiter's call returned */
    _Atomic long result;     /* what it returned */
};

/* ---- the processes of a trial ---- */

static mbx *open_or_fail(const char *name, int flags)
{
    mbx *m = NULL;
    return mbx_open(name, flags, NULL, &m) == 0 ? m : NULL;
}

static void finish(struct trial *t, long result)
{
    atomic_store(&t->done_ns, now_ns());
    atomic_store(&t->result, result);
}

static int owner_main(void *arg, int index)
{
    (void)index;
    struct trial *t = arg;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1;
    a.max_msg_size = 64;
    if (t->heap)
        setenv("MBX_QUEUE", "heap", 1);
    mbx *m;
    if (mbx_open(t->name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL | MBX_OWNED, &a, &m) != 0 ||
        mbx_send(m, "full", 4, 0, MBX_NONBLOCK) != 0)
        return 1;
    atomic_store(&t->ready, 1);
    for (;;)
        pause();
}

static int blocked_sender_main(void *arg, int index)
{
    (void)index;
    struct trial *t = arg;
    mbx *m = open_or_fail(t->name, MBX_SEND);
    if (!m)
        return 1;
    finish(t, mbx_send(m, "more", 4, 0, WAIT_NS));
    return 0;
}

static int taker_main(void *arg, int index)
{
    (void)index;
    struct trial *t = arg;
    mbx *m = open_or_fail(t->name, MBX_RECV);
    char req[64];
    mbx_msginfo info;
    if (!m || mbx_recv(m, req, sizeof(req), &info, WAIT_NS) < 0)
        return 1;
    atomic_store(&t->ready, 1); /* took it; never replies */
    for (;;)
        pause();
}

static int caller_main(void *arg, int index)
{
    (void)index;
    struct trial *t = arg;
    mbx *m = open_or_fail(t->name, MBX_SEND);
    if (!m)
        return 1;
    char reply[64];
    finish(t, (long)mbx_call(m, "req", 3, 0, reply, sizeof(reply), WAIT_NS));
    return 0;
}

/* A receiver that sleeps while it waits (so mbx_stat counts it). */
static int receiver_main(void *arg, int index)
{
    (void)index;
    struct trial *t = arg;
    mbx *m = open_or_fail(t->name, MBX_RECV);
    if (!m)
        return 1;
    mbx_set_spin(m, 0);
    char buf[64];
    finish(t, (long)mbx_recv(m, buf, sizeof(buf), NULL, WAIT_NS));
    return 0;
}

/* ---- the parent's side ---- */

static uint64_t rng_state;

static int64_t random_delay_ns(void)
{
    if (!rng_state)
        rng_state = (uint64_t)now_ns() | 1;
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int64_t)(rng_state % (MAX_DELAY_MS * 1000)) * 1000;
}

struct run {
    struct procs ps;
    struct trial *t;
    char *note;
    size_t notelen;
};

static int fail_with(struct run *run, int rc, const char *fmt, const char *what)
{
    snprintf(run->note, run->notelen, fmt, what);
    return rc;
}

/* Sleeps a step, watching the children. Returns 0, -EINTR, or -ECHILD. */
static int step(struct run *run)
{
    return procs_sleep(&run->ps, now_ns() + POLL_STEP_NS);
}

static int await_ready(struct run *run)
{
    int64_t deadline = now_ns() + SETUP_NS;
    while (!atomic_load(&run->t->ready)) {
        int rc = now_ns() < deadline ? step(run) : -ETIMEDOUT;
        if (rc)
            return fail_with(run, rc, "%s", rc == -EINTR ? "interrupted" : "victim not ready");
    }
    return 0;
}

/* Waits until mbx_stat counts n senders (or receivers) asleep. */
static int await_sleepers(struct run *run, int senders, unsigned n)
{
    int64_t deadline = now_ns() + SETUP_NS;
    for (;;) {
        mbx_stat st;
        int rc = mbx_stat_name(run->t->name, &st);
        if (rc)
            return fail_with(run, rc, "mbx_stat_name: %s", mbx_strerror(rc));
        if ((senders ? st.senders_waiting : st.receivers_waiting) >= n)
            return 0;
        rc = now_ns() < deadline ? step(run) : -ETIMEDOUT;
        if (rc)
            return fail_with(run, rc, "%s", rc == -EINTR ? "interrupted" : "waiter never slept");
    }
}

static int pause_randomly(struct run *run)
{
    int rc = procs_sleep(&run->ps, now_ns() + random_delay_ns());
    return rc ? fail_with(run, rc, "%s", rc == -EINTR ? "interrupted" : "a process failed") : 0;
}

/* Kills child i (on purpose: not a failure) and reaps it. */
static void kill_victim(struct run *run, int i)
{
    kill(run->ps.pid[i], SIGKILL);
    int st;
    while (waitpid(run->ps.pid[i], &st, 0) < 0 && errno == EINTR)
        ;
    run->ps.reaped[i] = true;
    run->ps.status[i] = 0;
}

/* Waits for the waiter to return; checks what it returned. */
static int await_waiter(struct run *run, long want, int64_t t0, int64_t *sample)
{
    int rc = procs_wait(&run->ps, now_ns() + WAIT_NS + SETUP_NS);
    if (rc)
        return fail_with(run, rc, "%s", rc == -EINTR ? "interrupted" : "waiter did not finish");
    long got = atomic_load(&run->t->result);
    if (got != want) {
        snprintf(run->note, run->notelen, "the waiter got %ld (%s), not %ld", got,
                 got < 0 ? mbx_strerror((int)got) : "a message", want);
        return -EPROTO;
    }
    *sample = atomic_load(&run->t->done_ns) - t0;
    return 0;
}

static int create(struct run *run, int policy)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 4;
    a.max_msg_size = 64;
    a.recv_policy = policy;
    mbx *m;
    int rc = mbx_open(run->t->name, MBX_SEND | MBX_CREATE | MBX_EXCL, &a, &m);
    if (rc)
        return fail_with(run, rc, "mbx_open: %s", mbx_strerror(rc));
    mbx_close(m);
    return 0;
}

static int trial_owner(struct run *run, int64_t *sample)
{
    int rc = procs_start(&run->ps, -1, owner_main, run->t, 0);
    if (!rc)
        rc = await_ready(run);
    if (!rc)
        rc = procs_start(&run->ps, -1, blocked_sender_main, run->t, 1);
    if (!rc)
        rc = await_sleepers(run, 1, 1);
    if (!rc)
        rc = pause_randomly(run);
    if (rc)
        return rc;
    int64_t t0 = now_ns();
    kill_victim(run, 0);
    return await_waiter(run, -EIDRM, t0, sample);
}

static int trial_call(struct run *run, int64_t *sample)
{
    int rc = create(run, MBX_RECV_ANY);
    if (!rc)
        rc = procs_start(&run->ps, -1, taker_main, run->t, 0);
    if (!rc)
        rc = procs_start(&run->ps, -1, caller_main, run->t, 1);
    if (!rc)
        rc = await_ready(run);
    if (!rc)
        rc = pause_randomly(run);
    if (rc)
        return rc;
    int64_t t0 = now_ns();
    kill_victim(run, 0);
    return await_waiter(run, -EPIPE, t0, sample);
}

/* Stops receiver i asleep: counted by mbx_stat as one of n sleepers, so
 * between its look at the turns and the next, without the lock. */
static int stop_asleep(struct run *run, int i, unsigned n)
{
    for (int tries = 0; tries < 1000; tries++) {
        kill(run->ps.pid[i], SIGSTOP);
        int st;
        if (waitpid(run->ps.pid[i], &st, WUNTRACED) != run->ps.pid[i] || !WIFSTOPPED(st))
            return fail_with(run, -ECHILD, "%s", "receiver did not stop");
        mbx_stat s;
        int rc = mbx_stat_name(run->t->name, &s);
        if (rc)
            return fail_with(run, rc, "mbx_stat_name: %s", mbx_strerror(rc));
        if (s.receivers_waiting >= n)
            return 0;
        kill(run->ps.pid[i], SIGCONT);
        if ((rc = step(run)))
            return fail_with(run, rc, "%s", rc == -EINTR ? "interrupted" : "a process failed");
    }
    return fail_with(run, -ETIMEDOUT, "%s", "could not stop the receiver asleep");
}

static int trial_rr(struct run *run, int64_t *sample)
{
    int rc = create(run, MBX_RECV_ROUND_ROBIN);
    if (!rc)
        rc = procs_start(&run->ps, -1, receiver_main, run->t, 0);
    if (!rc)
        rc = await_sleepers(run, 0, 1); /* it holds the first ticket */
    if (!rc)
        rc = procs_start(&run->ps, -1, receiver_main, run->t, 1);
    if (!rc)
        rc = await_sleepers(run, 0, 2);
    if (!rc)
        rc = stop_asleep(run, 0, 2); /* its turn, but it takes nothing */
    if (rc)
        return rc;
    if ((rc = pause_randomly(run)))
        return rc;
    /* The event is the message: a stopped holder's turn passes on (a
     * stopped receiver must not starve the others), so timing a kill that
     * came later measured nothing (the row read negative). */
    mbx *m = open_or_fail(run->t->name, MBX_SEND);
    int64_t t0 = now_ns();
    rc = m ? mbx_send(m, "msg", 3, 0, MBX_NONBLOCK) : -ENOENT;
    if (m)
        mbx_close(m);
    if (rc)
        return fail_with(run, rc, "mbx_send: %s", mbx_strerror(rc));
    int64_t deadline = now_ns() + WAIT_NS + SETUP_NS;
    while (atomic_load(&run->t->done_ns) == 0) {
        rc = now_ns() < deadline ? step(run) : -ETIMEDOUT;
        if (rc)
            return fail_with(run, rc, "%s",
                             rc == -EINTR ? "interrupted" : "the next receiver got nothing");
    }
    kill_victim(run, 0); /* still stopped; the trial is over */
    return await_waiter(run, 3, t0, sample);
}

static int trial_unlink(struct run *run, int64_t *sample)
{
    int rc = create(run, MBX_RECV_ANY);
    if (!rc)
        rc = procs_start(&run->ps, -1, receiver_main, run->t, 0);
    if (!rc)
        rc = await_sleepers(run, 0, 1);
    if (!rc)
        rc = pause_randomly(run);
    if (rc)
        return rc;
    int64_t t0 = now_ns();
    rc = mbx_unlink(run->t->name);
    if (rc)
        return fail_with(run, rc, "mbx_unlink: %s", mbx_strerror(rc));
    return await_waiter(run, -EIDRM, t0, sample);
}

int measure_failure(enum fail_kind k, const struct plan *pl, struct fail_result *r)
{
    static int (*const trials[N_FAIL])(struct run *, int64_t *) = {
        trial_owner, trial_owner, trial_call, trial_rr, trial_unlink};
    memset(r, 0, sizeof(*r));
    int n = pl->fail_trials < 1 ? 1 : pl->fail_trials > TRIALS_MAX ? TRIALS_MAX : pl->fail_trials;
    int64_t *samples = calloc((size_t)n, sizeof(*samples));
    struct trial *t = shared_alloc(sizeof(*t));
    if (!samples || !t) {
        free(samples);
        shared_free(t, sizeof(*t));
        snprintf(r->note, sizeof(r->note), "out of memory");
        return 0;
    }
    int rc = 0;
    int i;
    for (i = 0; i < n; i++) {
        memset(t, 0, sizeof(*t));
        snprintf(t->name, sizeof(t->name), "bench.fail.%d.%d", (int)k, i);
        t->heap = k == FAIL_OWNER_HEAP;
        struct run run = {.t = t, .note = r->note, .notelen = sizeof(r->note)};
        rc = trials[k](&run, &samples[i]);
        procs_kill(&run.ps);
        mbx_unlink(t->name); /* gone already, unless the trial failed */
        if (rc)
            break;
    }
    if (rc == 0) {
        sort_samples(samples, (size_t)n);
        r->ok = true;
        r->n = n;
        r->median_ns = quantile_sorted(samples, (size_t)n, 0.5);
        r->p99_ns = quantile_sorted(samples, (size_t)n, 0.99);
        r->max_ns = (double)samples[n - 1];
    } else if (rc != -EINTR) {
        char why[sizeof(r->note)];
        snprintf(why, sizeof(why), "%s", r->note);
        snprintf(r->note, sizeof(r->note), "trial %d: %.180s", i + 1, why);
    }
    free(samples);
    shared_free(t, sizeof(*t));
    return rc == -EINTR ? -EINTR : 0;
}
