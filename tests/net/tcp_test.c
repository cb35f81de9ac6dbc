/* tcp:// mailboxes on loopback: a gateway in this process (or a child, to
 * be killed), clients through the library, and a fault-injecting proxy
 * between them where the link must break. Only mbx.h is used.
 *
 * Built a second time with MBX_TEST_TLS as tcp_tls_test: the same tests
 * over tls:// names, to a gateway with a certificate made at test time. */
#include "test_box.h"

#include "short_gateway.h"
#include "tcp_proxy.h"
#include "test_call.h"
#include "test_threads.h"
#include "tls_certs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char secret_path[300];
static mbx_gateway *gw;
static int gw_port;

#ifdef MBX_TEST_TLS
#define SCHEME "tls"
#else
#define SCHEME "tcp"
#endif

static void write_secret(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
}

static int setup(void **state)
{
    if (test_dir_setup(state))
        return -1;
    snprintf(secret_path, sizeof(secret_path), "%s/secret", test_dir);
    write_secret(secret_path, "0123456789abcdef0123456789abcdef\n", 0600);
    setenv("MBX_SECRET_FILE", secret_path, 1);
    /* These tests are about the network path: a gateway on this machine
     * is not skipped (bypass_on_this_machine tests that). */
    setenv("MBX_TCP_BYPASS", "0", 1);
    static const char *const allow[] = {"jobs*", "rv",    "gone",  "full",  "calls",
                                        "cut*",  "frag*", "conf*", "deep*", NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = allow;
    /* The default, 30 s: on a loaded machine a link cut every few tens of
     * ms (a TLS handshake each time) can stay down for seconds, and a
     * session that ends puts its held message back behind the others,
     * which the in-order checks here would see. tcp_wire_test tests the
     * end of a session. */
    o.linger_ms = 30000;
#ifdef MBX_TEST_TLS
    static char cert[320], key[320], ca[320];
    if (tls_make_certs(test_dir)) {
        fprintf(stderr, "tcp_tls_test: no openssl command to make certificates (apt-get install "
                        "openssl): skipped\n");
        test_dir_remove();
        exit(77);
    }
    snprintf(cert, sizeof(cert), "%s/srv.pem", test_dir);
    snprintf(key, sizeof(key), "%s/srv.key", test_dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", test_dir);
    setenv("MBX_TLS_CA", ca, 1);
    o.tls_cert = cert;
    o.tls_key = key;
#endif
    if (mbx_gateway_start("127.0.0.1:0", &o, &gw))
        return -1;
    gw_port = mbx_gateway_port(gw);
    return 0;
}

static int teardown(void **state)
{
    mbx_gateway_stop(gw);
    return test_dir_teardown(state);
}

static void remote_name(char *buf, size_t cap, int port, const char *box)
{
    snprintf(buf, cap, SCHEME "://127.0.0.1:%d/%s", port, box);
}

static mbx *open_remote(int port, const char *box, int flags)
{
    char name[128];
    remote_name(name, sizeof(name), port, box);
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, flags, NULL, &m), 0);
    return m;
}

struct waiting_recv {
    mbx *m;
    ssize_t got;
};

static void *recv_for_a_while(void *arg)
{
    struct waiting_recv *w = arg;
    char buf[64];
    w->got = mbx_recv(w->m, buf, sizeof(buf), NULL, 3000000000ll);
    return NULL;
}

/* Starts a thread receiving on w->m for 3 s, and returns once the receive
 * waits in the gateway's receive on mailbox local: the thread is inside
 * its call, holding the handle. */
static pthread_t receive_waiting(struct waiting_recv *w, mbx *local)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, recv_for_a_while, w), 0);
    mbx_stat st;
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(mbx_stat_get(local, &st), 0);
        if (st.receivers_waiting)
            break;
        usleep(1000);
    }
    assert_int_not_equal(st.receivers_waiting, 0);
    return t;
}

/* A message a remote client sent says which host it came from (the
 * client's address as the gateway saw it: loopback here); one sent on
 * this machine says none. In a ring mailbox and in a heap one. */
static void remote_sender_names_its_host(void **state)
{
    (void)state;
    const char *boxes[] = {"jobs-host-ring", "jobs-host-heap"};
    const uint32_t capacity[] = {8, 2048};
    for (int k = 0; k < 2; k++) {
        mbx *local = test_box(boxes[k], capacity[k], 64, 0);
        mbx *remote = open_remote(gw_port, boxes[k], MBX_SEND);
        assert_int_equal(mbx_send(remote, "far", 3, 0, 5000000000ll), 0);
        assert_int_equal(mbx_sync(remote), 0);
        assert_int_equal(mbx_send(local, "near", 4, 0, MBX_NONBLOCK), 0);
        char buf[64], host[64];
        mbx_msginfo info;
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), &info, 5000000000ll), 3);
        assert_int_not_equal(info.sender_host, 0);
        assert_int_equal(mbx_msginfo_host(&info, host, sizeof(host)), 1);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(mbx_msginfo_host(&info, host, 4), -ERANGE);
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), &info, 5000000000ll), 4);
        assert_int_equal(info.sender_host, 0);
        assert_int_equal(info.sender_pid, getpid());
        host[0] = 'x';
        assert_int_equal(mbx_msginfo_host(&info, host, sizeof(host)), 0);
        assert_string_equal(host, "");
        assert_int_equal(mbx_msginfo_host(NULL, host, sizeof(host)), -EINVAL);
        mbx_close(remote);
        mbx_close(local);
        mbx_unlink(boxes[k]);
    }
}

/* A process forks while another of its threads waits in a receive on a
 * tcp:// handle, which holds the handle while it waits: the child's copy
 * of the handle's lock stays taken by a thread the child does not have.
 * The child's calls on the inherited handle must still work (they hung
 * for ever: found as a 300 s timeout of tcp_tls_test under ASan, where the
 * writer thread held the TLS lock at a fork). */
static void fork_while_a_receive_waits(void **state)
{
    (void)state;
    mbx *local = test_box("jobs-fork", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "jobs-fork", MBX_SEND | MBX_RECV);
    assert_int_equal(mbx_send(remote, "warm", 4, 0, 5000000000ll), 0);
    char buf[64];
    assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll), 4);
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    /* ThreadSanitizer cannot fork a threaded parent; AddressSanitizer's
     * allocator (GCC 12's) is not fork-safe: a child forked while one of
     * the gateway's threads held its lock waited for ever in a realloc
     * (seen 3 times in 28 runs under load, the child's stack in asan_realloc's
     * FutexWait). The child's part runs in the other builds. */
    print_message("fork of a threaded parent: not under a sanitizer\n");
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-fork");
    return;
#endif
    struct waiting_recv w = {remote, 0};
    pthread_t t = receive_waiting(&w, local);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        alarm(20); /* the hang this test is about: killed, and it fails */
        int r = mbx_send(remote, "kid", 3, 0, 5000000000ll);
        if (r) {
            fprintf(stderr, "child: send: %s\n", mbx_strerror(r));
            _exit(2);
        }
        r = mbx_sync(remote);
        if (r)
            fprintf(stderr, "child: sync: %s\n", mbx_strerror(r));
        _exit(r ? 3 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(c, &status, 0), c);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        print_message("child: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's waiting receive gets the child's message, or times
     * out if the gateway had already answered it; either way it ends. */
    pthread_join(t, NULL);
    assert_true(w.got == 3 || w.got == -ETIMEDOUT);
    if (w.got == -ETIMEDOUT)
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll), 3);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-fork");
}

/* A non-blocking send on a handle another thread waits on in a receive
 * says -EAGAIN at once (the handle is busy): it waited for the receive to
 * end, and a monitor's notice sent to such a handle held back every
 * monitor of the process meanwhile (with MBX_FOREVER, for good). */
static void nonblocking_send_beside_a_waiting_receive(void **state)
{
    (void)state;
    mbx *local = test_box("jobs-busy", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "jobs-busy", MBX_SEND | MBX_RECV);
    struct waiting_recv w = {remote, 0};
    pthread_t t = receive_waiting(&w, local);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(mbx_send(remote, "x", 1, 0, MBX_NONBLOCK), -EAGAIN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took < 1.5); /* the receive waits 3 s */
    pthread_join(t, NULL);
    assert_int_equal(w.got, -ETIMEDOUT);
    assert_int_equal(mbx_send(remote, "x", 1, 0, MBX_NONBLOCK), 0); /* free again */
    char buf[8];
    assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll), 1);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-busy");
}

