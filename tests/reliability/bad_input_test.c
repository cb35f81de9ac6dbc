/* Bad input: a table of calls that must fail, each with the error the
 * contract names, and none of which may change what a mailbox holds. After
 * every row the mailboxes' counters are compared with what they were, and at
 * the end the main mailbox is drained and must give back exactly the
 * messages queued before the table ran. Public API only (and the period at
 * which a sender looks at an owner, to wait it out). */
#include "test_util.h"

#include "mbx.h"
#include "shm/owner.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define BOX_MAX 64 /* max_msg_size of the main mailbox */

enum op {
    O_OPEN,
    O_UNLINK,
    O_STAT_NAME,
    O_STAT_GET,
    O_CLOSE,
    O_SYNC,
    O_FOREACH,
    O_SET_SPIN,
    O_SELF,
    O_SEND,
    O_RECV,
    O_RECV_FROM,
    O_CALL,
    O_REPLY,
    O_TRANSFER,
    O_TRANSFER_IN_CHILD, /* another process, not the owner, tries it */
    O_LOAN,
    O_SEND_LOAN,
    O_RECV_LOAN,
    O_RELEASE,
};

/* Which handle a row calls with. */
enum hsel {
    H_BOTH = 0,   /* the main mailbox, MBX_SEND | MBX_RECV */
    H_TX,         /* the main mailbox, MBX_SEND only */
    H_RX,         /* the main mailbox, MBX_RECV only */
    H_NULL,       /* NULL */
    H_FULL,       /* a mailbox at capacity */
    H_OWNED,      /* an MBX_OWNED mailbox of ours */
    H_STREAM,     /* an MBX_STREAM mailbox */
    H_GONE,       /* a mailbox that was unlinked */
    H_GONE_RX,    /* the same, MBX_RECV only */
    H_GONE_OWNED, /* an owned mailbox that was unlinked */
    H_DEAD_OWNED, /* an owned mailbox whose owner (another process) was killed */
};

/* Which pointer a row passes as its buffer (or out-parameter). */
enum psel {
    P_OK = 0,     /* a buffer of ours, or a valid out-parameter */
    P_NULL,       /* NULL */
    P_STACK,      /* a buffer that is no loan */
    P_AUX_LOAN,   /* a send loan of another mailbox */
    P_AUX_RLOAN,  /* a received loan of another mailbox */
    P_BOX_LOAN,   /* a send loan of the main mailbox, from its send-only handle */
    P_LOAN_MID,   /* one byte into that loan */
    P_BOX_BEFORE, /* just before the first byte a loan could have */
    P_GONE_LOAN,  /* a send loan of H_GONE, taken before it was unlinked */
    P_DEAD_LOAN,  /* a send loan of H_DEAD_OWNED, taken before its owner died */
};

/* Which attributes an O_OPEN row passes. */
enum asel {
    A_NULL = 0,
    A_SIZE0,
    A_SIZE_BIG,
    A_CAP_BIG,
    A_POLICY,
    A_MODE,
    A_MEM_SMALL,
    A_MEM_BIG,
    A_RENDEZVOUS,
    A_UNBOUNDED,
};

#define PID_DEAD (-1000000) /* num: a pid that no process has */
#define PID_SELF (-1000001) /* num: our own pid */
#define PID_INIT (-1000002) /* num: pid 1 */

struct row {
    const char *what;
    enum op op;
    enum hsel h;
    const char *name;
    int flags;
    enum asel attr;
    enum psel p;
    size_t len; /* length, or capacity for receives */
    unsigned prio;
    int64_t timeout;
    int64_t num; /* a pid, a reply token, a spin time */
    long expect;
    int removes; /* mailbox files the call removes, as the contract says */
};

static char name201[202], name200[201];

