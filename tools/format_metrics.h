/* Mailbox statistics in the Prometheus text format (`mbx stat --prometheus`). */
#ifndef MBX_TOOLS_FORMAT_METRICS_H
#define MBX_TOOLS_FORMAT_METRICS_H

#include <stdio.h>

#include "mailbox_list.h"

/* Writes the n mailboxes of v (those with err set are left out) as
 * Prometheus metric families. */
void format_metrics(FILE *f, const struct mailbox_entry *v, size_t n);

#endif
