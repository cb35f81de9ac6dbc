/* O_NONBLOCK per open queue description. The kernel keeps it in the open
 * file, shared by dup'ed descriptors and by a forked child; here it lives
 * in an anonymous shared mapping made before any fork, so a child's
 * mq_setattr is seen by its parent and the other way round, and reading
 * it costs no system call. A record is freed when the last process
 * holding it lets go (a process killed holding one leaks it: the arena
 * has MQ_FLAG_RECORDS). */
#include "mq_internal.h"

#include <sys/mman.h>

#define MQ_FLAG_RECORDS 8192

static struct mq_flagrec *arena;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

/* Returns a record holding flags (one reference), or NULL (ENOMEM, or
 * every record in use: EMFILE) with errno set. */
struct mq_flagrec *mq_flag_new(int flags)
{
    pthread_mutex_lock(&arena_lock);
    if (!arena) {
        void *p = mmap(NULL, MQ_FLAG_RECORDS * sizeof(struct mq_flagrec), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED)
            arena = p;
    }
    pthread_mutex_unlock(&arena_lock);
    if (!arena) {
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < MQ_FLAG_RECORDS; i++) {
        uint32_t zero = 0;
        if (atomic_compare_exchange_strong(&arena[i].refs, &zero, 1)) {
            atomic_store(&arena[i].flags, flags);
            return &arena[i];
        }
    }
    errno = EMFILE;
    return NULL;
}

/* Drops this process's reference. */
void mq_flag_put(struct mq_flagrec *f)
{
    if (f)
        atomic_fetch_sub(&f->refs, 1);
}

/* In a forked child: the child holds a reference too. */
void mq_flag_forked(struct mq_flagrec *f)
{
    if (f)
        atomic_fetch_add(&f->refs, 1);
}