/* clang-format off */
static const struct row rows[] = {
    /* mbx_open: names */
    {"open NULL name", O_OPEN, .name = NULL, .flags = MBX_SEND, .expect = -EINVAL},
    {"open NULL out", O_OPEN, .name = "box", .flags = MBX_SEND, .p = P_NULL, .expect = -EINVAL},
    {"open empty name", O_OPEN, .name = "", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name /", O_OPEN, .name = "/", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name a/b", O_OPEN, .name = "a/b", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name ../box", O_OPEN, .name = "../box", .flags = MBX_SEND, .expect = -EINVAL},
    {"open name .hidden", O_OPEN, .name = ".hidden", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name .", O_OPEN, .name = ".", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name ..", O_OPEN, .name = "..", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name with a space", O_OPEN, .name = "a b", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name with *", O_OPEN, .name = "a*", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name with UTF-8", O_OPEN, .name = "caf\xc3\xa9", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name with a newline", O_OPEN, .name = "a\nb", .flags = MBX_SEND | MBX_CREATE, .expect = -EINVAL},
    {"open name of 201 bytes", O_OPEN, .name = name201, .flags = MBX_SEND | MBX_CREATE, .expect = -ENAMETOOLONG},
    {"open unknown scheme", O_OPEN, .name = "xyz://127.0.0.1:9/box", .flags = MBX_SEND | MBX_CREATE, .expect = -EPROTONOSUPPORT},
    {"open tcp:// name without a port", O_OPEN, .name = "tcp://127.0.0.1/box", .flags = MBX_SEND, .expect = -EINVAL},
    {"open tcp:// name without a mailbox", O_OPEN, .name = "tcp://127.0.0.1:9/", .flags = MBX_SEND, .expect = -EINVAL},
    {"open @0", O_OPEN, .name = "@0", .flags = MBX_SEND, .expect = -EINVAL},
    {"open @-5", O_OPEN, .name = "@-5", .flags = MBX_SEND, .expect = -EINVAL},
    {"open @12x", O_OPEN, .name = "@12x", .flags = MBX_SEND, .expect = -EINVAL},
    {"create @1, another process's mailbox", O_OPEN, .name = "@1", .flags = MBX_SEND | MBX_RECV | MBX_CREATE, .expect = -EACCES},
    {"open missing mailbox", O_OPEN, .name = "missing", .flags = MBX_SEND, .expect = -ENOENT},
    {"open existing with CREATE|EXCL", O_OPEN, .name = "box", .flags = MBX_SEND | MBX_CREATE | MBX_EXCL, .expect = -EEXIST},
    /* mbx_open: flags */
    {"open flags 0", O_OPEN, .name = "box", .flags = 0, .expect = -EINVAL},
    {"open CREATE alone", O_OPEN, .name = "box", .flags = MBX_CREATE, .expect = -EINVAL},
    {"open unknown flag 0x80", O_OPEN, .name = "box", .flags = MBX_SEND | 0x80, .expect = -EINVAL},
    {"open negative flags", O_OPEN, .name = "box", .flags = MBX_SEND | (int)0x80000000u, .expect = -EINVAL},
    {"open EXCL without CREATE", O_OPEN, .name = "box", .flags = MBX_SEND | MBX_EXCL, .expect = -EINVAL},
    {"open OWNED without CREATE", O_OPEN, .name = "box", .flags = MBX_SEND | MBX_OWNED, .expect = -EINVAL},
    {"open STREAM without CREATE", O_OPEN, .name = "box", .flags = MBX_RECV | MBX_STREAM, .expect = -EINVAL},
    /* mbx_open: attributes */
    {"create max_msg_size 0", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_SIZE0, .expect = -EINVAL},
    {"create max_msg_size 1 GiB + 1", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_SIZE_BIG, .expect = -EINVAL},
    {"create capacity 2^31 + 1", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_CAP_BIG, .expect = -EINVAL},
    {"create recv_policy 4 (none)", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_POLICY, .expect = -EINVAL},
    {"create mode 04600", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_MODE, .expect = -EINVAL},
    {"create memory_limit 10", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_MEM_SMALL, .expect = -EINVAL},
    {"create memory_limit UINT64_MAX", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE, .attr = A_MEM_BIG, .expect = -EINVAL},
    {"create stream of capacity RENDEZVOUS", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE | MBX_STREAM, .attr = A_RENDEZVOUS, .expect = -EINVAL},
    {"create stream of capacity UNBOUNDED", O_OPEN, .name = "new", .flags = MBX_SEND | MBX_CREATE | MBX_STREAM, .attr = A_UNBOUNDED, .expect = -EINVAL},
    /* mbx_unlink, mbx_stat_name, and the calls that take nothing but a pointer */
    {"unlink NULL", O_UNLINK, .name = NULL, .expect = -EINVAL},
    {"unlink empty name", O_UNLINK, .name = "", .expect = -EINVAL},
    {"unlink name a/b", O_UNLINK, .name = "a/b", .expect = -EINVAL},
    {"unlink name .box", O_UNLINK, .name = ".box", .expect = -EINVAL},
    {"unlink name of 201 bytes", O_UNLINK, .name = name201, .expect = -ENAMETOOLONG},
    {"unlink name of 200 bytes, missing", O_UNLINK, .name = name200, .expect = -ENOENT},
    {"unlink missing", O_UNLINK, .name = "missing", .expect = -ENOENT},
    {"stat_name NULL name", O_STAT_NAME, .name = NULL, .expect = -EINVAL},
    {"stat_name NULL out", O_STAT_NAME, .name = "box", .p = P_NULL, .expect = -EINVAL},
    {"stat_name bad name", O_STAT_NAME, .name = "b/x", .expect = -EINVAL},
    {"stat_name missing", O_STAT_NAME, .name = "missing", .expect = -ENOENT},
    {"stat_get NULL handle", O_STAT_GET, .h = H_NULL, .expect = -EINVAL},
    {"stat_get NULL out", O_STAT_GET, .h = H_BOTH, .p = P_NULL, .expect = -EINVAL},
    {"close NULL", O_CLOSE, .h = H_NULL, .expect = -EINVAL},
    {"sync NULL", O_SYNC, .h = H_NULL, .expect = -EINVAL},
    {"foreach NULL function", O_FOREACH, .p = P_NULL, .expect = -EINVAL},
    {"set_spin NULL handle", O_SET_SPIN, .h = H_NULL, .num = 0, .expect = -EINVAL},
    {"set_spin -2", O_SET_SPIN, .h = H_BOTH, .num = -2, .expect = -EINVAL},
    {"self NULL out", O_SELF, .p = P_NULL, .expect = -EINVAL},
    /* mbx_send */
    {"send NULL handle", O_SEND, .h = H_NULL, .len = 1, .expect = -EINVAL},
    {"send on a receive-only handle", O_SEND, .h = H_RX, .len = 1, .expect = -EBADF},
    {"send NULL buffer, len 1", O_SEND, .h = H_TX, .p = P_NULL, .len = 1, .expect = -EINVAL},
    {"send priority MBX_PRIO_MAX", O_SEND, .h = H_TX, .len = 1, .prio = MBX_PRIO_MAX, .expect = -EINVAL},
    {"send priority UINT_MAX", O_SEND, .h = H_TX, .len = 1, .prio = 0xffffffffu, .expect = -EINVAL},
    {"send timeout -2", O_SEND, .h = H_TX, .len = 1, .timeout = -2, .expect = -EINVAL},
    {"send timeout INT64_MIN", O_SEND, .h = H_TX, .len = 1, .timeout = INT64_MIN, .expect = -EINVAL},
    {"send max_msg_size + 1", O_SEND, .h = H_TX, .len = BOX_MAX + 1, .expect = -EMSGSIZE},
    {"send SIZE_MAX bytes", O_SEND, .h = H_TX, .len = SIZE_MAX, .expect = -EMSGSIZE},
    {"send on a full mailbox, nonblocking", O_SEND, .h = H_FULL, .len = 1, .expect = -EAGAIN},
    {"send on a full mailbox, 2 ms", O_SEND, .h = H_FULL, .len = 1, .timeout = 2000000, .expect = -ETIMEDOUT},
    {"send priority MBX_PRIO_MAX on a stream", O_SEND, .h = H_STREAM, .len = 1, .prio = MBX_PRIO_MAX, .expect = -EINVAL},
    /* mbx_recv, mbx_recv_from */
    {"recv NULL handle", O_RECV, .h = H_NULL, .len = BOX_MAX, .expect = -EINVAL},
    {"recv on a send-only handle", O_RECV, .h = H_TX, .len = BOX_MAX, .expect = -EBADF},
    {"recv NULL buffer, cap 5", O_RECV, .h = H_RX, .p = P_NULL, .len = 5, .expect = -EINVAL},
    {"recv timeout -2", O_RECV, .h = H_RX, .len = BOX_MAX, .timeout = -2, .expect = -EINVAL},
    {"recv cap 1 below the message", O_RECV, .h = H_RX, .len = 1, .expect = -EMSGSIZE},
    {"recv NULL buffer, cap 0", O_RECV, .h = H_RX, .p = P_NULL, .len = 0, .expect = -EMSGSIZE},
    {"recv_from pid 0", O_RECV_FROM, .h = H_RX, .len = BOX_MAX, .num = 0, .expect = -EINVAL},
    {"recv_from pid -5", O_RECV_FROM, .h = H_RX, .len = BOX_MAX, .num = -5, .expect = -EINVAL},
    {"recv_from on a send-only handle", O_RECV_FROM, .h = H_TX, .len = BOX_MAX, .num = 1, .expect = -EBADF},
    {"recv_from timeout -2", O_RECV_FROM, .h = H_RX, .len = BOX_MAX, .num = 1, .timeout = -2, .expect = -EINVAL},
    {"recv_from a pid that sent nothing", O_RECV_FROM, .h = H_RX, .len = BOX_MAX, .num = 1, .expect = -EAGAIN},
    /* mbx_call, mbx_reply */
    {"call NULL handle", O_CALL, .h = H_NULL, .len = 1, .expect = -EINVAL},
    {"call on a receive-only handle", O_CALL, .h = H_RX, .len = 1, .expect = -EBADF},
    {"call priority MBX_PRIO_MAX", O_CALL, .h = H_TX, .len = 1, .prio = MBX_PRIO_MAX, .expect = -EINVAL},
    {"call NULL request, len 1", O_CALL, .h = H_TX, .p = P_NULL, .len = 1, .expect = -EINVAL},
    {"call timeout -2", O_CALL, .h = H_TX, .len = 1, .timeout = -2, .expect = -EINVAL},
    {"call request too long", O_CALL, .h = H_TX, .len = BOX_MAX + 1, .expect = -EMSGSIZE},
    {"reply NULL request", O_REPLY, .h = H_NULL, .len = 1, .expect = -EINVAL},
    {"reply with a zero token", O_REPLY, .num = 0, .len = 1, .expect = -EINVAL},
    {"reply with a token of pid -1", O_REPLY, .num = (int64_t)0xffffffff00000001ull, .len = 1, .expect = -EINVAL},
    {"reply NULL buffer, len 1", O_REPLY, .num = 1ll << 32 | 1, .p = P_NULL, .len = 1, .expect = -EINVAL},
    {"reply to a process that is gone", O_REPLY, .num = PID_DEAD, .len = 1, .expect = -ESRCH},
    /* mbx_transfer */
    {"transfer NULL handle", O_TRANSFER, .h = H_NULL, .num = 1, .expect = -EINVAL},
    {"transfer to pid 0", O_TRANSFER, .h = H_OWNED, .num = 0, .expect = -EINVAL},
    {"transfer to pid -1", O_TRANSFER, .h = H_OWNED, .num = -1, .expect = -EINVAL},
    {"transfer a mailbox that is not owned", O_TRANSFER, .h = H_BOTH, .num = PID_SELF, .expect = -EINVAL},
    {"transfer to a process that is gone", O_TRANSFER, .h = H_OWNED, .num = PID_DEAD, .expect = -ESRCH},
    {"transfer by a process that is not the owner", O_TRANSFER_IN_CHILD, .h = H_OWNED, .expect = -EPERM},
    /* loans */
    {"loan NULL handle", O_LOAN, .h = H_NULL, .len = 1, .expect = -EINVAL},
    {"loan on a receive-only handle", O_LOAN, .h = H_RX, .len = 1, .expect = -EBADF},
    {"loan NULL out", O_LOAN, .h = H_TX, .p = P_NULL, .len = 1, .expect = -EINVAL},
    {"loan max_msg_size + 1", O_LOAN, .h = H_TX, .len = BOX_MAX + 1, .expect = -EMSGSIZE},
    {"loan on a stream", O_LOAN, .h = H_STREAM, .len = 1, .expect = -EINVAL},
    {"send_loan NULL handle", O_SEND_LOAN, .h = H_NULL, .p = P_BOX_LOAN, .len = 1, .expect = -EINVAL},
    {"send_loan on a receive-only handle", O_SEND_LOAN, .h = H_RX, .p = P_BOX_LOAN, .len = 1, .expect = -EBADF},
    {"send_loan NULL buffer", O_SEND_LOAN, .h = H_TX, .p = P_NULL, .len = 1, .expect = -EINVAL},
    {"send_loan of a plain buffer", O_SEND_LOAN, .h = H_TX, .p = P_STACK, .len = 1, .expect = -EINVAL},
    {"send_loan of another mailbox's loan", O_SEND_LOAN, .h = H_TX, .p = P_AUX_LOAN, .len = 1, .expect = -EINVAL},
    {"send_loan of a received loan", O_SEND_LOAN, .h = H_TX, .p = P_AUX_RLOAN, .len = 1, .expect = -EINVAL},
    {"send_loan one byte into a loan", O_SEND_LOAN, .h = H_TX, .p = P_LOAN_MID, .len = 1, .expect = -EINVAL},
    {"send_loan just before a loan could start", O_SEND_LOAN, .h = H_TX, .p = P_BOX_BEFORE, .len = 1, .expect = -EINVAL},
    {"send_loan longer than the loan", O_SEND_LOAN, .h = H_TX, .p = P_BOX_LOAN, .len = 9, .expect = -EINVAL},
    {"send_loan priority MBX_PRIO_MAX", O_SEND_LOAN, .h = H_TX, .p = P_BOX_LOAN, .len = 1, .prio = MBX_PRIO_MAX, .expect = -EINVAL},
    {"send_loan timeout -2", O_SEND_LOAN, .h = H_TX, .p = P_BOX_LOAN, .len = 1, .timeout = -2, .expect = -EINVAL},
    {"send_loan max_msg_size + 1", O_SEND_LOAN, .h = H_TX, .p = P_BOX_LOAN, .len = BOX_MAX + 1, .expect = -EMSGSIZE},
    {"recv_loan NULL handle", O_RECV_LOAN, .h = H_NULL, .expect = -EINVAL},
    {"recv_loan on a send-only handle", O_RECV_LOAN, .h = H_TX, .expect = -EBADF},
    {"recv_loan NULL out", O_RECV_LOAN, .h = H_RX, .p = P_NULL, .expect = -EINVAL},
    {"recv_loan timeout -2", O_RECV_LOAN, .h = H_RX, .timeout = -2, .expect = -EINVAL},
    {"recv_loan on a stream", O_RECV_LOAN, .h = H_STREAM, .expect = -EINVAL},
    {"release NULL handle", O_RELEASE, .h = H_NULL, .p = P_AUX_RLOAN, .expect = -EINVAL},
    {"release on a send-only handle", O_RELEASE, .h = H_TX, .p = P_STACK, .expect = -EBADF},
    {"release NULL", O_RELEASE, .h = H_RX, .p = P_NULL, .expect = -EINVAL},
    {"release a plain buffer", O_RELEASE, .h = H_RX, .p = P_STACK, .expect = -EINVAL},
    {"release another mailbox's received loan", O_RELEASE, .h = H_RX, .p = P_AUX_RLOAN, .expect = -EINVAL},
    {"release a send loan never sent", O_RELEASE, .h = H_RX, .p = P_BOX_LOAN, .expect = -EINVAL},
    {"release one byte into a loan", O_RELEASE, .h = H_RX, .p = P_LOAN_MID, .expect = -EINVAL},
    /* a removed mailbox: argument errors first, then -EIDRM */
    {"send on an unlinked mailbox", O_SEND, .h = H_GONE, .len = 1, .expect = -EIDRM},
    {"send on an unlinked mailbox, waiting", O_SEND, .h = H_GONE, .len = 1, .timeout = 1000000, .expect = -EIDRM},
    {"recv on an unlinked mailbox", O_RECV, .h = H_GONE, .len = BOX_MAX, .expect = -EIDRM},
    {"recv on an unlinked mailbox, waiting", O_RECV, .h = H_GONE_RX, .len = BOX_MAX, .timeout = 1000000000, .expect = -EIDRM},
    {"recv_from on an unlinked mailbox", O_RECV_FROM, .h = H_GONE, .len = BOX_MAX, .num = 1, .expect = -EIDRM},
    {"stat_get on an unlinked mailbox", O_STAT_GET, .h = H_GONE, .expect = -EIDRM},
    {"sync on an unlinked mailbox", O_SYNC, .h = H_GONE, .expect = -EIDRM},
    {"call on an unlinked mailbox", O_CALL, .h = H_GONE, .len = 1, .timeout = 100000000, .expect = -EIDRM},
    {"loan on an unlinked mailbox", O_LOAN, .h = H_GONE, .len = 1, .expect = -EIDRM},
    {"send_loan of a loan taken before the unlink", O_SEND_LOAN, .h = H_GONE, .p = P_GONE_LOAN, .len = 1, .expect = -EIDRM},
    {"send_loan of a loan taken before the owner died", O_SEND_LOAN, .h = H_DEAD_OWNED, .p = P_DEAD_LOAN, .len = 1, .expect = -EIDRM, .removes = 1},
    {"recv_loan on an unlinked mailbox", O_RECV_LOAN, .h = H_GONE, .expect = -EIDRM},
    {"transfer an unlinked owned mailbox", O_TRANSFER, .h = H_GONE_OWNED, .num = PID_INIT, .expect = -EIDRM},
    {"send on an unlinked receive-only handle", O_SEND, .h = H_GONE_RX, .len = 1, .expect = -EBADF},
    {"send priority MBX_PRIO_MAX, unlinked", O_SEND, .h = H_GONE, .len = 1, .prio = MBX_PRIO_MAX, .expect = -EINVAL},
    {"stat_name of an unlinked mailbox", O_STAT_NAME, .name = "gone", .expect = -ENOENT},
    {"unlink an unlinked mailbox", O_UNLINK, .name = "gone", .expect = -ENOENT},
    {"open an unlinked mailbox", O_OPEN, .name = "gone", .flags = MBX_SEND, .expect = -ENOENT},
};
/* clang-format on */

/* What the main mailbox holds before the table runs. */
static const struct {
    const char *body;
    size_t len;
    unsigned prio;
} queued[] = {
    {"alpha", 5, 0},
    {"", 0, 3},
    {"gamma: sixty-four bytes of payload, exactly the mailbox's limit..", 64, 1},
    {"delta", 5, MBX_PRIO_MAX - 1},
    {"epsilon", 7, 0},
};
#define NQUEUED (sizeof(queued) / sizeof(queued[0]))

static struct {
    mbx *both, *tx, *rx, *full, *owned, *stream, *gone, *gone_rx, *gone_owned, *dead_owned, *aux;
    void *aux_loan, *box_loan, *gone_loan, *dead_loan;
    const void *aux_rloan;
    pid_t dead;
    int *child_result; /* shared with O_TRANSFER_IN_CHILD's child */
} fx;

static mbx *open_box(const char *name, int flags, uint32_t capacity)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = BOX_MAX;
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, flags | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    return m;
}

