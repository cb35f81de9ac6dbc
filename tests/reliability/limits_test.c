/* Limits: thousands of mailboxes open at once in one process, 64 processes
 * on one mailbox, and running out of room (a mailbox's memory limit, the
 * process's file limits). Each must give clean errors and lose or garble
 * nothing. Public API only. */
#include "test_box.h"

#include "mbx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

static int count_one(const char *name, void *arg)
{
    (void)name;
    ++*(int *)arg;
    return 0;
}

/* ---- thousands of mailboxes open at once ---- */

#define WANT_BOXES 3000

static void thousands_of_mailboxes(void **state)
{
    (void)state;
    struct rlimit was, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    rl = was;
    /* One descriptor per mailbox, and a few to spare. A hard limit below
     * that is raised where we may (CAP_SYS_RESOURCE, e.g. as root). */
    rlim_t need = (rlim_t)(WANT_BOXES + open_fds() + 16);
    if (rl.rlim_max < need) {
        struct rlimit raised = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int n = WANT_BOXES;
    int room = (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur) - open_fds() - 16;
    if (room < n) {
        /* Fewer would not check what the README claims. */
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
        test_skip("%d mailboxes open at once: RLIMIT_NOFILE's hard limit %llu leaves room for "
                  "%d, and this process may not raise it",
                  n, (unsigned long long)rl.rlim_max, room);
    }

    mbx **boxes = calloc((size_t)n, sizeof(*boxes));
    assert_non_null(boxes);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 2;
    a.max_msg_size = 32;
    int64_t t0 = now_ns();
    char name[32], buf[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "many-%d", i);
        int r = mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &boxes[i]);
        if (r)
            fail_msg("mailbox %d of %d: %s", i, n, mbx_strerror(r));
        int len = snprintf(buf, sizeof(buf), "message for %d", i);
        assert_int_equal(mbx_send(boxes[i], buf, (size_t)len, (unsigned)i % 7, 0), 0);
    }
    int64_t t_open = now_ns();
    int listed = 0;
    assert_int_equal(mbx_foreach(count_one, &listed), 0);
    assert_int_equal(listed, n);

    /* One more past the file limit: a clean -EMFILE, nothing left behind,
     * and the mailboxes already open unharmed. */
    int files = test_dir_count();
    int lowest = open("/dev/null", O_RDONLY); /* the lowest free descriptor */
    assert_true(lowest >= 0);
    close(lowest);
    rl.rlim_cur = (rlim_t)lowest;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    mbx *extra = NULL;
    assert_int_equal(mbx_open("one-too-many", MBX_SEND | MBX_CREATE, &a, &extra), -EMFILE);
    assert_int_equal(mbx_open("many-0", MBX_SEND, NULL, &extra), -EMFILE);
    mbx_stat st;
    assert_int_equal(mbx_stat_name("many-1", &st), -EMFILE);
    assert_null(extra);
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(test_dir_count(), files);

    /* Every mailbox holds its own message, and only that one. */
    for (int i = 0; i < n; i++) {
        assert_int_equal(mbx_stat_get(boxes[i], &st), 0);
        assert_int_equal(st.count, 1);
        int len = snprintf(name, sizeof(name), "message for %d", i);
        mbx_msginfo info;
        assert_int_equal(mbx_recv(boxes[i], buf, sizeof(buf), &info, 0), len);
        assert_memory_equal(buf, name, (size_t)len);
        assert_int_equal(info.priority, (unsigned)i % 7);
        assert_int_equal(mbx_recv(boxes[i], buf, sizeof(buf), NULL, 0), -EAGAIN);
    }
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "many-%d", i);
        assert_int_equal(mbx_close(boxes[i]), 0);
        assert_int_equal(mbx_unlink(name), 0);
    }
    free(boxes);
    assert_int_equal(test_dir_count(), 0);
    print_message("%d mailboxes open at once (created and filled in %.0f ms)\n", n,
                  (double)(t_open - t0) / 1e6);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
}

/* ---- 64 processes on one mailbox ---- */

#define SENDERS   32
#define RECEIVERS 32
#define PER       2000 /* messages per sender */
#define TOTAL     (SENDERS * PER)

struct pmsg {
    uint32_t sender, seq, sum;
    unsigned char body[48];
};

struct tally {
    uint64_t taken; /* messages received, all receivers together */
    uint32_t bad;
    uint8_t got[TOTAL];
};

static uint32_t pmsg_fill(struct pmsg *m, uint32_t sender, uint32_t seq)
{
    m->sender = sender;
    m->seq = seq;
    for (size_t i = 0; i < sizeof(m->body); i++)
        m->body[i] = (unsigned char)(sender * 131 + seq * 7 + i);
    m->sum = test_sum(m->body, sizeof(m->body)) ^ (sender << 16 | seq);
    return m->sum;
}

