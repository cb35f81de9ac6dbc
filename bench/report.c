#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report.h"
#include "targets.h"
#include "units.h"

/* Footnotes: each distinct reason once, cells refer to it by number. */
struct notes {
    const char *text[64];
    int n;
};

static int note_ref(struct notes *ns, const char *text)
{
    for (int i = 0; i < ns->n; i++)
        if (strcmp(ns->text[i], text) == 0)
            return i + 1;
    if (ns->n == 64)
        return 64;
    ns->text[ns->n++] = text;
    return ns->n;
}

/* Per-message counts: two decimals, so 0.004 reads as the 0.00 it is. */
static void count_str(char *out, size_t n, double v)
{
    snprintf(out, n, v >= 10 ? "%.1f" : "%.2f", v);
}

static void missing(char *out, size_t n, bool na, const char *note, struct notes *ns)
{
    snprintf(out, n, "%s[%d]", na ? "n/a" : "FAIL", note_ref(ns, note));
}

static void lat_cell(char *out, size_t n, const struct lat_result *r, struct notes *ns)
{
    if (!r->ok) {
        missing(out, n, r->na, r->note, ns);
        return;
    }
    char a[24], b[24];
    sig3(a, sizeof(a), r->median_ns / 1e3);
    sig3(b, sizeof(b), r->p99_ns / 1e3);
    snprintf(out, n, "%s/%s", a, b);
}

static void rate_cells(char *msgs, char *mb, size_t n, const struct rate_result *r,
                       struct notes *ns)
{
    if (!r->ok) {
        missing(msgs, n, r->na, r->note, ns);
        snprintf(mb, n, "-");
        return;
    }
    rate_str(msgs, n, r->msgs_per_s);
    if (r->lossy) { /* the rate of what arrived; the note says what was lost */
        size_t k = strlen(msgs);
        snprintf(msgs + k, n - k, "[%d]", note_ref(ns, r->note));
    }
    sig3(mb, n, r->mb_per_s);
}

static void ratio_cell(char *out, size_t n, const struct row *row, const struct row *ref)
{
    if (!ref || !row->lat[0].ok || !ref->lat[0].ok) {
        snprintf(out, n, "-");
        return;
    }
    sig3(out, n, row->lat[0].median_ns / ref->lat[0].median_ns);
}

/* The width of the mechanism column: the longest label, at least 15. */
static int label_width(const struct results *res)
{
    int w = 15;
    for (size_t i = 0; i < res->nrows; i++) {
        int n = (int)strlen(mech_label(res->rows[i].mech));
        w = n > w ? n : w;
    }
    return w;
}

static void header(FILE *f, const struct results *res, int w)
{
    struct utsname u;
    uname(&u);
    fprintf(f, "\nmbx-bench %s: %ld CPUs, %s, Linux %s, %.0f s\n", res->mode,
            sysconf(_SC_NPROCESSORS_ONLN),
            res->plan.pin ? "sides pinned to CPUs 0 and 1" : "not pinned", u.release, res->seconds);
    fprintf(f, "%-*s %-55s %-34s %-14s %s\n", w, "", "round trip median/p99, us",
            "one-way, 1 sender", "per message", "64 B RTT");
    fprintf(f, "%-*s %13s %13s %13s %13s %10s %7s %10s %7s %7s %6s %6s %6s\n", w, "mechanism",
            "64 B", "1 KiB", "64 KiB", "1 MiB", "64B msg/s", "MB/s", "64K msg/s", "MB/s", "sys",
            "csw", "/mbx", "/raw");
}