static mbx *handle(enum hsel h)
{
    switch (h) {
    case H_BOTH:
        return fx.both;
    case H_TX:
        return fx.tx;
    case H_RX:
        return fx.rx;
    case H_NULL:
        return NULL;
    case H_FULL:
        return fx.full;
    case H_OWNED:
        return fx.owned;
    case H_STREAM:
        return fx.stream;
    case H_GONE:
        return fx.gone;
    case H_GONE_RX:
        return fx.gone_rx;
    case H_GONE_OWNED:
        return fx.gone_owned;
    case H_DEAD_OWNED:
        return fx.dead_owned;
    }
    return NULL;
}

static void *pointer(enum psel p, void *ok)
{
    static unsigned char plain[BOX_MAX];
    switch (p) {
    case P_OK:
        return ok;
    case P_NULL:
        return NULL;
    case P_STACK:
        return plain;
    case P_AUX_LOAN:
        return fx.aux_loan;
    case P_AUX_RLOAN:
        return (void *)fx.aux_rloan;
    case P_BOX_LOAN:
        return fx.box_loan;
    case P_LOAN_MID:
        return (unsigned char *)fx.box_loan + 1;
    case P_BOX_BEFORE:
        return (unsigned char *)fx.box_loan - 1;
    case P_GONE_LOAN:
        return fx.gone_loan;
    case P_DEAD_LOAN:
        return fx.dead_loan;
    }
    return NULL;
}