#ifndef MBX_TEST_TLS
/* A message a remote receiver took and confirmed (W_TAKEN), just before
 * its client said goodbye (W_BYE) and closed the link, is delivered once:
 * the gateway's worker used to stop at a dead link before it had seen the
 * confirmation and the goodbye queued behind the receive, so the session
 * lingered with the message held, and put it back when it expired (a
 * second delivery; seen as a tls_test failure under a loaded ASan run). A
 * gateway of short linger here, so that a put-back would show. */
static void received_then_closed_is_delivered_once(void **state)
{
    (void)state;
    static const char *const allow[] = {"jobs*", NULL};
    mbx_gateway *g = short_gateway(allow, 20);
    mbx *local = test_box("jobs-once", 64, 64, 0);
    for (uint32_t i = 0; i < 300; i++) {
        assert_int_equal(mbx_send(local, &i, sizeof(i), 0, 0), 0);
        mbx *r = open_remote(mbx_gateway_port(g), "jobs-once", MBX_RECV);
        uint32_t v = UINT32_MAX;
        assert_int_equal(mbx_recv(r, &v, sizeof(v), NULL, 5000000000ll), sizeof(v));
        assert_int_equal(v, i);
        mbx_close(r);
    }
    usleep(300000); /* past the linger and the gateway's look at sessions */
    uint32_t v;
    ssize_t n = mbx_recv(local, &v, sizeof(v), NULL, MBX_NONBLOCK);
    if (n == sizeof(v))
        fail_msg("message %u was delivered a second time", v);
    assert_int_equal(n, -EAGAIN);
    mbx_gateway_stop(g);
    mbx_close(local);
    mbx_unlink("jobs-once");
}
#endif

/* Messages cross both ways with their priorities, sizes and types. */
static void send_and_receive_across(void **state)
{
    (void)state;
    mbx *local = test_box("jobs", 64, 4096, 0);
    mbx *remote = open_remote(gw_port, "jobs", MBX_SEND | MBX_RECV);
    char buf[4096];
    for (int i = 0; i < 40; i++) {
        int n = snprintf(buf, sizeof(buf), "message %d", i);
        assert_int_equal(mbx_send_typed(remote, buf, (size_t)n, (unsigned)(i == 39 ? 9 : 0),
                                        (uint64_t)i, MBX_FOREVER),
                         0);
    }
    assert_int_equal(mbx_sync(remote), 0);
    mbx_msginfo info;
    ssize_t n = mbx_recv(local, buf, sizeof(buf), &info, 0);
    assert_int_equal(n, strlen("message 39"));
    assert_int_equal(info.priority, 9);
    for (int i = 0; i < 39; i++) {
        uint64_t type = 99;
        n = mbx_recv_select(local, MBX_SEL_ANY, 0, buf, sizeof(buf), &info, &type, 0);
        char want[32];
        snprintf(want, sizeof(want), "message %d", i);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(buf, want, (size_t)n);
        assert_int_equal(type, (uint64_t)i);
    }
    /* The other way, selected by type. */
    assert_int_equal(mbx_send_typed(local, "a", 1, 0, 5, 0), 0);
    assert_int_equal(mbx_send_typed(local, "bb", 2, 3, 7, 0), 0);
    uint64_t type = 0;
    n = mbx_recv_select(remote, MBX_SEL_EQ, 5, buf, sizeof(buf), &info, &type, 1000000000ll);
    assert_int_equal(n, 1);
    assert_int_equal(type, 5);
    /* MBX_SEL_SYSV is not on the wire: refused here, the link kept. */
    assert_int_equal(
        mbx_recv_select(remote, MBX_SEL_ANY | MBX_SEL_SYSV, 0, buf, sizeof(buf), &info, &type, 0),
        -ENOTSUP);
    const void *lent;
    assert_int_equal(
        mbx_recv_loan_select(remote, MBX_SEL_LE | MBX_SEL_SYSV, 9, &lent, &info, &type, 0),
        -ENOTSUP);
    n = mbx_recv(remote, buf, sizeof(buf), &info, 1000000000ll);
    assert_int_equal(n, 2);
    assert_int_equal(info.priority, 3);
    assert_int_equal(info.sender_pid, getpid());
    /* A buffer too small leaves the message queued. */
    assert_int_equal(mbx_send(local, "0123456789", 10, 0, 0), 0);
    assert_int_equal(mbx_recv(remote, buf, 4, &info, 1000000000ll), -EMSGSIZE);
    assert_int_equal(mbx_recv(remote, buf, sizeof(buf), &info, 1000000000ll), 10);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(remote, &st), 0);
    assert_int_equal(st.capacity, 64);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.max_msg_size, 4096);
    assert_int_equal(mbx_send(remote, buf, 4097, 0, 0), -EMSGSIZE);
    mbx_close(remote);
    /* What was sent is delivered when the handle closes at once. */
    for (int k = 0; k < 5; k++) {
        remote = open_remote(gw_port, "jobs", MBX_SEND);
        assert_int_equal(mbx_send(remote, "one", 3, 0, 0), 0);
        assert_int_equal(mbx_send(remote, "two", 3, 0, 0), 0);
        mbx_close(remote);
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 0), 3);
        assert_memory_equal(buf, "one", 3);
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 0), 3);
        assert_memory_equal(buf, "two", 3);
    }
    mbx_close(local);
    mbx_unlink("jobs");
}

static void *try_batch(void *arg)
{
    struct sched_param sp = {0};
    *(int *)arg = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) == 0;
    return NULL;
}

/* Whether a thread this one starts may become SCHED_BATCH: this thread
 * has the normal policy and two CPUs or more, and the system lets a
 * thread switch (a scratch thread tries). */
static int batch_allowed(void)
{
    cpu_set_t cpus;
    if (sched_getscheduler(0) != SCHED_OTHER || sched_getaffinity(0, sizeof(cpus), &cpus) ||
        CPU_COUNT(&cpus) < 2)
        return 0;
    int ok = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, try_batch, &ok), 0);
    pthread_join(t, NULL);
    return ok;
}

/* The policy of thread tid once it is want, waiting up to 10 s. */
static int policy_becomes(pid_t tid, int want)
{
    int policy = -1;
    for (int i = 0; i < 10000 && policy != want; i++) {
        policy = sched_getscheduler(tid);
        if (policy != want)
            usleep(1000);
    }
    return policy;
}

/* The handle's writer gathers (SCHED_BATCH: woken, it does not take the
 * sender's CPU) only while the sender streams: lone small sends leave it
 * in the normal policy, so that each is written at once even when the
 * sender then computes with no CPU idle (a writer that always gathered
 * left such a send unwritten until a scheduler tick: found in review); a
 * batch of 1 KiB or more makes it gather, and a millisecond with nothing
 * to write makes it normal again. Where a thread may not gather (one CPU,
 * another policy) it stays normal throughout. */
static void writer_gathers_only_while_streaming(void **state)
{
    (void)state;
    mbx *local = test_box("jobs-gather", 64, 4096, 0);
    mbx *remote = open_remote(gw_port, "jobs-gather", MBX_SEND);
    static char buf[4096];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(mbx_send(remote, "lone", 4, 0, MBX_NONBLOCK), 0);
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll), 4);
    }
    pid_t writer = 0;
    for (int i = 0; i < 10000 && !writer; i++)
        if (!(writer = thread_named("mbx-tcp-flush")))
            usleep(1000);
    assert_true(writer != 0);
    assert_int_equal(sched_getscheduler(writer), SCHED_OTHER);
    int streams = batch_allowed() ? SCHED_BATCH : SCHED_OTHER;
    /* Bursts of 2 KiB sends (any batch of them is 1 KiB or more), the
     * writer's policy looked at every 100 us for 20 ms after each, until it
     * is seen gathering. Looked at once right after a send, a loaded
     * machine (two sanitizer suites at once) showed it normal 10000 times
     * in a row: the writer had not run yet, and by the next send the round
     * trip had taken more than its millisecond of cooling. */
    enum { BURST = 16 };
    int policy = -1;
    for (int i = 0; i < 500 && policy != streams; i++) {
        memset(buf, 's', 2048);
        for (int k = 0; k < BURST; k++)
            assert_int_equal(mbx_send(remote, buf, 2048, 0, 5000000000ll), 0);
        for (int k = 0; k < 200 && policy != streams; k++) {
            policy = sched_getscheduler(writer);
            if (policy != streams)
                usleep(100);
        }
        for (int k = 0; k < BURST; k++)
            assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll), 2048);
    }
    assert_int_equal(policy, streams);
    if (streams != SCHED_BATCH)
        print_message("this thread may not gather here: the writer stays normal\n");
    assert_int_equal(policy_becomes(writer, SCHED_OTHER), SCHED_OTHER);
    assert_int_equal(mbx_sync(remote), 0);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-gather");
}