static void row_line(FILE *f, const struct results *res, const struct row *row, struct notes *ns,
                     int w)
{
    if (row->na) {
        fprintf(f, "%-*s n/a: %s\n", w, mech_label(row->mech), row->note);
        return;
    }
    char lat[N_LAT][64], msgs[N_RATE][64], mb[N_RATE][64], sys[64], csw[64], rm[64], rr[64];
    for (int i = 0; i < N_LAT; i++)
        lat_cell(lat[i], sizeof(lat[i]), &row->lat[i], ns);
    for (int i = 0; i < N_RATE; i++)
        rate_cells(msgs[i], mb[i], sizeof(msgs[i]), &row->rate[i], ns);
    if (row->sys_ok)
        count_str(sys, sizeof(sys), row->syscalls);
    else
        snprintf(sys, sizeof(sys), "n/a[%d]", note_ref(ns, row->sys_note));
    if (row->lat[0].ok)
        count_str(csw, sizeof(csw), row->lat[0].ctxsw_per_msg);
    else
        snprintf(csw, sizeof(csw), "-");
    ratio_cell(rm, sizeof(rm), row, results_row(res, "mbx"));
    ratio_cell(rr, sizeof(rr), row, results_row(res, "raw"));
    fprintf(f, "%-*s %13s %13s %13s %13s %10s %7s %10s %7s %7s %6s %6s %6s\n", w,
            mech_label(row->mech), lat[0], lat[1], lat[2], lat[3], msgs[0], mb[0], msgs[1], mb[1],
            sys, csw, rm, rr);
}

static void fanin_table(FILE *f, const struct results *res, struct notes *ns, int w)
{
    bool any = false;
    for (size_t i = 0; i < res->nrows; i++)
        any = any || res->rows[i].fanin_ran;
    if (!any)
        return;
    fprintf(f,
            "\nfan-in: N senders -> 1 receiver, 64 B, total msg/s (each sender's messages "
            "checked)\n%-*s",
            w, "mechanism");
    for (int k = 0; k < N_FANIN; k++)
        fprintf(f, " %9d", fanin_senders[k]);
    fputc('\n', f);
    for (size_t i = 0; i < res->nrows; i++) {
        const struct row *row = &res->rows[i];
        if (!row->fanin_ran)
            continue;
        fprintf(f, "%-*s", w, mech_label(row->mech));
        for (int k = 0; k < N_FANIN; k++) {
            char msgs[64], mb[64];
            rate_cells(msgs, mb, sizeof(msgs), &row->fanin[k], ns);
            fprintf(f, " %9s", msgs);
        }
        fputc('\n', f);
    }
}

static void loan_table(FILE *f, const struct results *res, struct notes *ns, int w)
{
    if (!res->loan_ran)
        return;
    fprintf(f,
            "\nzero copy: mbx (loan) round trip by message size, median/p99, us (default "
            "mailboxes:\nring kind at every size, 12 slots of 64 MiB, one of 1 GiB; the payload is "
            "made in place)\n"
            "%-*s %13s %13s %13s %13s\n%-*s",
            w, "mechanism", "64 B", "1 MiB", "64 MiB", "1 GiB", w, "mbx (loan)");
    for (int i = 0; i < N_LOAN; i++) {
        char cell[64];
        lat_cell(cell, sizeof(cell), &res->loan[i], ns);
        fprintf(f, " %13s", cell);
    }
    fputc('\n', f);
}

/* 1 MiB round trips from the first message, as they come and prefaulted. */
static void first_table(FILE *f, const struct results *res, struct notes *ns, int w)
{
    if (!res->first_ran)
        return;
    fprintf(f,
            "\n1 MiB round trips from the first message, median/p99, us: fresh default "
            "mailboxes\n(64 slots), %d round trips timed after one that waits for both sides "
            "to start\n%-*s %15s %15s\n%-*s",
            N_FIRST, w, "mechanism", "as they come", "MBX_PREFAULT=1", w, "mbx");
    for (int k = 0; k < 2; k++) {
        char cell[64];
        lat_cell(cell, sizeof(cell), &res->first[k], ns);
        fprintf(f, " %15s", cell);
    }
    fputc('\n', f);
}

