/* `mbx stat --prometheus`: the Prometheus text exposition format (0.0.4),
 * what node_exporter's textfile collector reads. One family per statistic,
 * one sample per mailbox, labelled with its name. Counters are named with
 * their _total suffix in the TYPE line too, as that format wants (an
 * OpenMetrics family would drop it there); no "# EOF" line, which that
 * format does not have. */
#include "format_metrics.h"

#include <inttypes.h>

struct family {
    const char *name, *type, *help;
};

static const struct family families[] = {
    {"mbx_messages", "gauge", "Messages queued."},
    {"mbx_bytes", "gauge", "Payload bytes queued."},
    {"mbx_capacity", "gauge", "Messages the mailbox holds (0: rendezvous; 4294967295: unbounded)."},
    {"mbx_max_message_bytes", "gauge", "Largest message the mailbox takes."},
    {"mbx_senders_waiting", "gauge", "Senders blocked on a full mailbox."},
    {"mbx_receivers_waiting", "gauge", "Receivers blocked on an empty mailbox."},
    {"mbx_sent_total", "counter", "Messages sent since the mailbox was created."},
    {"mbx_received_total", "counter", "Messages received since the mailbox was created."},
    {"mbx_repairs_total", "counter", "Repairs after a process died mid-operation."},
};

static uint64_t value(size_t family, const mbx_stat *st)
{
    switch (family) {
    case 0:
        return st->count;
    case 1:
        return st->bytes;
    case 2:
        return st->capacity;
    case 3:
        return st->max_msg_size;
    case 4:
        return st->senders_waiting;
    case 5:
        return st->receivers_waiting;
    case 6:
        return st->sent_total;
    case 7:
        return st->received_total;
    default:
        return st->repairs;
    }
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            putc(*s, f);
    }
}

void format_metrics(FILE *f, const struct mailbox_entry *v, size_t n)
{
    for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
        const struct family *fam = &families[k];
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
        for (size_t i = 0; i < n; i++) {
            if (v[i].err)
                continue;
            fprintf(f, "%s{mailbox=\"", fam->name);
            put_label(f, v[i].name);
            fprintf(f, "\"} %" PRIu64 "\n", value(k, &v[i].st));
        }
    }
}