/* Pipelined sends are written by the handle's writer thread in batches:
 * the last one arrives although the sender makes no further call (the
 * handle stays open, nothing waits on it), in this process and in a
 * forked child, whose handle has no thread of its parent's. The child's
 * calls open a session of their own, so the parent's sends after them
 * still arrive (they used to share one, and the gateway dropped the
 * parent's as done already). */
static void pipelined_send_goes_out_by_itself(void **state)
{
    (void)state;
    mbx *local = test_box("jobs-alone", 64, 64, 0);
    mbx *remote = open_remote(gw_port, "jobs-alone", MBX_SEND);
    char buf[64];
    for (int i = 0; i < 20; i++) {
        int n = snprintf(buf, sizeof(buf), "m%d", i);
        assert_int_equal(mbx_send(remote, buf, (size_t)n, 0, MBX_NONBLOCK), 0);
        ssize_t got = mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll);
        assert_int_equal(got, n);
    }
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    /* ThreadSanitizer cannot start a thread in the child of a threaded
     * parent, and AddressSanitizer's allocator may be left locked in it
     * (see fork_while_a_receive_waits): the child's part runs in the other
     * builds. */
    print_message("forked child's writer thread: not under a sanitizer\n");
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-alone");
    return;
#endif
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        int ok = 1;
        /* Not MBX_NONBLOCK: the child's first send makes its session (a
         * TLS handshake in tcp_tls_test), and a send that may not wait
         * tries that for a quarter second only, which a loaded machine
         * under a sanitizer overran. */
        for (int i = 0; i < 5 && ok; i++)
            ok = mbx_send(remote, "child", 5, 0, 5000000000ll) == 0 &&
                 mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll) == 5;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(c, &status, 0), c);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The child's calls had a session of their own: the parent's goes on,
     * and what it sends now is not taken for a child's send. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mbx_send(remote, "again", 5, 0, MBX_NONBLOCK), 0);
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 5000000000ll), 5);
        assert_memory_equal(buf, "again", 5);
    }
    assert_int_equal(mbx_sync(remote), 0);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-alone");
}

/* A full far mailbox: -EAGAIN without waiting, -ETIMEDOUT after the
 * timeout, as a local one; an empty one the same for receives. */
static void full_and_empty_as_local(void **state)
{
    (void)state;
    mbx *local = test_box("full", 2, 64, 0);
    mbx *remote = open_remote(gw_port, "full", MBX_SEND | MBX_RECV);
    int v = 1;
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, 50000000ll), -ETIMEDOUT);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(local, &st), 0);
    assert_int_equal(st.count, 2); /* nothing extra waits anywhere */
    int got;
    assert_int_equal(mbx_recv(local, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, 1000000000ll), 0);
    assert_int_equal(mbx_recv(local, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_equal(mbx_recv(local, &got, sizeof(got), NULL, 0), sizeof(got));
    assert_int_equal(mbx_recv(remote, &got, sizeof(got), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_recv(remote, &got, sizeof(got), NULL, 50000000ll), -ETIMEDOUT);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("full");
}

/* Pipelined sends over the link keep their order while local senders
 * fill the far mailbox behind the client's back: the gateway serves a
 * batch of sends straight from what it read, and a send that finds the
 * mailbox full waits in its queue, with everything read after it, even
 * when a receiver makes room a moment later. A receiver here checks the
 * remote sender's numbers. */
struct order_side {
    mbx *m;
    atomic_int stop;
    atomic_uint got; /* read by the main thread while the checker runs */
    unsigned bad, locals;
};

static void *local_filler(void *arg)
{
    struct order_side *o = arg;
    char msg[8] = {'L'};
    while (!atomic_load(&o->stop))
        mbx_send(o->m, msg, sizeof(msg), 0, 20000000ll);
    return NULL;
}

static void *order_checker(void *arg)
{
    struct order_side *o = arg;
    char msg[8];
    uint32_t want = 0;
    while (!atomic_load(&o->stop)) {
        ssize_t n = mbx_recv(o->m, msg, sizeof(msg), NULL, 20000000ll);
        if (n != (ssize_t)sizeof(msg))
            continue;
        if (msg[0] == 'L') {
            if (++o->locals % 8 == 0)
                sched_yield(); /* let the mailbox fill up now and then */
            continue;
        }
        uint32_t v;
        memcpy(&v, msg + 4, sizeof(v));
        if (v != want)
            o->bad++;
        want = v + 1;
        atomic_fetch_add(&o->got, 1);
    }
    return NULL;
}

static void pipelined_sends_keep_their_order_into_a_full_mailbox(void **state)
{
    (void)state;
    /* 5000: the mailbox of 4 is full at thousands of them (20000 took
     * 29 s of two busy CPUs in tcp_test and as long in tcp_tls_test). */
    enum { N = 5000 };
    mbx *local = test_box("jobs-order", 4, 8, 0);
    mbx *remote = open_remote(gw_port, "jobs-order", MBX_SEND);
    struct order_side fill = {local, 0, 0, 0, 0}, check = {local, 0, 0, 0, 0};
    pthread_t tf, tc;
    assert_int_equal(pthread_create(&tf, NULL, local_filler, &fill), 0);
    assert_int_equal(pthread_create(&tc, NULL, order_checker, &check), 0);
    char msg[8] = {'R'};
    for (uint32_t i = 0; i < N; i++) {
        memcpy(msg + 4, &i, sizeof(i));
        assert_int_equal(mbx_send(remote, msg, sizeof(msg), 0, MBX_FOREVER), 0);
    }
    assert_int_equal(mbx_sync(remote), 0);
    atomic_store(&fill.stop, 1);
    pthread_join(tf, NULL);
    for (int i = 0; i < 5000 && atomic_load(&check.got) < N; i++)
        usleep(1000);
    atomic_store(&check.stop, 1);
    pthread_join(tc, NULL);
    print_message("%u remote sends received, %u local, %u out of order\n", atomic_load(&check.got),
                  check.locals, check.bad);
    assert_int_equal(check.bad, 0);
    assert_int_equal(atomic_load(&check.got), N);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-order");
}

/* A pipelined send that does not fit yet keeps its place: a mailbox of
 * 4 KiB (heap kind, which counts bytes) holds a 3000-byte message, a
 * 2000-byte send over the link cannot go in, and the small sends after it,
 * which would fit, wait behind it in the gateway's queue instead of
 * going in first. Several rounds, so that the large send and small ones
 * come in one of the gateway's reads. */
static void send_that_does_not_fit_keeps_its_place(void **state)
{
    (void)state;
    enum { ROUNDS = 20, SMALL = 12, BIG = 2000, FILL = 3000 };
    mbx_options o;
    mbx_options_init(&o);
    o.kind = MBX_KIND_HEAP;
    o.attr.capacity = 64;
    o.attr.max_msg_size = FILL;
    o.attr.memory_limit = 4096;
    mbx *local;
    mbx_unlink("jobs-fit");
    assert_int_equal(
        mbx_open_opts("jobs-fit", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &o, &local), 0);
    mbx *remote = open_remote(gw_port, "jobs-fit", MBX_SEND);
    static uint8_t buf[FILL];
    for (int round = 0; round < ROUNDS; round++) {
        memset(buf, 'F', FILL);
        assert_int_equal(mbx_send(local, buf, FILL, 0, MBX_NONBLOCK), 0);
        memset(buf, 'B', BIG);
        assert_int_equal(mbx_send(remote, buf, BIG, 0, MBX_FOREVER), 0);
        for (int k = 0; k < SMALL; k++) {
            char s[4] = {'S', (char)k};
            assert_int_equal(mbx_send(remote, s, sizeof(s), 0, MBX_FOREVER), 0);
        }
        usleep(3000); /* the frames reach the gateway while the mailbox is full */
        assert_int_equal(mbx_recv(local, buf, FILL, NULL, 5000000000ll), FILL);
        assert_int_equal(buf[0], 'F');
        ssize_t n = mbx_recv(local, buf, FILL, NULL, 5000000000ll);
        if (n != BIG)
            fail_msg("round %d: a %zd-byte message came before the %d-byte one sent first", round,
                     n, BIG);
        for (int k = 0; k < SMALL; k++) {
            assert_int_equal(mbx_recv(local, buf, FILL, NULL, 5000000000ll), 4);
            assert_int_equal(buf[1], k);
        }
    }
    assert_int_equal(mbx_sync(remote), 0);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-fit");
}

/* A far mailbox deeper than 64 gives the client a window as deep, its
 * payloads in flight bounded by 8 MiB: with the far mailbox filled behind
 * the client's back (its credit says there is room), pipelined sends of
 * 60000 bytes return at once until 8 MiB are in flight (139 of them: more
 * than a window of 64), then wait; the one that timed out was not sent.
 * What was sent arrives once, in order, when room comes. (A client past
 * the bound is cut off by the gateway, sends again, and is cut again.) */
static void deep_window_bounded_in_bytes(void **state)
{
    (void)state;
    enum { SIZE = 60000, DEPTH = 200, IN_FLIGHT = (8u << 20) / SIZE };
    mbx *local = test_box("deep-window", DEPTH, SIZE, 0);
    mbx *remote = open_remote(gw_port, "deep-window", MBX_SEND);
    static uint8_t buf[SIZE];
    memset(buf, 0, sizeof(buf));
    /* A first send and its acknowledgement: the link is up, room known. */
    assert_int_equal(mbx_send(remote, buf, SIZE, 0, MBX_FOREVER), 0);
    assert_int_equal(mbx_sync(remote), 0);
    assert_int_equal(mbx_recv(local, buf, SIZE, NULL, 0), SIZE);
    for (int i = 0; i < DEPTH; i++)
        assert_int_equal(mbx_send(local, "f", 1, 0, MBX_NONBLOCK), 0);
    unsigned sent = 0;
    int r;
    for (;;) {
        memcpy(buf, &sent, sizeof(sent));
        r = mbx_send(remote, buf, SIZE, 0, 300000000ll);
        if (r)
            break;
        sent++;
        assert_true(sent <= IN_FLIGHT);
    }
    assert_int_equal(r, -ETIMEDOUT);
    assert_int_equal(sent, IN_FLIGHT);
    for (int i = 0; i < DEPTH; i++)
        assert_int_equal(mbx_recv(local, buf, SIZE, NULL, 5000000000ll), 1);
    for (unsigned i = 0; i < sent; i++) {
        assert_int_equal(mbx_recv(local, buf, SIZE, NULL, 5000000000ll), SIZE);
        unsigned v;
        memcpy(&v, buf, sizeof(v));
        assert_int_equal(v, i);
    }
    assert_int_equal(mbx_sync(remote), 0);
    assert_int_equal(mbx_recv(local, buf, SIZE, NULL, MBX_NONBLOCK), -EAGAIN);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("deep-window");
}

/* The byte of pending send i's payload at offset k. */
static uint8_t chunk_byte(unsigned i, size_t k)
{
    return (uint8_t)(i * 31 + k * 7 + (k >> 8));
}

/* Pending sends are kept for sending again in the client's chunks of
 * 16 KiB, many to a chunk, and its pending list is a ring: sends that
 * fill several chunks, after a thousand others moved the ring's oldest
 * near its end, never reach the gateway (the proxy holds the client's
 * bytes) and the link is cut: each is sent again on the next link, whole
 * and in order, from where it was kept. */
static void pending_sends_sent_again_whole_from_their_chunks(void **state)
{
    (void)state;
    enum { BEFORE = 1000, N = 200, MAXLEN = 400 };
    mbx *local = test_box("cut-chunks", 1024, MAXLEN, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "cut-chunks", MBX_SEND);
    uint8_t buf[MAXLEN];
    /* In rounds, each taken before the next: the room the gateway
     * reports stays large enough for all N (the client may have no more
     * than that unacknowledged, and none come back while the proxy
     * holds). */
    for (unsigned i = 0; i < BEFORE; i++) {
        assert_int_equal(mbx_send(remote, &i, sizeof(i), 0, MBX_FOREVER), 0);
        if (i % 100 != 99)
            continue;
        assert_int_equal(mbx_sync(remote), 0);
        for (unsigned j = i - 99; j <= i; j++) {
            unsigned v;
            assert_int_equal(mbx_recv(local, &v, sizeof(v), NULL, 0), sizeof(v));
            assert_int_equal(v, j);
        }
    }
    /* About 40 KiB: what the link's buffers take while nobody reads. The
     * proxy holds from its next look (every 20 ms): sends it forwarded
     * before are delivered and acknowledged, the rest go again. */
    proxy_hold_up(p, 1);
    usleep(100000);
    for (unsigned i = 0; i < N; i++) {
        size_t len = 1 + (i * 997u) % MAXLEN;
        for (size_t k = 0; k < len; k++)
            buf[k] = chunk_byte(i, k);
        assert_int_equal(mbx_send(remote, buf, len, 0, MBX_FOREVER), 0);
    }
    mbx_stat st; /* what was delivered before the hold: in the mailbox */
    assert_int_equal(mbx_stat_get(local, &st), 0);
    unsigned early = st.count;
    assert_true(proxy_cut(p) >= 1);
    proxy_hold_up(p, 0);
    assert_int_equal(mbx_sync(remote), 0);
    for (unsigned i = 0; i < N; i++) {
        size_t len = 1 + (i * 997u) % MAXLEN;
        assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 0), (ssize_t)len);
        for (size_t k = 0; k < len; k++)
            if (buf[k] != chunk_byte(i, k))
                fail_msg("send %u, byte %zu: %u, not %u", i, k, buf[k], chunk_byte(i, k));
    }
    assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 0), -EAGAIN);
    print_message("%u of %u sends reached the gateway before the hold\n", early, N);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("cut-chunks");
}

