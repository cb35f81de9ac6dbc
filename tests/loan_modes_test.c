/* Loans in every capacity mode and receive policy: one sender alternates
 * loaned and copied messages of random sizes and priorities, three receiver
 * processes alternate mbx_recv_loan and mbx_recv, and every message must
 * arrive exactly once with its own bytes. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define RECEIVERS 3
#define END_MARK  0xffffffffu
/* Receivers of a failed test end on their own. */
#define RECV_TIMEOUT (20ll * 1000000000)

struct mode {
    const char *name;
    uint32_t capacity, policy;
    uint64_t max_msg;
    unsigned count;
};

/* What the receivers saw, in memory shared with the test. */
struct seen {
    _Atomic unsigned times[4096]; /* deliveries per sequence number */
    _Atomic unsigned bad;         /* messages whose bytes were wrong */
};

/* A message: its sequence number, then bytes that follow from it. */
static unsigned char fill_byte(uint32_t seq, size_t i)
{
    return (unsigned char)(seq * 31u + i * 7u);
}

static size_t msg_len(uint32_t seq, uint64_t max)
{
    size_t n = 4 + (size_t)((seq * 2654435761u) % (max - 3));
    return n > max ? max : n;
}

static void fill(unsigned char *p, uint32_t seq, size_t len)
{
    memcpy(p, &seq, 4);
    for (size_t i = 4; i < len; i++)
        p[i] = fill_byte(seq, i);
}

/* Records one message; returns its sequence number. */
static uint32_t check(struct seen *sn, const unsigned char *p, size_t len, uint64_t max)
{
    uint32_t seq;
    memcpy(&seq, p, 4);
    if (seq == END_MARK)
        return seq;
    int ok = seq < 4096 && len == msg_len(seq, max);
    for (size_t i = 4; ok && i < len; i++)
        ok = p[i] == fill_byte(seq, i);
    if (!ok) {
        atomic_fetch_add(&sn->bad, 1);
        return 0;
    }
    atomic_fetch_add(&sn->times[seq], 1);
    return seq;
}

static int receiver(const char *name, struct seen *sn, uint64_t max)
{
    mbx *m;
    if (mbx_open(name, MBX_RECV, NULL, &m) != 0)
        return 1;
    unsigned char *buf = malloc(max);
    for (unsigned k = 0;; k++) {
        uint32_t seq;
        if (k % 2) {
            const void *in;
            ssize_t n = mbx_recv_loan(m, &in, NULL, RECV_TIMEOUT);
            if (n < 0)
                return 2;
            seq = check(sn, in, (size_t)n, max);
            if (mbx_release(m, in) != 0)
                return 3;
        } else {
            ssize_t n = mbx_recv(m, buf, max, NULL, RECV_TIMEOUT);
            if (n < 0)
                return 4;
            seq = check(sn, buf, (size_t)n, max);
        }
        if (seq == END_MARK)
            break;
    }
    free(buf);
    mbx_close(m);
    return 0;
}

static int send_one(mbx *m, uint32_t seq, uint64_t max, unsigned char *tmp)
{
    size_t len = seq == END_MARK ? 4 : msg_len(seq, max);
    unsigned prio = seq == END_MARK ? 0 : seq % 4;
    if (seq % 2 == 0 || seq == END_MARK) {
        fill(tmp, seq, len);
        return mbx_send(m, tmp, len, prio, MBX_FOREVER);
    }
    void *p;
    int r;
    /* mbx_loan never waits: a full ring lends nothing until a receiver
     * takes a message. */
    while ((r = mbx_loan(m, len, &p)) == -EAGAIN)
        usleep(100);
    if (r)
        return r;
    fill(p, seq, len);
    return mbx_send_loan(m, p, len, prio, MBX_FOREVER);
}

static void run_mode(const struct mode *md)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = md->capacity;
    a.recv_policy = md->policy;
    a.max_msg_size = md->max_msg;
    mbx *m;
    mbx_unlink(md->name);
    assert_int_equal(mbx_open(md->name, MBX_SEND | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    struct seen *sn =
        mmap(NULL, sizeof(*sn), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sn != MAP_FAILED);
    pid_t kids[RECEIVERS];
    for (int i = 0; i < RECEIVERS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0)
            _exit(receiver(md->name, sn, md->max_msg));
    }
    unsigned char *tmp = malloc(md->max_msg);
    for (uint32_t seq = 0; seq < md->count; seq++) {
        int r = send_one(m, seq, md->max_msg, tmp);
        if (r)
            fail_msg("%s: message %u (%s) not sent: %s", md->name, seq,
                     seq % 2 ? "loaned" : "copied", mbx_strerror(r));
    }
    for (int i = 0; i < RECEIVERS; i++)
        assert_int_equal(send_one(m, END_MARK, md->max_msg, tmp), 0);
    for (int i = 0; i < RECEIVERS; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s: receiver %d ended with status %#x", md->name, i, st);
    }
    assert_int_equal(atomic_load(&sn->bad), 0);
    for (unsigned seq = 0; seq < md->count; seq++)
        if (atomic_load(&sn->times[seq]) != 1)
            fail_msg("%s: message %u delivered %u times", md->name, seq,
                     atomic_load(&sn->times[seq]));
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    free(tmp);
    munmap(sn, sizeof(*sn));
    mbx_close(m);
    mbx_unlink(md->name);
}

static void bounded_small(void **state)
{
    (void)state;
    run_mode(&(struct mode){"lm.bounded", 4, MBX_RECV_ANY, 512, 4000});
}

static void bounded_large(void **state)
{
    (void)state;
    run_mode(&(struct mode){"lm.large", 8, MBX_RECV_ANY, 2u << 20, 300});
}

static void rendezvous(void **state)
{
    (void)state;
    run_mode(&(struct mode){"lm.rendezvous", MBX_RENDEZVOUS, MBX_RECV_ANY, 512, 2000});
}

static void unbounded(void **state)
{
    (void)state;
    run_mode(&(struct mode){"lm.unbounded", MBX_UNBOUNDED, MBX_RECV_ANY, 4096, 4000});
}

static void round_robin(void **state)
{
    (void)state;
    run_mode(&(struct mode){"lm.rr", 16, MBX_RECV_ROUND_ROBIN, 512, 3000});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounded_small), cmocka_unit_test(bounded_large),
        cmocka_unit_test(rendezvous),    cmocka_unit_test(unbounded),
        cmocka_unit_test(round_robin),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
