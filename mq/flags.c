/* O_NONBLOCK per open queue description. The kernel keeps it in the open
 * file, shared by dup'ed descriptors and by a forked child; here it lives
 * in an anonymous shared page of its own, made at mq_open, so a child's
 * mq_setattr is seen by its parent and the other way round, and reading
 * it costs no system call. The kernel frees the page when the last
 * process that maps it unmaps it or ends, kill -9 included. (Records in
 * one fixed arena, counted by hand, leaked one at every fork whose child
 * exited or executed without closing the queue: mq_open said EMFILE after
 * 8192 forks, found by a review.) refs still counts the processes holding
 * it, for the exit cleanup's "shared with a child" (mq/table.c). */
#include "mq_internal.h"

#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* Returns a record holding flags (one reference), or NULL (ENOMEM) with
 * errno set. */
struct mq_flagrec *mq_flag_new(int flags)
{
    struct mq_flagrec *f =
        mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (f == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    atomic_store(&f->refs, 1);
    atomic_store(&f->flags, flags);
    return f;
}

/* Drops this process's reference and its mapping: the last use of f in
 * this process. */
void mq_flag_put(struct mq_flagrec *f)
{
    if (!f)
        return;
    atomic_fetch_sub(&f->refs, 1);
    munmap(f, page_size());
}

/* In a forked child: the child holds a reference too (and the page, which
 * fork shares). */
void mq_flag_forked(struct mq_flagrec *f)
{
    if (f)
        atomic_fetch_add(&f->refs, 1);
}