static void *take_later(void *arg)
{
    mbx *m = arg;
    usleep(100000);
    static int got;
    ssize_t n = mbx_recv(m, &got, sizeof(got), NULL, 5000000000ll);
    return (void *)(intptr_t)(n == sizeof(got) ? got : -1);
}

/* Rendezvous: the remote send returns once a far receiver took it. */
static void rendezvous_across(void **state)
{
    (void)state;
    mbx *local = test_box("rv", 0, 64, 0);
    mbx *remote = open_remote(gw_port, "rv", MBX_SEND);
    int v = 7;
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, take_later, local), 0);
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, 5000000000ll), 0);
    void *got;
    pthread_join(t, &got);
    assert_int_equal((intptr_t)got, 7);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("rv");
}

/* A server of one request: replies to it with its first byte made 'R',
 * after delay_ms. */
struct server {
    mbx *m;
    int delay_ms;
};

static void *serve_one(void *arg)
{
    const struct server *sv = arg;
    char req[64];
    mbx_msginfo info;
    ssize_t n = mbx_recv(sv->m, req, sizeof(req), &info, 5000000000ll);
    if (n < 0)
        return (void *)(intptr_t)n;
    usleep((useconds_t)sv->delay_ms * 1000);
    req[0] = 'R';
    return (void *)(intptr_t)mbx_reply(&info, req, (size_t)n);
}

/* Calls across, both ways: a remote caller and a local server, then a
 * local caller and a server that takes requests over the wire. */
static void call_and_reply_across(void **state)
{
    (void)state;
    mbx *local = test_box("calls", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "calls", MBX_SEND | MBX_RECV);
    pthread_t t;
    struct server here = {local, 0}, there = {remote, 0};
    assert_int_equal(pthread_create(&t, NULL, serve_one, &here), 0);
    char reply[64];
    assert_int_equal(mbx_call(remote, "ping", 4, 0, reply, sizeof(reply), 5000000000ll), 4);
    assert_memory_equal(reply, "Ring", 4);
    void *r;
    pthread_join(t, &r);
    assert_int_equal((intptr_t)r, 0);
    assert_int_equal(pthread_create(&t, NULL, serve_one, &there), 0);
    assert_int_equal(mbx_call(local, "pong", 4, 0, reply, sizeof(reply), 5000000000ll), 4);
    assert_memory_equal(reply, "Rong", 4);
    pthread_join(t, &r);
    assert_int_equal((intptr_t)r, 0);
    /* A token never handed to this client cannot be answered through it,
     * and one answered already not again. */
    mbx_msginfo forged = {.reply_token = (1ull << 63) | 12345, .sender_pid = getpid()};
    assert_int_equal(mbx_reply(&forged, "x", 1), -EINVAL);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("calls");
}

/* A server that takes requests over the wire answers a caller whose own
 * mailbox is full: -EAGAIN, nothing sent, and the reply may be sent again
 * while the caller waits, as locally. Both ends spent the token at the
 * first try, so the second said -EINVAL and the reply was lost (found by
 * a review). */
