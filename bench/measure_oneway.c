/* One-way throughput: senders send as fast as the mechanism takes messages
 * until the parent says stop, each then sends an end message carrying its
 * count; the receiver checks every message's sender and sequence number and
 * stops at the last end message. The rate is the messages after the first
 * over the time from the first to the last, so connection set-up (zmq, nng)
 * and process start-up stay out of it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "measure.h"
#include "session.h"

struct ow_shared {
    _Atomic int ready;    /* processes attached */
    _Atomic int finished; /* the receiver has everything: senders may close */
    /* Read by every sender on every message: kept on a line of its own that
     * nobody writes until the end. */
    _Alignas(64) _Atomic int go;
    _Atomic int stop;
    _Alignas(64) int64_t t_first, t_end;
    uint64_t received;
    uint64_t sent, gaps;                /* lossy rows: what the senders sent, what never came */
    char lost[160];                     /* the first sequence mismatch, if any */
    struct side_status side[PROCS_MAX]; /* [0] receiver, [1 + i] sender i */
};

struct ow_job {
    struct chan *c;
    struct ow_shared *sh;
};

static void note_mismatch(struct ow_shared *sh, uint32_t sender, uint64_t want, uint64_t got)
{
    if (!sh->lost[0])
        snprintf(sh->lost, sizeof(sh->lost), "sender %u: expected message %llu, got %llu", sender,
                 (unsigned long long)want, (unsigned long long)got);
}

static int receiver(void *arg, int index)
{
    (void)index;
    struct ow_job *j = arg;
    struct chan *c = j->c;
    struct ow_shared *sh = j->sh;
    struct side_status *st = &sh->side[0];
    int rc = c->mech->attach(c, ROLE_RESPONDER, 0);
    if (rc < 0)
        return side_fail(st, rc, "attach");
    void *buf = msgbuf_for(c);
    if (!buf)
        return side_fail(st, -ENOMEM, "buffer");
    atomic_fetch_add(&sh->ready, 1);

    uint64_t expect[PROCS_MAX] = {0}, total = 0;
    bool ended[PROCS_MAX] = {false};
    bool lossy = c->mech->lossy;
    int ends = 0;
    while (ends < c->p.senders) {
        ssize_t n = c->mech->recv(c, buf, c->p.size);
        if (n < 0)
            return side_fail(st, (int)n, "recv");
        if (total == 0 && ends == 0)
            sh->t_first = now_ns();
        struct msg_hdr h = hdr_get(buf);
        if (h.sender >= (uint32_t)c->p.senders)
            return side_fail(st, -EBADMSG, "recv (unknown sender)");
        if (h.kind == MSG_END && lossy) {
            /* Sent again until it came: the first one counts. */
            if (!ended[h.sender]) {
                ended[h.sender] = true;
                sh->sent += h.seq;
                if (h.seq > expect[h.sender])
                    sh->gaps += h.seq - expect[h.sender];
                ends++;
            }
            continue;
        }
        if (h.kind == MSG_END) {
            if (h.seq != expect[h.sender] && !sh->lost[0])
                snprintf(sh->lost, sizeof(sh->lost), "sender %u sent %llu, %llu arrived", h.sender,
                         (unsigned long long)h.seq, (unsigned long long)expect[h.sender]);
            ends++;
            continue;
        }
        if (lossy && h.seq > expect[h.sender]) {
            sh->gaps += h.seq - expect[h.sender]; /* lost on the way */
            expect[h.sender] = h.seq;
        }
        if (h.seq != expect[h.sender]) {
            note_mismatch(sh, h.sender, expect[h.sender], h.seq);
            expect[h.sender] = h.seq;
        }
        expect[h.sender]++;
        total++;
    }
    sh->t_end = now_ns();
    sh->received = total;
    atomic_store(&sh->finished, 1);
    c->mech->detach(c);
    msgbuf_free(buf);
    return 0;
}

