/* This process's handles on owned mailboxes (handles.h). */
#include "shm/handles.h"

#include "shm/owner.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

struct held {
    struct shm_box *b;
    struct held *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct held *list;

void handles_add(struct shm_box *b)
{
    struct held *h = malloc(sizeof(*h));
    if (!h)
        return; /* then only its owner's death removes it */
    h->b = b;
    pthread_mutex_lock(&lock);
    h->next = list;
    list = h;
    pthread_mutex_unlock(&lock);
}

static int same_file(const struct shm_box *a, const struct shm_box *b)
{
    struct stat x, y;
    return fstat(a->file.fd, &x) == 0 && fstat(b->file.fd, &y) == 0 && x.st_dev == y.st_dev &&
           x.st_ino == y.st_ino;
}

int handles_drop(struct shm_box *b)
{
    int other = 0;
    pthread_mutex_lock(&lock);
    for (struct held **q = &list; *q;) {
        struct held *h = *q;
        if (h->b == b) {
            *q = h->next;
            free(h);
            continue;
        }
        other |= same_file(h->b, b);
        q = &h->next;
    }
    pthread_mutex_unlock(&lock);
    return other;
}

void handles_at_exit(void)
{
    /* No lock: exit may come from a thread that holds it; nothing else
     * runs meanwhile that matters. */
    for (struct held *h = list; h; h = h->next)
        if (owner_is_me(h->b))
            owner_remove(h->b);
}

void handles_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void handles_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void handles_fork_child(void)
{
    pthread_mutex_unlock(&lock);
}
