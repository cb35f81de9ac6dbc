/* A supervisor restarts its worker whenever it dies. The worker takes jobs
 * from "sup-jobs" and reports each result to the supervisor's own mailbox
 * (mbx_self); mbx_monitor_process sends a death notice (struct mbx_notice)
 * to that same mailbox when the worker ends, by any means, so one receive
 * loop sees results and deaths in the order they happened. By design a
 * worker crashes (abort) after CRASH_AFTER jobs, and one job makes it hang
 * until the supervisor kills it with SIGKILL; that job is then handed to
 * the next worker. The example checks that every death gave exactly one
 * notice and one restart, and that every job was done exactly once. */
#include <mbx.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define JOBS        30
#define CRASH_AFTER 6  /* a worker aborts after this many jobs */
#define HANG_JOB    15 /* hangs on its first attempt: the supervisor kills it */
#define WORKERS_MAX 16

enum { JOB, STOP, RESULT, STUCK };

/* A job (to the worker), a result or "stuck on it" (to the supervisor). */
struct msg {
    uint32_t kind;
    int32_t job, attempt, value;
};

/* Squares numbers. Reports STUCK and waits to be killed on HANG_JOB's first
 * attempt; aborts, no core dump, after CRASH_AFTER jobs. */
static int work(const char *inbox)
{
    mbx *jobs, *sup;
    if (mbx_open("sup-jobs", MBX_RECV, NULL, &jobs) != 0 || mbx_open(inbox, MBX_SEND, NULL, &sup))
        return 1;
    alarm(30); /* a safety net, should the supervisor fail to end this process */
    for (int done = 0;;) {
        struct msg m;
        if (mbx_recv(jobs, &m, sizeof(m), NULL, 10000000000) != sizeof(m))
            return 1;
        if (m.kind == STOP)
            return 0;
        if (m.job == HANG_JOB && m.attempt == 0) {
            m.kind = STUCK;
            mbx_send(sup, &m, sizeof(m), 0, MBX_FOREVER);
            for (;;)
                pause();
        }
        m.kind = RESULT;
        m.value = m.job * m.job;
        if (mbx_send(sup, &m, sizeof(m), 0, MBX_FOREVER) != 0)
            return 1;
        if (++done == CRASH_AFTER) {
            struct rlimit none = {0, 0};
            setrlimit(RLIMIT_CORE, &none);
            abort();
        }
    }
}

struct worker {
    pid_t pid;
    mbx_monitor *mon;
    int notices, status;
};

struct sup {
    mbx *inbox, *jobs;
    char inbox_name[16];
    struct worker w[WORKERS_MAX];
    int nworkers, done[JOBS], attempt, next_job, notices, restarts, bad;
};

/* Hands job s->next_job to whichever worker takes it next. */
static void send_job(struct sup *s)
{
    struct msg m = {s->next_job < JOBS ? JOB : STOP, s->next_job, s->attempt, 0};
    if (mbx_send(s->jobs, &m, sizeof(m), 0, MBX_NONBLOCK) != 0)
        s->bad = 1;
}

/* Forks worker number s->nworkers and monitors it; its number is the tag. */
static void start_worker(struct sup *s)
{
    struct worker *w = &s->w[s->nworkers];
    fflush(stdout);
    w->pid = fork();
    if (w->pid == 0)
        _exit(work(s->inbox_name));
    if (w->pid < 0 || mbx_monitor_process(w->pid, s->inbox, (uint64_t)s->nworkers, &w->mon) != 0)
        s->bad = 1;
    s->nworkers++;
}

/* A worker's death: reaps it, takes back a job it left queued, hands the
 * current job again unless its result came (a result sent before the death
 * is queued before the notice), and starts the next worker. */
static void on_notice(struct sup *s, const mbx_notice *n)
{
    if (n->magic != MBX_NOTICE_MAGIC || n->kind != MBX_NOTICE_PROCESS ||
        n->tag >= (uint64_t)s->nworkers || s->w[n->tag].pid != n->pid ||
        n->reason != MBX_GONE_NOW) {
        printf("unexpected notice: kind %u, pid %d, tag %llu\n", n->kind, n->pid,
               (unsigned long long)n->tag);
        s->bad = 1;
        return;
    }
    struct worker *w = &s->w[n->tag];
    s->notices++;
    mbx_notice again;
    if (++w->notices > 1 || mbx_monitor_fired(w->mon, &again) != 1 || again.pid != n->pid)
        s->bad = 1;
    mbx_monitor_cancel(w->mon); /* fired: nothing more can come from it */
    w->mon = NULL;
    waitpid(w->pid, &w->status, 0);
    if (WIFSIGNALED(w->status))
        printf("worker %llu (pid %d) died of signal %d; jobs done so far: %d\n",
               (unsigned long long)n->tag, n->pid, WTERMSIG(w->status), s->next_job);
    if (s->next_job > JOBS) /* it was told to stop */
        return;
    struct msg left;
    while (mbx_recv(s->jobs, &left, sizeof(left), NULL, MBX_NONBLOCK) > 0) {
    }
    if (s->nworkers == WORKERS_MAX) {
        s->bad = 1;
        return;
    }
    s->restarts++;
    start_worker(s);
    send_job(s);
}