static pid_t pid_of(int64_t num)
{
    if (num == PID_DEAD)
        return fx.dead;
    if (num == PID_SELF)
        return getpid();
    if (num == PID_INIT)
        return 1;
    return (pid_t)num;
}

static int no_op(const char *name, void *arg)
{
    (void)name;
    (void)arg;
    return 0;
}

/* Runs one row's call and returns what it returned. */
static long run(const struct row *r)
{
    unsigned char buf[BOX_MAX + 1];
    memset(buf, 'x', sizeof(buf));
    mbx *m = handle(r->h);
    mbx_attr a;
    mbx_attr_init(&a);
    switch (r->attr) {
    case A_NULL:
        break;
    case A_SIZE0:
        a.max_msg_size = 0;
        break;
    case A_SIZE_BIG:
        a.max_msg_size = (1ull << 30) + 1;
        break;
    case A_CAP_BIG:
        a.capacity = (1u << 31) + 1;
        break;
    case A_POLICY:
        a.recv_policy = MBX_RECV_PAIR + 1; /* no such policy */
        break;
    case A_MODE:
        a.mode = 04600;
        break;
    case A_MEM_SMALL:
        a.memory_limit = 10;
        break;
    case A_MEM_BIG:
        a.memory_limit = UINT64_MAX;
        break;
    case A_RENDEZVOUS:
        a.capacity = MBX_RENDEZVOUS;
        break;
    case A_UNBOUNDED:
        a.capacity = MBX_UNBOUNDED;
        break;
    }
    switch (r->op) {
    case O_OPEN: {
        mbx *out = NULL;
        long got = mbx_open(r->name, r->flags, r->attr == A_NULL ? NULL : &a,
                            r->p == P_NULL ? NULL : &out);
        if (got == 0 && out) { /* should not happen: leave nothing behind */
            mbx_close(out);
            if (r->name && strcmp(r->name, "box") != 0)
                mbx_unlink(r->name);
        }
        return got;
    }
    case O_UNLINK:
        return mbx_unlink(r->name);
    case O_STAT_NAME: {
        mbx_stat st;
        return mbx_stat_name(r->name, r->p == P_NULL ? NULL : &st);
    }
    case O_STAT_GET: {
        mbx_stat st;
        return mbx_stat_get(m, r->p == P_NULL ? NULL : &st);
    }
    case O_CLOSE:
        return mbx_close(m);
    case O_SYNC:
        return mbx_sync(m);
    case O_FOREACH:
        return mbx_foreach(r->p == P_NULL ? NULL : no_op, NULL);
    case O_SET_SPIN:
        return mbx_set_spin(m, r->num);
    case O_SELF: {
        mbx *self;
        return mbx_self(r->p == P_NULL ? NULL : &self);
    }
    case O_SEND:
        return mbx_send(m, pointer(r->p, buf), r->len, r->prio, r->timeout);
    case O_RECV:
        return mbx_recv(m, pointer(r->p, buf), r->len, NULL, r->timeout);
    case O_RECV_FROM:
        return mbx_recv_from(m, pid_of(r->num), pointer(r->p, buf), r->len, NULL, r->timeout);
    case O_CALL: {
        unsigned char reply[BOX_MAX];
        return mbx_call(m, pointer(r->p, buf), r->len, r->prio, reply, sizeof(reply), r->timeout);
    }
    case O_REPLY: {
        mbx_msginfo info;
        memset(&info, 0, sizeof(info));
        info.reply_token = r->num == PID_DEAD ? (uint64_t)fx.dead << 32 | 1 : (uint64_t)r->num;
        return mbx_reply(r->h == H_NULL ? NULL : &info, pointer(r->p, buf), r->len);
    }
    case O_TRANSFER:
        return mbx_transfer(m, pid_of(r->num));
    case O_TRANSFER_IN_CHILD: {
        pid_t parent = getpid();
        *fx.child_result = 1;
        pid_t c = fork();
        if (c == 0) {
            mbx *o;
            int e = mbx_open("owned", MBX_SEND, NULL, &o);
            *fx.child_result = e ? 1000 + e : mbx_transfer(o, parent);
            _exit(0);
        }
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return -99998; /* the child did not get as far as its answer */
        return *fx.child_result;
    }
    case O_LOAN: {
        void *loan = NULL;
        long got = mbx_loan(m, r->len, r->p == P_NULL ? NULL : &loan);
        if (got == 0) /* should not happen: give the loan back as a message */
            mbx_send_loan(m, loan, 0, 0, 0);
        return got;
    }
    case O_SEND_LOAN:
        return mbx_send_loan(m, pointer(r->p, buf), r->len, r->prio, r->timeout);
    case O_RECV_LOAN: {
        const void *loan = NULL;
        long got = mbx_recv_loan(m, r->p == P_NULL ? NULL : &loan, NULL, r->timeout);
        if (got >= 0)
            mbx_release(m, loan);
        return got;
    }
    case O_RELEASE:
        return mbx_release(m, pointer(r->p, buf));
    }
    return -99999;
}