static int pmsg_whole(const struct pmsg *m)
{
    return m->sender < SENDERS && m->seq < PER &&
           m->sum == (test_sum(m->body, sizeof(m->body)) ^ (m->sender << 16 | m->seq));
}

static void child_start(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(99);
}

static void sixty_four_processes(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 16; /* small: senders wait, receivers wait, both wake */
    a.max_msg_size = sizeof(struct pmsg);
    mbx *m;
    assert_int_equal(mbx_open("crowd", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    struct tally *t =
        mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(t != MAP_FAILED);
    pid_t pids[SENDERS + RECEIVERS];
    int64_t t0 = now_ns();
    for (int i = 0; i < SENDERS + RECEIVERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] != 0)
            continue;
        child_start();
        mbx *h;
        if (mbx_open("crowd", i < SENDERS ? MBX_SEND : MBX_RECV, NULL, &h))
            _exit(10);
        struct pmsg msg;
        if (i < SENDERS) {
            for (uint32_t s = 0; s < PER; s++) {
                pmsg_fill(&msg, (uint32_t)i, s);
                if (mbx_send(h, &msg, sizeof(msg), s % 4, 20000000000ll))
                    _exit(11);
            }
        } else {
            while (__atomic_load_n(&t->taken, __ATOMIC_SEQ_CST) < TOTAL) {
                ssize_t n = mbx_recv(h, &msg, sizeof(msg), NULL, 20000000);
                if (n == -ETIMEDOUT)
                    continue;
                if (n != (ssize_t)sizeof(msg) || !pmsg_whole(&msg)) {
                    __atomic_fetch_add(&t->bad, 1, __ATOMIC_SEQ_CST);
                    _exit(12);
                }
                __atomic_fetch_add(&t->got[msg.sender * PER + msg.seq], 1, __ATOMIC_SEQ_CST);
                __atomic_fetch_add(&t->taken, 1, __ATOMIC_SEQ_CST);
            }
        }
        mbx_close(h);
        _exit(0);
    }
    /* Everyone ends by itself within the time limit, or the test fails. */
    int left = SENDERS + RECEIVERS, failed = 0;
    while (left > 0 && now_ns() - t0 < 60000000000ll) {
        for (int i = 0; i < SENDERS + RECEIVERS; i++) {
            int st;
            if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                    print_error("process %d (%s): status %#x\n", i,
                                i < SENDERS ? "sender" : "receiver", st);
                    failed++;
                }
                pids[i] = 0;
                left--;
            }
        }
        sleep_ms(2);
    }
    for (int i = 0; i < SENDERS + RECEIVERS; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    }
    assert_int_equal(left, 0);
    assert_int_equal(failed, 0);
    assert_int_equal(t->bad, 0);
    assert_int_equal(t->taken, TOTAL);
    for (int i = 0; i < TOTAL; i++)
        if (t->got[i] != 1)
            fail_msg("message %d.%d received %d times", i / PER, i % PER, t->got[i]);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.sent_total, TOTAL);
    assert_int_equal(st.received_total, TOTAL);
    assert_int_equal(st.senders_waiting, 0);
    assert_int_equal(st.receivers_waiting, 0);
    print_message("%d senders and %d receivers: %d messages, each received once, in %.0f ms\n",
                  SENDERS, RECEIVERS, TOTAL, (double)(now_ns() - t0) / 1e6);
    munmap(t, sizeof(*t));
    mbx_close(m);
    mbx_unlink("crowd");
}

/* ---- running out of room ---- */

#define LIMIT   (64u * 1024)
#define BIGGEST 4096u

static size_t size_of(uint32_t i)
{
    return 1 + (i * 2654435761u) % BIGGEST;
}

static void fill_body(unsigned char *b, size_t n, uint32_t i)
{
    for (size_t k = 0; k < n; k++)
        b[k] = (unsigned char)(i * 31 + k);
}

/* Sends messages of assorted sizes until -ENOSPC; returns how many fit. */
static uint32_t fill(mbx *m, uint64_t *bytes)
{
    unsigned char buf[BIGGEST];
    uint32_t i = 0;
    int r;
    *bytes = 0;
    for (;;) {
        size_t n = size_of(i);
        fill_body(buf, n, i);
        if ((r = mbx_send(m, buf, n, i % 3, MBX_FOREVER)) != 0)
            break;
        *bytes += n;
        i++;
        assert_true(i < 100000);
    }
    assert_int_equal(r, -ENOSPC);
    return i;
}