static void reply_across_to_a_full_caller_may_be_sent_again(void **state)
{
    (void)state;
    mbx *local = test_box("calls", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "calls", MBX_RECV);
    int queued = fill_own_mailbox();
    struct pending_call f = {local, 0, {0}};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_it, &f), 0);
    char req[16];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(remote, req, sizeof(req), &info, 10000000000ll), 1);
    assert_int_equal(mbx_reply(&info, "answer", 6), -EAGAIN);
    drain_own_mailbox(queued);
    assert_int_equal(mbx_reply(&info, "answer", 6), 0);
    assert_int_equal(mbx_reply(&info, "again", 5), -EINVAL); /* one reply per request */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(f.n, 6);
    assert_memory_equal(f.reply, "answer", 6);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("calls");
}

/* A call whose reply takes longer than the client's dead-link bound (4
 * silent heartbeat periods, 1 s) keeps its link: while one of the
 * connection's threads waits in the call, the other reads and answers the
 * client's heartbeats. One link carries it all. */
static void long_call_keeps_its_link(void **state)
{
    (void)state;
    mbx *local = test_box("calls", 8, 64, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "calls", MBX_SEND);
    struct server slow = {local, 1600};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve_one, &slow), 0);
    char rep[64];
    assert_int_equal(mbx_call(remote, "q1", 3, 0, rep, sizeof(rep), 10000000000ll), 3);
    assert_string_equal(rep, "R1");
    void *served;
    pthread_join(t, &served);
    assert_int_equal((intptr_t)served, 0);
    assert_int_equal(proxy_accepted(p), 1);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("calls");
}

/* The gateway's connection threads (mbx-gw-*) of this process and the
 * times each has slept (voluntary context switches), at most max. */
struct gw_thread {
    pid_t tid;
    long slept;
};

static int gw_threads(struct gw_thread *out, int max)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while (n < max && (e = readdir(d))) {
        char path[300], line[128], comm[32];
        thread_comm(e->d_name, comm, sizeof(comm));
        if (strncmp(comm, "mbx-gw-", 7) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long v = -1;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
                break;
        fclose(f);
        out[n].tid = (pid_t)atoi(e->d_name);
        out[n++].slept = v;
    }
    closedir(d);
    return n;
}

struct quick_server {
    mbx *m;
    int n;
};

static void *answer_calls(void *arg)
{
    const struct quick_server *sv = arg;
    for (int i = 0; i < sv->n; i++) {
        char req[16];
        mbx_msginfo info;
        ssize_t n = mbx_recv(sv->m, req, sizeof(req), &info, 10000000000ll);
        if (n < 0 || mbx_reply(&info, req, (size_t)n) != 0)
            return (void *)1;
    }
    return NULL;
}

/* Quick calls are served by the thread that read them while the
 * connection's other thread sleeps on: it takes over reading only once a
 * serve lasts (long_call_keeps_its_link). It used to be woken to read at
 * every serve, so both threads slept about once per call. */
#define QUICK_CALLS 300

static void quick_calls_wake_no_second_thread(void **state)
{
    (void)state;
    mbx *local = test_box("calls", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "calls", MBX_SEND);
    char rep[16];
    struct quick_server sv = {local, QUICK_CALLS + 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, answer_calls, &sv), 0);
    /* The first call makes the connection's threads. */
    assert_int_equal(mbx_call(remote, "c", 1, 0, rep, sizeof(rep), 10000000000ll), 1);
    struct gw_thread before[64], after[64];
    int nb = gw_threads(before, 64);
    for (int i = 0; i < QUICK_CALLS; i++)
        assert_int_equal(mbx_call(remote, "c", 1, 0, rep, sizeof(rep), 10000000000ll), 1);
    int na = gw_threads(after, 64);
    void *r;
    pthread_join(t, &r);
    assert_null(r);
    /* This connection's two threads moved the most; the quieter of them
     * slept a few times at most (once per 50 ms of calls, and when a
     * serve lasted 50 ms on a loaded machine), not once per call. */
    long most = -1, next = -1;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (after[i].tid == before[j].tid) {
                long moved = after[i].slept - before[j].slept;
                if (moved > most) {
                    next = most;
                    most = moved;
                } else if (moved > next) {
                    next = moved;
                }
            }
    print_message("gateway threads slept %ld and %ld times over %d calls\n", most, next,
                  QUICK_CALLS);
    assert_true(most >= 0 && next >= 0);
    assert_true(next < QUICK_CALLS / 4);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("calls");
}

/* Removal of the far mailbox reaches the remote handle as -EIDRM. */
static void removal_across(void **state)
{
    (void)state;
    mbx *local = test_box("gone", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "gone", MBX_SEND | MBX_RECV);
    assert_int_equal(mbx_unlink("gone"), 0);
    int v = 0;
    assert_int_equal(mbx_recv(remote, &v, sizeof(v), NULL, 1000000000ll), -EIDRM);
    int r = mbx_send(remote, &v, sizeof(v), 0, 1000000000ll);
    if (r == 0) /* pipelined: the error comes with the acknowledgement */
        r = mbx_sync(remote);
    assert_int_equal(r, -EIDRM);
    mbx_close(remote);
    mbx_close(local);
}

/* Who may connect and what they may open. */
static void refused_without_the_secret_or_outside_the_list(void **state)
{
    (void)state;
    mbx *local = test_box("jobs-x", 8, 64, 0);
    mbx *hidden = test_box("secret-box", 8, 64, 0); /* there, but not exported */
    mbx *m;
    char name[128];
    remote_name(name, sizeof(name), gw_port, "secret-box");
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &m), -EACCES); /* not on the list */
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_CREATE, NULL, &m), -EACCES);
    remote_name(name, sizeof(name), gw_port, "jobs-x");
    char other[320];
    snprintf(other, sizeof(other), "%s/other", test_dir);
    write_secret(other, "another secret, quite different\n", 0600);
    setenv("MBX_SECRET_FILE", other, 1);
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &m), -EACCES); /* wrong secret */
    write_secret(other, "0123456789abcdef0123456789abcdef\n", 0644);
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &m), -EACCES); /* readable by others */
    unlink(other);
    setenv("MBX_SECRET_FILE", secret_path, 1);
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &m), 0);
    mbx_close(m);
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_CREATE | MBX_OWNED, NULL, &m), -ENOTSUP);
    assert_int_equal(mbx_open("tcp://127.0.0.1/x", MBX_SEND, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("tcp://127.0.0.1:1/", MBX_SEND, NULL, &m), -EINVAL);
    mbx_close(hidden);
    mbx_unlink("secret-box");
    mbx_close(local);
    mbx_unlink("jobs-x");
}

/* A tcp:// name of a gateway on this machine opens the mailbox's own file
 * (same boot, found through the gateway, which still checks the secret and
 * its allow-list); MBX_TCP_BYPASS=0 keeps the network path. */
static void bypass_on_this_machine(void **state)
{
    (void)state;
    mbx *local = test_box("jobs-here", 8, 64, 0);
    unsetenv("MBX_TCP_BYPASS");
    mbx *remote = open_remote(gw_port, "jobs-here", MBX_SEND | MBX_RECV);
    /* A local handle: it has the extended statistics, a tcp:// one not. */
    mbx_stat_ext ext = {.size = sizeof(ext)};
    assert_int_equal(mbx_stat_ext_get(remote, &ext), 0);
    assert_int_equal(mbx_send(remote, "x", 1, 0, 0), 0);
    mbx_msginfo info;
    char buf[8];
    assert_int_equal(mbx_recv(local, buf, sizeof(buf), &info, 0), 1);
    mbx_close(remote);
    mbx *m;
    char name[128];
    remote_name(name, sizeof(name), gw_port, "secret-box");
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &m), -EACCES); /* still the list */
    setenv("MBX_TCP_BYPASS", "0", 1);
    remote = open_remote(gw_port, "jobs-here", MBX_SEND);
    assert_int_equal(mbx_stat_ext_get(remote, &ext), -ENOTSUP);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("jobs-here");
}

/* ---- the link cut, again and again ---- */

#define CUT_MSGS 3000 /* at least, and on until the link was cut 6 times */
#define CUT_MAX  200000

/* How often the link is cut: every 15-30 ms, or over TLS 60-120 ms (a
 * handshake at each reconnect, tens of ms under ASan on a busy machine:
 * cut faster, the link is hardly ever up). */
#ifdef MBX_TEST_TLS
#define CUT_EVERY_US 60000
#else
#define CUT_EVERY_US 15000
#endif

struct cutter {
    struct tcp_proxy *p;
    _Atomic int stop;
    _Atomic int cuts;
};

static void *cut_often(void *arg)
{
    struct cutter *c = arg;
    while (!c->stop) {
        usleep(CUT_EVERY_US + (unsigned)(rand() % CUT_EVERY_US));
        c->cuts += proxy_cut(c->p) > 0;
    }
    return NULL;
}

/* Every send that returned 0 arrives exactly once and in order, and every
 * message a remote receiver took arrives there exactly once, while the
 * link is cut every few tens of milliseconds. */
