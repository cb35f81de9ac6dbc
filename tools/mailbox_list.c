#include "mailbox_list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int collect(const char *name, void *arg)
{
    struct mailbox_list *l = arg;

    if (l->len == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct mailbox_entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len].name = strdup(name);
    if (!l->v[l->len].name)
        return -ENOMEM;
    l->len++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct mailbox_entry *)a)->name, ((const struct mailbox_entry *)b)->name);
}

int mailbox_list_read(struct mailbox_list *l)
{
    size_t i, kept;
    int err = mbx_foreach(collect, l);

    if (err)
        return err;
    if (l->len)
        qsort(l->v, l->len, sizeof(*l->v), by_name);
    /* A mailbox removed since the walk saw it is left out. */
    for (i = kept = 0; i < l->len; i++) {
        l->v[i].err = mbx_stat_name(l->v[i].name, &l->v[i].st);
        if (l->v[i].err == -ENOENT || l->v[i].err == -EIDRM)
            free(l->v[i].name);
        else
            l->v[kept++] = l->v[i];
    }
    l->len = kept;
    return 0;
}

void mailbox_list_free(struct mailbox_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->len = l->cap = 0;
}

const char *mailbox_dir(void)
{
    const char *dir = getenv("MBX_DIR");

    return dir && *dir ? dir : "/dev/shm";
}