/* A result: counts it and hands out the next job (or the stop). */
static void on_result(struct sup *s, const struct msg *m)
{
    if (m->job != s->next_job || m->value != m->job * m->job || ++s->done[m->job] > 1) {
        printf("bad result for job %d\n", m->job);
        s->bad = 1;
        return;
    }
    s->next_job++;
    s->attempt = 0;
    send_job(s);
    if (s->next_job == JOBS)
        s->next_job++; /* the stop is out */
}

/* Receives results, "stuck" reports and notices until the last worker,
 * told to stop, has died; 10 s without a message fails. */
static void supervise(struct sup *s)
{
    start_worker(s);
    send_job(s);
    while (!s->bad) {
        union {
            struct msg m;
            mbx_notice n;
        } u;
        ssize_t len = mbx_recv(s->inbox, &u, sizeof(u), NULL, 10000000000);
        if (len == sizeof(mbx_notice) && u.n.magic == MBX_NOTICE_MAGIC) {
            on_notice(s, &u.n);
            if (s->next_job > JOBS)
                return;
        } else if (len == sizeof(struct msg) && u.m.kind == RESULT) {
            on_result(s, &u.m);
        } else if (len == sizeof(struct msg) && u.m.kind == STUCK) {
            kill(s->w[s->nworkers - 1].pid, SIGKILL); /* its notice will follow */
            s->attempt++;
        } else {
            printf("inbox: %s\n", len < 0 ? mbx_strerror((int)len) : "unexpected message");
            s->bad = 1;
        }
    }
}

/* After all monitors were cancelled, sends a marker to the inbox and
 * receives up to it: anything before it is a notice too many. */
static int no_extra_notices(struct sup *s)
{
    struct msg marker = {STOP, -1, 0, 0}, m;
    if (mbx_send(s->inbox, &marker, sizeof(marker), 0, MBX_NONBLOCK) != 0)
        return 0;
    ssize_t n = mbx_recv(s->inbox, &m, sizeof(m), NULL, MBX_NONBLOCK);
    return n == sizeof(m) && m.kind == STOP && m.job == -1;
}

int main(void)
{
    static struct sup s;
    int r = mbx_self(&s.inbox); /* the supervisor's own mailbox, "@PID" */
    if (r == 0)
        r = mbx_open("sup-jobs", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &s.jobs);
    if (r != 0) {
        fprintf(stderr, "open: %s\n", mbx_strerror(r));
        return 1;
    }
    snprintf(s.inbox_name, sizeof(s.inbox_name), "@%d", (int)getpid());
    supervise(&s);

    for (int i = 0; i < s.nworkers; i++) /* after a failure: none left behind */
        if (s.w[i].mon) {
            kill(s.w[i].pid, SIGKILL);
            waitpid(s.w[i].pid, &s.w[i].status, 0);
            mbx_monitor_cancel(s.w[i].mon);
        }
    int ok = !s.bad && no_extra_notices(&s);
    int aborted = 0, killed = 0, stopped = 0, done = 0;
    for (int i = 0; i < s.nworkers; i++) {
        int st = s.w[i].status;
        aborted += WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
        killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        stopped += WIFEXITED(st) && WEXITSTATUS(st) == 0;
        ok &= s.w[i].notices == 1;
    }
    for (int j = 0; j < JOBS; j++)
        done += s.done[j] == 1;
    int last = s.w[s.nworkers - 1].status;
    ok &= WIFEXITED(last) && WEXITSTATUS(last) == 0;
    printf("%d workers: %d aborted, %d killed, %d stopped; %d notices, %d restarts; "
           "%d of %d jobs done once each\n",
           s.nworkers, aborted, killed, stopped, s.notices, s.restarts, done, JOBS);
    /* Jobs 0-5 and 6-11 end in aborts, 15 hangs (killed), 15-20 and 21-26 abort. */
    ok &= aborted == 4 && killed == 1 && stopped == 1 && s.restarts == 5 && s.nworkers == 6 &&
          done == JOBS && s.notices == s.nworkers;
    mbx_close(s.jobs);
    mbx_unlink("sup-jobs");
    return ok ? 0 : 1;
}