static void exactly_once_across_cuts(void **state)
{
    (void)state;
    mbx *in = test_box("cut-in", 64, 64, 0);
    mbx *out = test_box("cut-out", 64, 64, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *rs = open_remote(proxy_port(p), "cut-in", MBX_SEND);
    mbx *rr = open_remote(proxy_port(p), "cut-out", MBX_RECV);
    struct cutter c = {p, 0, 0};
    pthread_t t;
    srand(7);
    assert_int_equal(pthread_create(&t, NULL, cut_often, &c), 0);
    uint32_t next_in = 0, next_out = 0, sent_out = 0;
    uint32_t sent_in = 0, unknown = 0;
    /* A send that says -ENOTCONN may or may not have been delivered: its
     * number is not used again, and may be missing. */
    static uint8_t maybe[CUT_MAX];
    memset(maybe, 0, sizeof(maybe));
    /* On a fast machine 3000 messages each way go between two cuts of
     * the slower (TLS) cutter: go on, a thousand at a time, until the link
     * was cut often enough for the test to mean something. */
    uint32_t target = CUT_MSGS;
    for (;;) {
        if (sent_in >= target && next_out >= target) {
            if (c.cuts > 5 || target >= CUT_MAX)
                break;
            target += 1000;
        }
        if (sent_in < target) {
            int r = mbx_send(rs, &sent_in, sizeof(sent_in), 0, 2000000000ll);
            if (r == 0) {
                sent_in++;
            } else if (r == -ENOTCONN) {
                maybe[sent_in++] = 1;
                unknown++;
            } else if (r != -ETIMEDOUT) {
                fail_msg("send %u: %d", sent_in, r);
            }
        }
        uint32_t v;
        while (mbx_recv(in, &v, sizeof(v), NULL, 0) == sizeof(v)) {
            while (v != next_in && next_in < target && maybe[next_in])
                next_in++;
            assert_int_equal(v, next_in); /* in order, none twice, none missing */
            next_in++;
        }
        if (sent_out < target && mbx_send(out, &sent_out, sizeof(sent_out), 0, 0) == 0)
            sent_out++;
        if (next_out < sent_out) {
            ssize_t n = mbx_recv(rr, &v, sizeof(v), NULL, 2000000000ll);
            if (n == sizeof(v)) {
                assert_int_equal(v, next_out);
                next_out++;
            } else {
                assert_true(n == -ETIMEDOUT || n == -ENOTCONN);
            }
        }
    }
    c.stop = 1;
    pthread_join(t, NULL);
    assert_int_equal(mbx_sync(rs), 0);
    uint32_t v;
    while (mbx_recv(in, &v, sizeof(v), NULL, 0) == sizeof(v)) {
        while (v != next_in && next_in < target && maybe[next_in])
            next_in++;
        assert_int_equal(v, next_in);
        next_in++;
    }
    while (next_in < target && maybe[next_in])
        next_in++;
    assert_int_equal(next_in, target);
    assert_int_equal(mbx_recv(out, &v, sizeof(v), NULL, 0), -EAGAIN);
    print_message("%u messages each way, link cut %d times: each delivered once, in order "
                  "(%u sends of unknown outcome)\n",
                  target, c.cuts, unknown);
    assert_true(c.cuts > 5);
    mbx_close(rs);
    mbx_close(rr);
    proxy_stop(p);
    mbx_close(in);
    mbx_close(out);
    mbx_unlink("cut-in");
    mbx_unlink("cut-out");
}

#define CALLS     600 /* at least, and on until the link was cut 10 times */
#define CALLS_MAX 50000

struct call_server {
    mbx *box;
    _Atomic int stop;
    uint8_t served[CALLS_MAX]; /* how often each request was taken */
    int strangers;
};

static void *serve_calls(void *arg)
{
    struct call_server *sv = arg;
    while (!sv->stop) {
        uint32_t v;
        mbx_msginfo info;
        ssize_t n = mbx_recv(sv->box, &v, sizeof(v), &info, 20000000ll);
        if (n != sizeof(v))
            continue;
        if (v < CALLS_MAX)
            sv->served[v]++;
        else
            sv->strangers++;
        v = ~v;
        mbx_reply(&info, &v, sizeof(v));
    }
    return NULL;
}

/* Calls while the link is cut every few milliseconds: each gets its own
 * reply, and each request reaches the server once. A call asked again
 * after a cut is answered with the reply the gateway kept for it, never
 * made a second time (nor after its session expired: -ENOTCONN). */
static void calls_exactly_once_across_cuts(void **state)
{
    (void)state;
    mbx *local = test_box("cut-calls", 8, 64, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "cut-calls", MBX_SEND);
    static struct call_server sv;
    memset(&sv, 0, sizeof(sv));
    sv.box = local;
    pthread_t st, ct;
    assert_int_equal(pthread_create(&st, NULL, serve_calls, &sv), 0);
    struct cutter c = {p, 0, 0};
    srand(11);
    assert_int_equal(pthread_create(&ct, NULL, cut_often, &c), 0);
    uint32_t calls = 0, unknown = 0;
    static uint8_t maybe[CALLS_MAX];
    memset(maybe, 0, sizeof(maybe));
    for (uint32_t i = 0; i < CALLS_MAX && (i < CALLS || c.cuts < 10); i++, calls++) {
        uint32_t reply = 0;
        ssize_t n = mbx_call(remote, &i, sizeof(i), 0, &reply, sizeof(reply), 10000000000ll);
        /* -ENOTCONN: the link stayed down so long that the gateway ended
         * the session and the reply with it (a slow machine): made once,
         * its outcome unknown here. */
        if (n == -ENOTCONN) {
            maybe[i] = 1;
            unknown++;
            continue;
        }
        assert_int_equal(n, sizeof(reply));
        assert_int_equal(reply, ~i);
    }
    c.stop = 1;
    pthread_join(ct, NULL);
    sv.stop = 1;
    pthread_join(st, NULL);
    int twice = 0;
    for (uint32_t i = 0; i < calls; i++) {
        assert_true(sv.served[i] >= 1 || maybe[i]);
        twice += sv.served[i] > 1;
    }
    print_message("%u calls, link cut %d times: %d requests served twice, %u of unknown outcome\n",
                  calls, c.cuts, twice, unknown);
    assert_true(unknown < calls / 10);
    assert_int_equal(twice, 0);
    assert_int_equal(sv.strangers, 0);
    assert_true(c.cuts > 5);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("cut-calls");
}

/* mbx_send_confirmed across: returns once a receiver on the far side took
 * the message, names it and the gateway's HOST:PORT; one nobody took in
 * time is taken back from the far mailbox. */
static void confirmed_send_across(void **state)
{
    (void)state;
    mbx *local = test_box("conf", 8, 64, 0);
    mbx *remote = open_remote(gw_port, "conf", MBX_SEND);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        /* Takes the message only once it has waited in the mailbox. */
        mbx_stat st;
        for (int i = 0; i < 10000 && (mbx_stat_get(local, &st) || st.count == 0); i++)
            usleep(1000);
        usleep(50000);
        char buf[64];
        mbx_msginfo info;
        int ok = mbx_recv(local, buf, sizeof(buf), &info, 10000000000ll) == 5 &&
                 memcmp(buf, "taken", 5) == 0 && info.reply_token == 0;
        _exit(ok ? 0 : 1);
    }
    mbx_receipt who;
    memset(&who, 0, sizeof(who));
    assert_int_equal(mbx_send_confirmed(remote, "taken", 5, 0, 20000000000ll, &who), 0);
    assert_int_equal(who.taker_pid, p);
    assert_int_equal(who.taker_uid, getuid());
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", gw_port);
    assert_string_equal(who.taker_host, host);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Nobody takes this one: withdrawn from the far mailbox. */
    assert_int_equal(mbx_send_confirmed(remote, "never", 5, 0, 100000000ll, NULL), -ETIMEDOUT);
    char buf[64];
    assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 0), -EAGAIN);
    mbx_close(remote);
    mbx_close(local);
    mbx_unlink("conf");
}

/* Confirmed sends through a link cut every few milliseconds: each returns
 * 0 with a receipt, and each message is taken exactly once (a request sent
 * again after a cut is answered from the gateway's memory). */
struct confirm_taker {
    mbx *box;
    _Atomic int stop;
    uint8_t taken[CALLS_MAX];
};

static void *take_all(void *arg)
{
    struct confirm_taker *t = arg;
    while (!t->stop) {
        uint32_t id;
        if (mbx_recv(t->box, &id, sizeof(id), NULL, 50000000ll) == sizeof(id) && id < CALLS_MAX)
            t->taken[id]++;
    }
    return NULL;
}