static int sender(void *arg, int index)
{
    struct ow_job *j = arg;
    struct chan *c = j->c;
    struct ow_shared *sh = j->sh;
    struct side_status *st = &sh->side[1 + index];
    int rc = c->mech->attach(c, ROLE_INITIATOR, index);
    if (rc < 0)
        return side_fail(st, rc, "attach");
    void *buf = msgbuf_for(c);
    if (!buf)
        return side_fail(st, -ENOMEM, "buffer");
    atomic_fetch_add(&sh->ready, 1);
    struct timespec nap = {0, 50000};
    while (!atomic_load(&sh->go))
        nanosleep(&nap, NULL);

    uint64_t seq = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        hdr_put(buf, MSG_DATA, (uint32_t)index, seq);
        rc = c->mech->send(c, buf, c->p.size);
        if (rc < 0)
            return side_fail(st, rc, "send");
        seq++;
    }
    hdr_put(buf, MSG_END, (uint32_t)index, seq);
    rc = c->mech->send(c, buf, c->p.size);
    if (rc < 0)
        return side_fail(st, rc, "send (end)");
    /* A lossy mechanism may lose the end too: it goes again every 2 ms
     * (for up to 2 s) until the receiver has it. */
    for (int i = 0; c->mech->lossy && i < 1000 && !atomic_load(&sh->finished); i++) {
        struct timespec gap = {0, 2000000};
        nanosleep(&gap, NULL);
        hdr_put(buf, MSG_END, (uint32_t)index, seq);
        rc = c->mech->send(c, buf, c->p.size);
        if (rc < 0)
            return side_fail(st, rc, "send (end)");
    }
    wait_flag(&sh->finished);
    c->mech->detach(c);
    msgbuf_free(buf);
    return 0;
}

/* Starts the children, waits until all are attached, lets the senders go for
 * run_ns, stops them and waits for the receiver to drain. */
static int drive(struct procs *ps, struct ow_job *job, int senders, int64_t run_ns,
                 const struct plan *pl)
{
    struct ow_shared *sh = job->sh;
    int rc = procs_start(ps, pl->pin ? 1 : -1, receiver, job, 0);
    for (int i = 0; i < senders && rc == 0; i++)
        rc = procs_start(ps, pl->pin ? 0 : -1, sender, job, i);
    if (rc < 0) {
        procs_kill(ps);
        return rc;
    }
    int64_t attach_deadline = now_ns() + pl->grace_ns;
    while (rc == 0 && atomic_load(&sh->ready) < senders + 1) {
        if (now_ns() > attach_deadline)
            rc = -ETIMEDOUT;
        else
            rc = procs_sleep(ps, now_ns() + 1000000);
    }
    if (rc == 0) {
        atomic_store(&sh->go, 1);
        rc = procs_sleep(ps, now_ns() + run_ns);
        atomic_store(&sh->stop, 1);
    }
    if (rc < 0) {
        procs_kill(ps);
        return rc;
    }
    return procs_wait(ps, now_ns() + pl->grace_ns);
}

int measure_oneway(const struct mech *m, size_t size, int senders, int64_t run_ns,
                   const struct plan *pl, struct rate_result *r)
{
    memset(r, 0, sizeof(*r));
    struct chan c;
    int rc = session_open(&c, m, PATTERN_ONEWAY, size, senders, pl->dir, r->note, sizeof(r->note));
    if (rc < 0) {
        r->nosys = rc == -ENOSYS && m->nosys_note;
        r->na = true;
        return 0;
    }
    struct ow_shared *sh = shared_alloc(sizeof(*sh));
    if (!sh) {
        snprintf(r->note, sizeof(r->note), "harness: out of shared memory");
        session_close(&c);
        return 0;
    }
    struct ow_job job = {&c, sh};
    struct procs ps = {0};
    rc = drive(&ps, &job, senders, run_ns, pl);
    if (rc == -EAGAIN || rc == -ENOMEM) {
        snprintf(r->note, sizeof(r->note), "harness: fork: %s", strerror(-rc));
    } else {
        r->ok =
            session_verdict(rc, &ps, sh->side, senders + 1, m, r->note, sizeof(r->note), &r->nosys);
        r->na = r->nosys;
    }
    if (r->ok && sh->lost[0]) {
        r->ok = false;
        snprintf(r->note, sizeof(r->note), "LOST or reordered: %s", sh->lost);
    }
    if (r->ok && sh->received < 2) {
        r->ok = false;
        snprintf(r->note, sizeof(r->note), "fewer than 2 messages arrived in the time");
    }
    if (r->ok) {
        double secs = (double)(sh->t_end - sh->t_first) / 1e9;
        r->msgs = sh->received;
        r->msgs_per_s = (double)(r->msgs - 1) / secs;
        r->mb_per_s = r->msgs_per_s * (double)size / 1e6;
        r->lossy = m->lossy;
        r->sent = sh->sent;
        r->lost = sh->gaps;
        if (m->lossy)
            snprintf(r->note, sizeof(r->note), "%s: %llu of %llu messages lost (%.1f%%)",
                     mech_label(m), (unsigned long long)sh->gaps, (unsigned long long)sh->sent,
                     sh->sent ? 100.0 * (double)sh->gaps / (double)sh->sent : 0.0);
    }
    shared_free(sh, sizeof(*sh));
    session_close(&c);
    return proc_interrupted() ? -EINTR : 0;
}