struct counts {
    uint32_t count;
    uint64_t bytes, sent, received;
};

static struct counts counts_of(mbx *m)
{
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    return (struct counts){st.count, st.bytes, st.sent_total, st.received_total};
}

static int same(struct counts a, struct counts b)
{
    return a.count == b.count && a.bytes == b.bytes && a.sent == b.sent && a.received == b.received;
}

static void setup_fixture(void)
{
    memset(name201, 'n', 201);
    memset(name200, 'n', 200);
    fx.both = open_box("box", MBX_SEND | MBX_RECV, 8);
    assert_int_equal(mbx_open("box", MBX_SEND, NULL, &fx.tx), 0);
    assert_int_equal(mbx_open("box", MBX_RECV, NULL, &fx.rx), 0);
    for (size_t i = 0; i < NQUEUED; i++)
        assert_int_equal(mbx_send(fx.tx, queued[i].body, queued[i].len, queued[i].prio, 0), 0);
    /* A send loan held open through the table: sent at the end. */
    assert_int_equal(mbx_loan(fx.tx, 8, &fx.box_loan), 0);
    memcpy(fx.box_loan, "the loan", 8);

    fx.full = open_box("full", MBX_SEND | MBX_RECV, 2);
    assert_int_equal(mbx_send(fx.full, "1", 1, 0, 0), 0);
    assert_int_equal(mbx_send(fx.full, "2", 1, 0, 0), 0);
    fx.owned = open_box("owned", MBX_SEND | MBX_RECV | MBX_OWNED, 4);
    assert_int_equal(mbx_send(fx.owned, "o", 1, 0, 0), 0);
    fx.stream = open_box("stream", MBX_SEND | MBX_RECV | MBX_STREAM, 4);

    fx.aux = open_box("aux", MBX_SEND | MBX_RECV, 4);
    assert_int_equal(mbx_send(fx.aux, "aux", 3, 0, 0), 0);
    assert_int_equal(mbx_recv_loan(fx.aux, &fx.aux_rloan, NULL, 0), 3);
    assert_int_equal(mbx_loan(fx.aux, 8, &fx.aux_loan), 0);

    fx.gone = open_box("gone", MBX_SEND | MBX_RECV, 4);
    assert_int_equal(mbx_open("gone", MBX_RECV, NULL, &fx.gone_rx), 0);
    assert_int_equal(mbx_send(fx.gone, "g", 1, 0, 0), 0);
    assert_int_equal(mbx_loan(fx.gone, 8, &fx.gone_loan), 0);
    assert_int_equal(mbx_unlink("gone"), 0);
    fx.gone_owned = open_box("gone_owned", MBX_SEND | MBX_RECV | MBX_OWNED, 4);
    assert_int_equal(mbx_unlink("gone_owned"), 0);

    /* mbx_call makes our own mailbox: make it now, so that it is there
     * before the table as after it. */
    mbx *self;
    assert_int_equal(mbx_self(&self), 0);

    /* An owned mailbox of another process, and a loan of ours in it; then
     * the owner is killed. Its file stays until someone looks at the
     * owner, which a sender does at most every OWNER_POLL_NS: that long
     * after the death, the row's send must look. */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t owner = fork();
    if (owner == 0) {
        mbx *o;
        mbx_attr oa;
        mbx_attr_init(&oa);
        oa.capacity = 4;
        oa.max_msg_size = BOX_MAX;
        if (mbx_open("dead_owned", MBX_RECV | MBX_CREATE | MBX_EXCL | MBX_OWNED, &oa, &o) != 0 ||
            write(ready[1], "r", 1) != 1)
            _exit(1);
        test_await_kill();
        _exit(2);
    }
    assert_true(test_read_ready(ready[0]));
    close(ready[0]);
    close(ready[1]);
    assert_int_equal(mbx_open("dead_owned", MBX_SEND, NULL, &fx.dead_owned), 0);
    assert_int_equal(mbx_loan(fx.dead_owned, 8, &fx.dead_loan), 0);
    int st;
    assert_int_equal(kill(owner, SIGKILL), 0);
    assert_int_equal(waitpid(owner, &st, 0), owner);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    nanosleep(&(struct timespec){0, OWNER_POLL_NS + 10000000}, NULL);

    /* A pid no process has (for as long as the table runs, very likely). */
    fx.dead = fork();
    if (fx.dead == 0)
        _exit(0);
    assert_int_equal(waitpid(fx.dead, NULL, 0), fx.dead);

    fx.child_result =
        mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(fx.child_result != MAP_FAILED);
}