/* With the iceoryx rows: what each side holds before its first message. */
static void memory_table(FILE *f, const struct results *res)
{
    if (!res->roudi_tried)
        return;
    fprintf(f, "\nmemory before the first message: shared memory reserved (allocated)\n");
    const struct roudi_memory *m = &res->roudi;
    if (m->ok) {
        char a[32], b[32], c[32], d[32], e[32];
        bytes_str(a, sizeof(a), m->mgmt_bytes);
        bytes_str(b, sizeof(b), m->mgmt_alloc);
        bytes_str(c, sizeof(c), m->data_bytes);
        bytes_str(d, sizeof(d), m->data_alloc);
        bytes_str(e, sizeof(e), m->rss_bytes);
        fprintf(f,
                "  iceoryx  iox-roudi, started before any iceoryx process (%.2f s to ready): "
                "management\n           segment %s (%s), chunk pools for this run's sizes %s "
                "(%s); RouDi resident %s\n",
                m->start_s, a, b, c, d, e);
    } else {
        fprintf(f, "  iceoryx  n/a: %s\n", res->roudi_note[0] ? res->roudi_note : "not measured");
    }
    if (res->mbx_mem_ok) {
        char a[32], b[32];
        bytes_str(a, sizeof(a), res->mbx_file_bytes);
        bytes_str(b, sizeof(b), res->mbx_alloc_bytes);
        fprintf(f,
                "  mbx      one default mailbox (64 x 8 KiB messages): file %s (%s); no daemon\n",
                a, b);
    }
    fprintf(f, "at %u idle channels:\n", IDLE_CHANNELS);
    fprintf(f,
            "  iceoryx  n/a: Debian's build takes at most %u publishers (IOX_MAX_PUBLISHERS), "
            "whatever the memory;\n           RouDi's segments above are sized for that many "
            "at start and do not grow\n",
            ICEORYX_MAX_PUBLISHERS);
    if (res->mbx_idle_ok) {
        char a[32], b[32];
        bytes_str(a, sizeof(a), res->mbx_idle_file_bytes);
        bytes_str(b, sizeof(b), res->mbx_idle_alloc_bytes);
        fprintf(f, "  mbx      %u default mailboxes at once: files %s (%s allocated)\n",
                IDLE_CHANNELS, a, b);
    }
}

static void fail_table(FILE *f, const struct results *res, struct notes *ns)
{
    if (!res->fail_ran)
        return;
    int n = 0;
    for (int k = 0; k < N_FAIL; k++)
        n = res->fail[k].ok && res->fail[k].n > n ? res->fail[k].n : n;
    fprintf(f,
            "\nfailure detection: from the event (kill -9, a message, mbx_unlink) to the waiting "
            "process's\nreturn, ms over %d trials, the event 0-60 ms after the waiter blocked\n"
            "%-40s %-28s %8s %8s %8s\n",
            n, "event", "waiter gets", "median", "p99", "max");
    for (int k = 0; k < N_FAIL; k++) {
        const struct fail_result *r = &res->fail[k];
        char med[64], p99[24], max[24];
        if (r->ok) {
            sig3(med, sizeof(med), r->median_ns / 1e6);
            sig3(p99, sizeof(p99), r->p99_ns / 1e6);
            sig3(max, sizeof(max), r->max_ns / 1e6);
        } else {
            missing(med, sizeof(med), false, r->note, ns);
            snprintf(p99, sizeof(p99), "-");
            snprintf(max, sizeof(max), "-");
        }
        fprintf(f, "%-40s %-28s %8s %8s %8s\n", fail_events[k], fail_waiters[k], med, p99, max);
    }
}

void report_print(FILE *f, const struct results *res)
{
    struct notes ns = {.n = 0};
    int w = label_width(res);
    header(f, res, w);
    for (size_t i = 0; i < res->nrows; i++)
        row_line(f, res, &res->rows[i], &ns, w);
    fanin_table(f, res, &ns, w);
    loan_table(f, res, &ns, w);
    first_table(f, res, &ns, w);
    memory_table(f, res);
    fail_table(f, res, &ns);
    if (ns.n) {
        fprintf(f, "\nnotes:\n");
        for (int i = 0; i < ns.n; i++)
            fprintf(f, "  [%d] %s\n", i + 1, ns.text[i]);
    }
    targets_print(f, res);
}