static void confirmed_exactly_once_across_cuts(void **state)
{
    (void)state;
    mbx *local = test_box("conf-cut", 8, 64, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "conf-cut", MBX_SEND);
    static struct confirm_taker tk;
    memset(&tk, 0, sizeof(tk));
    tk.box = local;
    pthread_t tt, ct;
    assert_int_equal(pthread_create(&tt, NULL, take_all, &tk), 0);
    struct cutter c = {p, 0, 0};
    srand(13);
    assert_int_equal(pthread_create(&ct, NULL, cut_often, &c), 0);
    uint32_t sent = 0;
    for (uint32_t i = 0; i < CALLS_MAX && (i < CALLS || c.cuts < 10); i++, sent++) {
        mbx_receipt who;
        assert_int_equal(mbx_send_confirmed(remote, &i, sizeof(i), 0, 10000000000ll, &who), 0);
        assert_int_equal(who.taker_pid, getpid());
    }
    c.stop = 1;
    pthread_join(ct, NULL);
    tk.stop = 1;
    pthread_join(tt, NULL);
    int twice = 0;
    for (uint32_t i = 0; i < sent; i++) {
        assert_true(tk.taken[i] >= 1);
        twice += tk.taken[i] > 1;
    }
    print_message("%u confirmed sends, link cut %d times: %d taken twice\n", sent, c.cuts, twice);
    assert_int_equal(twice, 0);
    assert_true(c.cuts > 5);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("conf-cut");
}

static void *cut_later(void *arg)
{
    struct tcp_proxy *p = arg;
    usleep(500000);
    proxy_cut(p);
    proxy_stall(p, 0);
    return NULL;
}

/* A send that waits (no room) and whose frame is lost in a cut, sent again
 * once its time is up: it times out, -ETIMEDOUT as on a local mailbox,
 * not -EAGAIN as a send that would not wait. */
static void timed_send_resent_after_its_deadline(void **state)
{
    (void)state;
    mbx *local = test_box("cut-full", 1, 64, 0);
    int v = 1;
    assert_int_equal(mbx_send(local, &v, sizeof(v), 0, 0), 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "cut-full", MBX_SEND);
    proxy_stall(p, 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cut_later, p), 0);
    assert_int_equal(mbx_send(remote, &v, sizeof(v), 0, 200000000ll), -ETIMEDOUT);
    pthread_join(t, NULL);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(local, &st), 0);
    assert_int_equal(st.count, 1);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("cut-full");
}

/* A stalled link (bytes stop, nothing closes) is declared dead by the
 * heartbeats, and the call goes on over a new connection. */
static void stalled_link_is_detected(void **state)
{
    (void)state;
    mbx *local = test_box("cut-stall", 8, 64, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "cut-stall", MBX_RECV);
    proxy_stall(p, 1);
    int v = 5, got = 0;
    assert_int_equal(mbx_send(local, &v, sizeof(v), 0, 0), 0);
    /* The stalled connection dies; the new one is stalled too until we
     * let bytes move again. */
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    proxy_stall(p, 0);
    proxy_cut(p);
    assert_int_equal(mbx_recv(remote, &got, sizeof(got), NULL, 10000000000ll), sizeof(got));
    assert_int_equal(got, 5);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("cut-stall");
}

#define BIG (64u << 20)

struct big_send {
    mbx *m;
    uint8_t *data;
    int result;
    atomic_int done;
};

static void *send_big(void *arg)
{
    struct big_send *bs = arg;
    bs->result = mbx_send(bs->m, bs->data, BIG, 0, 60000000000ll);
    atomic_store(&bs->done, 1);
    return NULL;
}

/* A 64 MiB message in flight on a slow link does not hold back a small
 * one another thread sends on the same handle a moment later: the small
 * one reaches the far mailbox first, the large one after it, whole. */
static void large_message_does_not_hold_back_a_small_one(void **state)
{
    (void)state;
    mbx *local = test_box("frag", 8, BIG, 4ull * BIG);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    proxy_rate(p, 64u << 20); /* 64 MiB/s: about a second for the large one */
    mbx *remote = open_remote(proxy_port(p), "frag", MBX_SEND);
    static struct big_send bs;
    memset(&bs, 0, sizeof(bs));
    bs.m = remote;
    bs.data = malloc(BIG);
    assert_non_null(bs.data);
    for (size_t i = 0; i < BIG; i++)
        bs.data[i] = (uint8_t)(i * 7 + (i >> 16));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_big, &bs), 0);
    /* The large one is on its way: 4 MiB of it went through. */
    while (proxy_bytes(p) < (4u << 20) && !atomic_load(&bs.done))
        usleep(1000);
    assert_false(atomic_load(&bs.done));
    char small[64];
    memset(small, 'u', sizeof(small));
    assert_int_equal(mbx_send(remote, small, sizeof(small), 0, 5000000000ll), 0);
    uint8_t *got = malloc(BIG);
    assert_non_null(got);
    /* First to arrive: the small one. */
    assert_int_equal(mbx_recv(local, got, BIG, NULL, 30000000000ll), (ssize_t)sizeof(small));
    assert_memory_equal(got, small, sizeof(small));
    /* Then the large one, whole. */
    assert_int_equal(mbx_recv(local, got, BIG, NULL, 60000000000ll), (ssize_t)BIG);
    assert_true(memcmp(got, bs.data, BIG) == 0);
    pthread_join(t, NULL);
    assert_int_equal(bs.result, 0);
    assert_int_equal(mbx_sync(remote), 0);
    print_message("64 MiB message in flight: a 64 B one sent after it arrived first\n");
    free(got);
    free(bs.data);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("frag");
}

/* A 64 MiB message received over a slow link goes as one frame for two
 * seconds, longer than the silence after which either end calls a link
 * dead (1 s): bytes keep coming, so neither does. One connection, the
 * message whole, taken once. The gateway gave a frame's whole write that
 * second: it cut the link every second, put the message back and sent it
 * again, for ever (19 connections in 20 s, nothing received). */