static void bad_calls_fail_and_change_nothing(void **state)
{
    (void)state;
    setup_fixture();
    struct counts box = counts_of(fx.both), full = counts_of(fx.full), owned = counts_of(fx.owned),
                  aux = counts_of(fx.aux), stream = counts_of(fx.stream);
    assert_int_equal(box.count, NQUEUED);
    int files = test_dir_count();
    size_t nrows = sizeof(rows) / sizeof(rows[0]);
    unsigned failures = 0;
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        long got = run(r);
        if (got != r->expect) {
            print_error("row %zu \"%s\": expected %ld (%s), got %ld (%s)\n", i, r->what, r->expect,
                        mbx_strerror((int)r->expect), got, mbx_strerror((int)got));
            failures++;
        }
        if (!same(counts_of(fx.both), box) || !same(counts_of(fx.full), full) ||
            !same(counts_of(fx.owned), owned) || !same(counts_of(fx.aux), aux) ||
            !same(counts_of(fx.stream), stream) || test_dir_count() != files - r->removes) {
            print_error("row %zu \"%s\" changed a mailbox or the directory\n", i, r->what);
            failures++;
            box = counts_of(fx.both);
            full = counts_of(fx.full);
            owned = counts_of(fx.owned);
            aux = counts_of(fx.aux);
            stream = counts_of(fx.stream);
        }
        files = test_dir_count();
    }
    print_message("%zu bad calls, %u failures\n", nrows, failures);

    /* Every handle still works, and the main mailbox holds exactly what it
     * held: the five messages in priority order, then the loan's. */
    assert_int_equal(mbx_send_loan(fx.tx, fx.box_loan, 8, 0, 0), 0);
    static const int order[] = {3, 1, 2, 0, 4};
    unsigned char buf[BOX_MAX];
    mbx_msginfo info;
    for (size_t i = 0; i < NQUEUED; i++) {
        size_t q = (size_t)order[i];
        assert_int_equal(mbx_recv(fx.rx, buf, sizeof(buf), &info, 0), (ssize_t)queued[q].len);
        assert_memory_equal(buf, queued[q].body, queued[q].len);
        assert_int_equal(info.priority, queued[q].prio);
        assert_int_equal(info.seq, q + 1);
    }
    assert_int_equal(mbx_recv(fx.both, buf, sizeof(buf), &info, 0), 8);
    assert_memory_equal(buf, "the loan", 8);
    assert_int_equal(mbx_recv(fx.both, buf, sizeof(buf), NULL, 0), -EAGAIN);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(fx.both, &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.sent_total, NQUEUED + 1);
    assert_int_equal(st.received_total, NQUEUED + 1);

    assert_int_equal(mbx_recv(fx.full, buf, sizeof(buf), NULL, 0), 1);
    assert_int_equal(mbx_recv(fx.full, buf, sizeof(buf), NULL, 0), 1);
    assert_int_equal(mbx_recv(fx.owned, buf, sizeof(buf), NULL, 0), 1);
    assert_int_equal(mbx_release(fx.aux, fx.aux_rloan), 0);
    assert_int_equal(mbx_send_loan(fx.aux, fx.aux_loan, 0, 0, 0), 0);
    assert_int_equal(mbx_recv(fx.aux, buf, sizeof(buf), NULL, 0), 0);
    assert_int_equal(mbx_send(fx.stream, "s", 1, 0, 0), 0);
    assert_int_equal(mbx_recv(fx.stream, buf, sizeof(buf), NULL, 0), 1);

    mbx *all[] = {fx.both, fx.tx,      fx.rx,         fx.full, fx.owned,     fx.stream,
                  fx.gone, fx.gone_rx, fx.gone_owned, fx.aux,  fx.dead_owned};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        assert_int_equal(mbx_close(all[i]), 0);
    const char *names[] = {"box", "full", "stream", "aux"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(mbx_unlink(names[i]), 0);
    /* Its owner's last handle took the owned one with it. */
    assert_int_equal(mbx_unlink("owned"), -ENOENT);
    munmap(fx.child_result, sizeof(int));
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_calls_fail_and_change_nothing),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
