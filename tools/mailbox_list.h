/* Every mailbox of $MBX_DIR with its description, sorted by name: what
 * `mbx ls`, `mbx stat --prometheus` and `mbx top` show. */
#ifndef MBX_TOOLS_MAILBOX_LIST_H
#define MBX_TOOLS_MAILBOX_LIST_H

#include <stddef.h>

#include "mbx.h"

struct mailbox_entry {
    char *name;
    int err; /* of mbx_stat_name: 0, or why st could not be read */
    mbx_stat st;
};

struct mailbox_list {
    struct mailbox_entry *v;
    size_t len, cap;
};

/* Fills l (zeroed by the caller) with every mailbox mbx_foreach finds,
 * sorted by name and described; one removed meanwhile is left out. Returns
 * 0 or a negative errno of mbx_foreach (-ENOMEM). */
int mailbox_list_read(struct mailbox_list *l);

/* Frees what mailbox_list_read allocated; l is empty after. */
void mailbox_list_free(struct mailbox_list *l);

/* The directory listed: $MBX_DIR, else /dev/shm. */
const char *mailbox_dir(void);

#endif