static void large_message_received_over_a_slow_link(void **state)
{
    (void)state;
    mbx *local = test_box("frag-recv", 8, BIG, 4ull * BIG);
    uint8_t *data = malloc(BIG), *got = malloc(BIG);
    assert_non_null(data);
    assert_non_null(got);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (uint8_t)(i * 13 + (i >> 12));
    assert_int_equal(mbx_send(local, data, BIG, 0, MBX_NONBLOCK), 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    proxy_rate(p, 32u << 20); /* 32 MiB/s: about two seconds */
    mbx *remote = open_remote(proxy_port(p), "frag-recv", MBX_RECV);
    assert_int_equal(mbx_recv(remote, got, BIG, NULL, 60000000000ll), (ssize_t)BIG);
    assert_true(memcmp(got, data, BIG) == 0);
    assert_true(proxy_bytes(p) >= BIG);
    assert_int_equal(proxy_accepted(p), 1); /* never cut and made again */
    assert_int_equal(mbx_recv(remote, got, BIG, NULL, MBX_NONBLOCK), -EAGAIN);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(local, &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.received_total, 1);
    free(got);
    free(data);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("frag-recv");
}

struct big_server {
    mbx *m;
    size_t want, reply_len;
    ssize_t got;
    int replied;
};

/* Takes one request of sv->want bytes (checked against the pattern) and
 * answers it with sv->reply_len bytes of the pattern. */
static void *serve_big(void *arg)
{
    struct big_server *sv = arg;
    size_t cap = sv->want > sv->reply_len ? sv->want : sv->reply_len;
    uint8_t *buf = malloc(cap + 1);
    mbx_msginfo info;
    sv->got = buf ? mbx_recv(sv->m, buf, cap + 1, &info, 30000000000ll) : -ENOMEM;
    if (sv->got == (ssize_t)sv->want) {
        for (size_t i = 0; i < sv->want; i++)
            if (buf[i] != (uint8_t)(i * 13 + (i >> 12)))
                sv->got = -EBADMSG;
    }
    if (sv->got == (ssize_t)sv->want) {
        for (size_t i = 0; i < sv->reply_len; i++)
            buf[i] = (uint8_t)(i * 13 + (i >> 12));
        sv->replied = mbx_reply(&info, buf, sv->reply_len);
    }
    free(buf);
    return NULL;
}

/* A call's large request, and a large reply, over a slow link: each is one
 * frame from the client, written for about two seconds. The client gave
 * such a write one second in all, then called the link dead and sent it
 * all again on the next one, for ever. One connection each. */
/* The request of large_call_and_reply_over_a_slow_link, and its rate: two
 * seconds on the link. ThreadSanitizer made the gateway's call with a
 * 64 MiB request take past the call's 60 s on this 2-CPU machine (a
 * pass at the code of the session before failed the same way), so it
 * sends an eighth there, at an eighth of the rate. */
#if defined(__SANITIZE_THREAD__)
#define CALL_BIG  (BIG / 8)
#define CALL_RATE (4u << 20)
#else
#define CALL_BIG  BIG
#define CALL_RATE (32u << 20)
#endif

static void large_call_and_reply_over_a_slow_link(void **state)
{
    (void)state;
    mbx *local = test_box("frag-calls", 8, BIG, 4ull * BIG);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    /* A remote caller's 64 MiB request, at 32 MiB/s. */
    proxy_rate(p, CALL_RATE);
    mbx *remote = open_remote(proxy_port(p), "frag-calls", MBX_SEND | MBX_RECV);
    uint8_t *req = malloc(CALL_BIG);
    assert_non_null(req);
    for (size_t i = 0; i < CALL_BIG; i++)
        req[i] = (uint8_t)(i * 13 + (i >> 12));
    struct big_server here = {local, CALL_BIG, 2, 0, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve_big, &here), 0);
    uint8_t reply[16];
    assert_int_equal(mbx_call(remote, req, CALL_BIG, 0, reply, sizeof(reply), 60000000000ll), 2);
    pthread_join(t, NULL);
    assert_int_equal(here.got, (ssize_t)CALL_BIG);
    assert_int_equal(here.replied, 0);
    /* Once, unless a loaded machine (ctest -j2 at load 8-17) kept the
     * link's ticks away for a second and it was made again: then the
     * call still ended, with the answer (it used to start over for
     * ever, and time out). */
    if (proxy_accepted(p) != 1)
        print_message("the request's link was made %d times\n", proxy_accepted(p));
    free(req);
    /* A remote server's 1 MiB reply (what a caller's own mailbox takes),
     * at 128 KiB/s in 8 KiB drips: much of it waits in the link's
     * buffers once the write returned, and bytes reach the gateway more
     * often than a heartbeat period, so only its ticks while it reads
     * tell the client that the link lives. It takes 8 s: a reply gave its
     * answer 5 s in all (and a second's grace), and said -ETIMEDOUT,
     * which says it was not delivered, while it was on its way, and then
     * delivered. Its wait now ends only with its link. */
    proxy_rate(p, 128u << 10);
    proxy_chunk(p, 8u << 10);
    struct big_server there = {remote, 4, 1u << 20, 0, -1};
    assert_int_equal(pthread_create(&t, NULL, serve_big, &there), 0);
    uint8_t *got = malloc((1u << 20) + 1);
    assert_non_null(got);
    uint8_t small[4];
    for (size_t i = 0; i < sizeof(small); i++)
        small[i] = (uint8_t)(i * 13 + (i >> 12));
    assert_int_equal(mbx_call(local, small, sizeof(small), 0, got, (1u << 20) + 1, 60000000000ll),
                     1 << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        if (got[i] != (uint8_t)(i * 13 + (i >> 12)))
            fail_msg("reply byte %zu", i);
    pthread_join(t, NULL);
    assert_int_equal(there.got, 4);
    assert_int_equal(there.replied, 0);
    free(got);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("frag-calls");
}

#define LARGE_MSGS 40 /* at least, and on until the link was cut 10 times */
#define LARGE_MAX  30000

/* Messages in pieces while the link is cut every few tens of ms: each
 * whose send returned 0 arrives once, whole, in order (a message cut half
 * way goes again from its first piece on the next link). */
static void large_messages_across_cuts(void **state)
{
    (void)state;
    const size_t most = 5 * 65536 + 123;
    mbx *local = test_box("frag-cut", 8, most, 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), "frag-cut", MBX_SEND);
    struct cutter c = {p, 0, 0};
    srand(13);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cut_often, &c), 0);
    uint8_t *buf = malloc(most), *got = malloc(most);
    assert_non_null(buf);
    assert_non_null(got);
    static uint8_t maybe[LARGE_MAX];
    memset(maybe, 0, sizeof(maybe));
    uint32_t next = 0, sent = 0;
    for (uint32_t i = 0; i < LARGE_MAX && (i < LARGE_MSGS || c.cuts < 10);) {
        size_t len = most - (i % 256) * 997;
        memset(buf, (int)(i & 0xff), len);
        memcpy(buf, &i, sizeof(i));
        /* The far mailbox may be full of messages still on their way when
         * the last send returned: a send that waits times out (not
         * delivered), the mailbox is drained and it goes again. */
        int r = mbx_send(remote, buf, len, 0, 200000000ll);
        if (r == 0 || r == -ENOTCONN) {
            maybe[i] = r == -ENOTCONN;
            sent = ++i;
        } else {
            assert_int_equal(r, -ETIMEDOUT);
        }
        ssize_t n;
        while ((n = mbx_recv(local, got, most, NULL, 0)) > 0) {
            uint32_t v;
            memcpy(&v, got, sizeof(v));
            while (v != next && next < sent && maybe[next])
                next++;
            assert_int_equal(v, next); /* in order, none twice */
            assert_int_equal((size_t)n, most - (v % 256) * 997);
            assert_int_equal(got[n - 1], v & 0xff);
            next++;
        }
    }
    c.stop = 1;
    pthread_join(t, NULL);
    assert_int_equal(mbx_sync(remote), 0);
    ssize_t n;
    while ((n = mbx_recv(local, got, most, NULL, 0)) > 0) {
        uint32_t v;
        memcpy(&v, got, sizeof(v));
        while (v != next && next < sent && maybe[next])
            next++;
        assert_int_equal(v, next);
        assert_int_equal((size_t)n, most - (v % 256) * 997);
        next++;
    }
    while (next < sent && maybe[next])
        next++;
    assert_int_equal(next, sent);
    print_message("%u messages of 5 or 6 pieces, link cut %d times: each delivered once, "
                  "whole, in order\n",
                  sent, c.cuts);
    assert_true(c.cuts >= 10);
    free(buf);
    free(got);
    mbx_close(remote);
    proxy_stop(p);
    mbx_close(local);
    mbx_unlink("frag-cut");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(send_and_receive_across),
        cmocka_unit_test(full_and_empty_as_local),
        cmocka_unit_test(nonblocking_send_beside_a_waiting_receive),
        cmocka_unit_test(pipelined_sends_keep_their_order_into_a_full_mailbox),
        cmocka_unit_test(send_that_does_not_fit_keeps_its_place),
        cmocka_unit_test(deep_window_bounded_in_bytes),
        cmocka_unit_test(pending_sends_sent_again_whole_from_their_chunks),
        cmocka_unit_test(pipelined_send_goes_out_by_itself),
        cmocka_unit_test(writer_gathers_only_while_streaming),
        cmocka_unit_test(fork_while_a_receive_waits),
        cmocka_unit_test(remote_sender_names_its_host),
#ifndef MBX_TEST_TLS
        cmocka_unit_test(received_then_closed_is_delivered_once),
#endif
        cmocka_unit_test(rendezvous_across),
        cmocka_unit_test(call_and_reply_across),
        cmocka_unit_test(reply_across_to_a_full_caller_may_be_sent_again),
        cmocka_unit_test(long_call_keeps_its_link),
        cmocka_unit_test(quick_calls_wake_no_second_thread),
        cmocka_unit_test(removal_across),
        cmocka_unit_test(refused_without_the_secret_or_outside_the_list),
        cmocka_unit_test(bypass_on_this_machine),
        cmocka_unit_test(exactly_once_across_cuts),
        cmocka_unit_test(calls_exactly_once_across_cuts),
        cmocka_unit_test(confirmed_send_across),
        cmocka_unit_test(confirmed_exactly_once_across_cuts),
        cmocka_unit_test(timed_send_resent_after_its_deadline),
        cmocka_unit_test(stalled_link_is_detected),
        cmocka_unit_test(large_message_does_not_hold_back_a_small_one),
        cmocka_unit_test(large_message_received_over_a_slow_link),
        cmocka_unit_test(large_call_and_reply_over_a_slow_link),
        cmocka_unit_test(large_messages_across_cuts),
    };
    if (getenv("TEST_ONLY")) /* TEST_ONLY=large_call_and_reply_over_a_slow_link: that test alone */
        cmocka_set_test_filter(getenv("TEST_ONLY"));
    if (getenv("TEST_SKIP")) /* TEST_SKIP=large_call_and_reply_over_a_slow_link: all others */
        cmocka_set_skip_filter(getenv("TEST_SKIP"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