static void unbounded_runs_out_cleanly(void **state)
{
    (void)state;
    mbx *m = test_box("tight", MBX_UNBOUNDED, BIGGEST, LIMIT);
    uint32_t first = 0, largest = 0;
    uint64_t least = UINT64_MAX;
    for (int round = 0; round < 5; round++) {
        uint64_t bytes;
        uint32_t n = fill(m, &bytes);
        assert_true(n > 0);
        assert_true(bytes <= LIMIT);
        if (round == 0)
            first = n;
        /* Free blocks are merged only when an allocation fails, so how many
         * of these fit varies with what the last round left: at least half
         * the limit's worth, always. */
        assert_true(bytes * 2 >= LIMIT);
        least = bytes < least ? bytes : least;
        mbx_stat st;
        assert_int_equal(mbx_stat_get(m, &st), 0);
        assert_int_equal(st.count, n);
        assert_int_equal(st.bytes, bytes);
        /* A loan past the limit, and a message that cannot fit: clean too,
         * and neither changes what is queued. */
        void *loan = NULL;
        assert_int_equal(mbx_loan(m, BIGGEST, &loan), -ENOSPC);
        unsigned char buf[BIGGEST];
        assert_int_equal(mbx_send(m, buf, BIGGEST, 0, 1000000), -ENOSPC);
        assert_int_equal(mbx_send(m, buf, BIGGEST, 0, 0), -ENOSPC);
        assert_int_equal(mbx_stat_get(m, &st), 0);
        assert_int_equal(st.count, n);
        assert_int_equal(st.bytes, bytes);
        /* Every message whole, priorities first then in order. */
        for (unsigned prio = 3; prio-- > 0;) {
            for (uint32_t i = prio; i < n; i += 3) {
                mbx_msginfo info;
                size_t len = size_of(i);
                unsigned char want[BIGGEST];
                fill_body(want, len, i);
                assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, 0), (ssize_t)len);
                assert_memory_equal(buf, want, len);
                assert_int_equal(info.priority, prio);
            }
        }
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
        assert_int_equal(mbx_stat_get(m, &st), 0);
        assert_int_equal(st.count, 0);
        assert_int_equal(st.bytes, 0);
        /* Nothing leaked: once empty, as many of the largest messages fit
         * as the first time. */
        uint32_t k = 0;
        int r;
        memset(buf, 0x5a, sizeof(buf));
        while ((r = mbx_send(m, buf, BIGGEST, 0, 0)) == 0)
            k++;
        assert_int_equal(r, -ENOSPC);
        if (round == 0)
            largest = k;
        assert_int_equal(k, largest);
        for (uint32_t i = 0; i < k; i++)
            assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), BIGGEST);
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
    }
    print_message("unbounded mailbox, memory_limit %u: %u messages of 1..%u bytes fit, then "
                  "-ENOSPC (%llu bytes at the least in 5 rounds); %u of %u bytes each time\n",
                  LIMIT, first, BIGGEST, (unsigned long long)least, largest, BIGGEST);
    mbx_close(m);
    mbx_unlink("tight");
}

/* No small file system can be mounted without privileges, so the file
 * side of running out is played by the process's file-size limit: creating
 * a mailbox fails cleanly (the kernel's -EFBIG), leaves no file behind, and
 * mailboxes that exist keep working. (A tmpfs that fills up under a mailbox
 * already created is not covered here.) */
static void file_size_limit_on_create(void **state)
{
    (void)state;
    mbx *old;
    assert_int_equal(mbx_open("before", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &old), 0);
    struct sigaction ign, saved;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ign, &saved);
    struct rlimit was, rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    rl = was;
    rl.rlim_cur = 1;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    int files = test_dir_count();
    mbx *m = NULL;
    int r = mbx_open("after", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = MBX_UNBOUNDED;
    int r2 = mbx_open("after2", MBX_SEND | MBX_CREATE, &a, &m);
    int files_after = test_dir_count();
    /* The mailbox made before is sized already: it keeps working. */
    int s = mbx_send(old, "still here", 10, 0, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    sigaction(SIGXFSZ, &saved, NULL);
    assert_int_equal(r, -EFBIG);
    assert_int_equal(r2, -EFBIG);
    assert_null(m);
    assert_int_equal(files_after, files);
    assert_int_equal(s, 0);
    char buf[16];
    assert_int_equal(mbx_recv(old, buf, sizeof(buf), NULL, 0), 10);
    assert_memory_equal(buf, "still here", 10);
    /* And with the limit lifted, creating works again. */
    assert_int_equal(mbx_open("after", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    mbx_close(m);
    mbx_close(old);
    mbx_unlink("after");
    mbx_unlink("before");
    assert_int_equal(test_dir_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thousands_of_mailboxes),
        cmocka_unit_test(sixty_four_processes),
        cmocka_unit_test(unbounded_runs_out_cleanly),
        cmocka_unit_test(file_size_limit_on_create),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
