/* Round-trip latency: one process pings, the other pongs, each round trip
 * timed by the pinger. The clock is read once per round trip (each is timed
 * from the end of the previous one), so reading it costs one vDSO call. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "measure.h"
#include "session.h"
#include "stats.h"

struct lat_shared {
    _Atomic int ping_done;      /* the pinger has its last reply: the ponger may close */
    struct side_status side[2]; /* [0] pinger, [1] ponger */
    uint64_t n;
    int64_t ctxsw[2];
    int64_t samples[]; /* plan.lat_max round-trip times, ns */
};

struct lat_job {
    struct chan *c;
    struct lat_shared *sh;
    const struct plan *pl;
};

static int round_trip(struct chan *c, void *buf, enum msg_kind kind, uint64_t seq)
{
    hdr_put(buf, kind, 0, seq);
    int rc = c->mech->ping(c, buf, c->p.size);
    if (rc < 0)
        return rc;
    struct msg_hdr h = hdr_get(buf);
    return h.kind == kind && h.seq == seq ? 0 : -EBADMSG;
}

static int timed_loop(struct lat_job *j, void *buf, uint64_t *seq)
{
    struct lat_shared *sh = j->sh;
    int64_t start = now_ns(), prev = start;
    int rc = 0;
    uint64_t n = 0;
    while (n < j->pl->lat_max) {
        rc = round_trip(j->c, buf, MSG_TIMED, (*seq)++);
        if (rc < 0)
            break;
        int64_t t = now_ns();
        sh->samples[n++] = t - prev;
        prev = t;
        if (t - start >= j->pl->lat_ns)
            break;
    }
    sh->n = n;
    return rc;
}

static int pinger(void *arg, int index)
{
    (void)index;
    struct lat_job *j = arg;
    struct chan *c = j->c;
    struct side_status *st = &j->sh->side[0];
    int rc = c->mech->attach(c, ROLE_INITIATOR, 0);
    if (rc < 0)
        return side_fail(st, rc, "attach");
    void *buf = msgbuf_for(c);
    if (!buf)
        return side_fail(st, -ENOMEM, "buffer");
    /* Touch the shared sample pages now, not inside timed round trips. */
    memset(j->sh->samples, 0, j->pl->lat_max * sizeof(int64_t));

    uint64_t seq = 0;
    int64_t warm_end = now_ns() + j->pl->warm_ns;
    do {
        rc = round_trip(c, buf, MSG_WARM, seq++);
    } while (rc == 0 && (now_ns() < warm_end || seq < j->pl->warm_min));
    if (rc < 0)
        return side_fail(st, rc, "ping (warm-up)");

    int64_t cs = ctxsw_now();
    rc = timed_loop(j, buf, &seq);
    j->sh->ctxsw[0] = ctxsw_now() - cs;
    if (rc < 0)
        return side_fail(st, rc, "ping");
    rc = round_trip(c, buf, MSG_STOP, seq);
    if (rc < 0)
        return side_fail(st, rc, "ping (stop)");
    atomic_store(&j->sh->ping_done, 1);
    c->mech->detach(c);
    msgbuf_free(buf);
    return 0;
}

static int ponger(void *arg, int index)
{
    (void)index;
    struct lat_job *j = arg;
    struct chan *c = j->c;
    struct side_status *st = &j->sh->side[1];
    int rc = c->mech->attach(c, ROLE_RESPONDER, 0);
    if (rc < 0)
        return side_fail(st, rc, "attach");
    void *buf = msgbuf_for(c);
    if (!buf)
        return side_fail(st, -ENOMEM, "buffer");
    int64_t cs = -1;
    for (;;) {
        rc = c->mech->pong(c, buf, c->p.size);
        if (rc < 0)
            return side_fail(st, rc, "pong");
        struct msg_hdr h = hdr_get(buf);
        if (h.kind == MSG_TIMED && cs < 0)
            cs = ctxsw_now();
        if (h.kind == MSG_STOP)
            break;
    }
    j->sh->ctxsw[1] = cs < 0 ? 0 : ctxsw_now() - cs;
    wait_flag(&j->sh->ping_done);
    c->mech->detach(c);
    msgbuf_free(buf);
    return 0;
}

static void summarize(struct lat_shared *sh, struct lat_result *r)
{
    r->n = sh->n;
    if (r->n == 0) {
        r->ok = false;
        strcpy(r->note, "no round trip completed");
        return;
    }
    sort_samples(sh->samples, r->n);
    r->median_ns = quantile_sorted(sh->samples, r->n, 0.5);
    r->p99_ns = quantile_sorted(sh->samples, r->n, 0.99);
    r->ctxsw_per_msg = (double)(sh->ctxsw[0] + sh->ctxsw[1]) / (2.0 * (double)r->n);
}

int measure_latency(const struct mech *m, size_t size, const struct plan *pl, struct lat_result *r)
{
    memset(r, 0, sizeof(*r));
    struct chan c;
    int rc = session_open(&c, m, PATTERN_PINGPONG, size, 1, pl->dir, r->note, sizeof(r->note));
    if (rc < 0) {
        r->nosys = rc == -ENOSYS && m->nosys_note;
        r->na = true;
        return 0;
    }
    size_t shlen = sizeof(struct lat_shared) + pl->lat_max * sizeof(int64_t);
    struct lat_shared *sh = shared_alloc(shlen);
    if (!sh) {
        snprintf(r->note, sizeof(r->note), "harness: out of shared memory");
        session_close(&c);
        return 0;
    }
    struct lat_job job = {&c, sh, pl};
    struct procs ps = {0};
    rc = procs_start(&ps, pl->pin ? 1 : -1, ponger, &job, 0);
    if (rc == 0)
        rc = procs_start(&ps, pl->pin ? 0 : -1, pinger, &job, 0);
    if (rc < 0) {
        procs_kill(&ps);
        snprintf(r->note, sizeof(r->note), "harness: fork: %s", strerror(-rc));
    } else {
        rc = procs_wait(&ps, now_ns() + pl->warm_ns + pl->lat_ns + pl->grace_ns);
        r->ok = session_verdict(rc, &ps, sh->side, 2, m, r->note, sizeof(r->note), &r->nosys);
        r->na = r->nosys;
        if (r->ok)
            summarize(sh, r);
    }
    shared_free(sh, shlen);
    session_close(&c);
    return proc_interrupted() ? -EINTR : 0;
}
