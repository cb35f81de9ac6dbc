/* The names the program calls. glibc 2.34 moved mq_* from librt into libc
 * as mq_open@@GLIBC_2.34 (librt's were mq_open@GLIBC_2.3.4), and a program
 * built against it asks for that version: a preloaded library that
 * exported plain mq_open would not be chosen for it. So each function is
 * exported under both versions, the newer as the default that programs
 * linking -lmbx-mq bind to (libmbx-mq.map declares the versions). */
#include "mq_internal.h"

#define MQ_VERSIONS(impl, name)                                                                    \
    __asm__(".symver " #impl "_new, " #name "@@GLIBC_2.34");                                       \
    __asm__(".symver " #impl "_compat, " #name "@GLIBC_2.3.4")

mqd_t mbxmq_open(const char *name, int oflag, ...);
int mbxmq_close(mqd_t q);
int mbxmq_unlink(const char *name);
int mbxmq_send(mqd_t q, const char *msg, size_t len, unsigned prio);
int mbxmq_timedsend(mqd_t q, const char *msg, size_t len, unsigned prio,
                    const struct timespec *abs);
ssize_t mbxmq_receive(mqd_t q, char *msg, size_t len, unsigned *prio);
ssize_t mbxmq_timedreceive(mqd_t q, char *msg, size_t len, unsigned *prio,
                           const struct timespec *abs);
int mbxmq_getattr(mqd_t q, struct mq_attr *attr);
int mbxmq_setattr(mqd_t q, const struct mq_attr *newattr, struct mq_attr *oldattr);
int mbxmq_notify(mqd_t q, const struct sigevent *sev);

/* Each function twice, for the two versions (.symver needs the symbol
 * defined in this file). */
#define COMPAT(ret, impl, params, args)                                                            \
    MQ_API ret impl##_new params                                                                   \
    {                                                                                              \
        return impl args;                                                                          \
    }                                                                                              \
    MQ_API ret impl##_compat params                                                                \
    {                                                                                              \
        return impl args;                                                                          \
    }

COMPAT(int, mbxmq_close, (mqd_t q), (q))
COMPAT(int, mbxmq_unlink, (const char *n), (n))
COMPAT(int, mbxmq_send, (mqd_t q, const char *m, size_t l, unsigned p), (q, m, l, p))
COMPAT(int, mbxmq_timedsend,
       (mqd_t q, const char *m, size_t l, unsigned p, const struct timespec *t), (q, m, l, p, t))
COMPAT(ssize_t, mbxmq_receive, (mqd_t q, char *m, size_t l, unsigned *p), (q, m, l, p))
COMPAT(ssize_t, mbxmq_timedreceive,
       (mqd_t q, char *m, size_t l, unsigned *p, const struct timespec *t), (q, m, l, p, t))
COMPAT(int, mbxmq_getattr, (mqd_t q, struct mq_attr *a), (q, a))
COMPAT(int, mbxmq_setattr, (mqd_t q, const struct mq_attr *n, struct mq_attr *o), (q, n, o))
COMPAT(int, mbxmq_notify, (mqd_t q, const struct sigevent *s), (q, s))

/* mq_open is variadic: the entries read mode and attr themselves. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
static mqd_t open_va(const char *name, int oflag, va_list ap)
{
    if (!(oflag & O_CREAT))
        return mbxmq_open(name, oflag);
    unsigned mode = va_arg(ap, unsigned);
    struct mq_attr *attr = va_arg(ap, struct mq_attr *);
    return mbxmq_open(name, oflag, mode, attr);
}

MQ_API mqd_t mbxmq_open_new(const char *name, int oflag, ...)
{
    va_list ap;
    va_start(ap, oflag);
    mqd_t q = open_va(name, oflag, ap);
    va_end(ap);
    return q;
}

MQ_API mqd_t mbxmq_open_compat(const char *name, int oflag, ...)
{
    va_list ap;
    va_start(ap, oflag);
    mqd_t q = open_va(name, oflag, ap);
    va_end(ap);
    return q;
}

/* __mq_open_2: what glibc's <bits/mqueue2.h> calls for a two-argument
 * mq_open whose flags are not a compile-time constant, in a program built
 * with _FORTIFY_SOURCE (Debian's default). As glibc's: O_CREAT without a
 * mode and attributes ends the process (SIGABRT), else mq_open(name,
 * oflag). Exported at glibc's versions: GLIBC_2.7 (librt), GLIBC_2.34. */
static mqd_t open_2(const char *name, int oflag)
{
    if (oflag & O_CREAT) {
        static const char msg[] =
            "*** invalid mq_open call: O_CREAT without mode and attr ***: terminated\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    return mbxmq_open(name, oflag);
}

MQ_API mqd_t mbxmq_open_2_new(const char *name, int oflag)
{
    return open_2(name, oflag);
}

MQ_API mqd_t mbxmq_open_2_compat(const char *name, int oflag)
{
    return open_2(name, oflag);
}

__asm__(".symver mbxmq_open_2_new, __mq_open_2@@GLIBC_2.34");
__asm__(".symver mbxmq_open_2_compat, __mq_open_2@GLIBC_2.7");

MQ_VERSIONS(mbxmq_open, mq_open);
MQ_VERSIONS(mbxmq_close, mq_close);
MQ_VERSIONS(mbxmq_unlink, mq_unlink);
MQ_VERSIONS(mbxmq_send, mq_send);
MQ_VERSIONS(mbxmq_timedsend, mq_timedsend);
MQ_VERSIONS(mbxmq_receive, mq_receive);
MQ_VERSIONS(mbxmq_timedreceive, mq_timedreceive);
MQ_VERSIONS(mbxmq_getattr, mq_getattr);
MQ_VERSIONS(mbxmq_setattr, mq_setattr);
MQ_VERSIONS(mbxmq_notify, mq_notify);

/* Lets a program (and the tests) tell the shim is in use: returns the
 * version of mbx it runs on. */
MQ_API const char *mbx_mq_shim(void)
{
    return mbx_version();
}
