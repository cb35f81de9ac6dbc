#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report.h"

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

/* About three significant digits, so columns stay narrow from 0.0012 to
 * 12345. */
static void sig3(char *out, size_t n, double v)
{
    snprintf(out, n,
             v >= 100             ? "%.0f"
             : v >= 10            ? "%.1f"
             : v >= 0.1 || v == 0 ? "%.2f"
                                  : "%.2g",
             v);
}

/* Per-message counts: two decimals, so 0.004 reads as the 0.00 it is. */
static void count_str(char *out, size_t n, double v)
{
    snprintf(out, n, v >= 10 ? "%.1f" : "%.2f", v);
}

static void rate_str(char *out, size_t n, double v)
{
    const char *unit = "";
    if (v >= 1e9) {
        v /= 1e9;
        unit = "G";
    } else if (v >= 1e6) {
        v /= 1e6;
        unit = "M";
    } else if (v >= 1e3) {
        v /= 1e3;
        unit = "k";
    }
    char num[24];
    sig3(num, sizeof(num), v);
    size_t k = strnlen(num, sizeof(num) - 1);
    if (n > k + 1) { /* room for the number, the unit (one letter) and the end */
        memcpy(out, num, k);
        snprintf(out + k, n - k, "%s", unit);
    } else if (n) {
        out[0] = 0;
    }
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
            "mailboxes:\nring kind up to 1 MiB, heap kind beyond; the payload is made in place)\n"
            "%-*s %13s %13s %13s %13s\n%-*s",
            w, "mechanism", "64 B", "1 MiB", "64 MiB", "1 GiB", w, "mbx (loan)");
    for (int i = 0; i < N_LOAN; i++) {
        char cell[64];
        lat_cell(cell, sizeof(cell), &res->loan[i], ns);
        fprintf(f, " %13s", cell);
    }
    fputc('\n', f);
}

static void bytes_str(char *out, size_t n, uint64_t b)
{
    char num[24];
    if (b >= (uint64_t)1 << 20) {
        sig3(num, sizeof(num), (double)b / (1 << 20));
        snprintf(out, n, "%s MiB", num);
    } else {
        sig3(num, sizeof(num), (double)b / 1024);
        snprintf(out, n, "%s KiB", num);
    }
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
            "\nfailure detection: from the event (kill -9, or mbx_unlink) to the waiting "
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

/* The fastest kernel mechanism at 64 B, by round trip or by throughput. */
static const struct row *best_kernel(const struct results *res, bool by_rate)
{
    const struct row *best = NULL;
    for (size_t i = 0; i < res->nrows; i++) {
        const struct row *r = &res->rows[i];
        if (!r->mech->kernel || r->na)
            continue;
        if (by_rate && r->rate[0].ok && (!best || r->rate[0].msgs_per_s > best->rate[0].msgs_per_s))
            best = r;
        if (!by_rate && r->lat[0].ok && (!best || r->lat[0].median_ns < best->lat[0].median_ns))
            best = r;
    }
    return best;
}

static void target(FILE *f, const char *what, double got, double want, bool at_least,
                   const char *detail)
{
    bool met = at_least ? got >= want : got <= want;
    char x[32];
    sig3(x, sizeof(x), got);
    fprintf(f, "  %-40s %6sx  (target %s %gx)  %-6s  %s\n", what, x, at_least ? ">=" : "<=", want,
            met ? "met" : "MISSED", detail);
}

static void targets(FILE *f, const struct results *res)
{
    const struct row *mbx = results_row(res, "mbx"), *spin = results_row(res, "mbx-spin");
    const struct row *raw = results_row(res, "raw");
    const struct row *kl = best_kernel(res, false), *kr = best_kernel(res, true);
    char d[200];
    fprintf(f, "\nissue 5 targets at 64 B:\n");
    if (mbx && kl && mbx->lat[0].ok) {
        snprintf(d, sizeof(d), "mbx %.2f us, %s %.2f us", mbx->lat[0].median_ns / 1e3,
                 mech_label(kl->mech), kl->lat[0].median_ns / 1e3);
        target(f, "round trip: best kernel / mbx", kl->lat[0].median_ns / mbx->lat[0].median_ns, 5,
               true, d);
    }
    if (spin && raw && spin->lat[0].ok && raw->lat[0].ok) {
        snprintf(d, sizeof(d), "mbx (spin) %.2f us, raw limit %.2f us",
                 spin->lat[0].median_ns / 1e3, raw->lat[0].median_ns / 1e3);
        target(f, "round trip: mbx (spin) / raw limit",
               spin->lat[0].median_ns / raw->lat[0].median_ns, 2, false, d);
    }
    if (mbx && kr && mbx->rate[0].ok) {
        char a[24], b[24];
        rate_str(a, sizeof(a), mbx->rate[0].msgs_per_s);
        rate_str(b, sizeof(b), kr->rate[0].msgs_per_s);
        snprintf(d, sizeof(d), "mbx %s msg/s, %s %s msg/s", a, mech_label(kr->mech), b);
        target(f, "one-way throughput: mbx / best kernel",
               mbx->rate[0].msgs_per_s / kr->rate[0].msgs_per_s, 10, true, d);
    }
    const struct row *mt = results_row(res, "mbx-tcp"), *tcp = results_row(res, "tcp");
    const struct row *zt = results_row(res, "zmq-tcp");
    if (mt &&
        ((tcp && mt->lat[0].ok && tcp->lat[0].ok) || (zt && mt->rate[0].ok && zt->rate[0].ok)))
        fprintf(f, "\nissue 15 targets at 64 B (tcp:// over loopback):\n");
    if (mt && tcp && mt->lat[0].ok && tcp->lat[0].ok) {
        snprintf(d, sizeof(d), "mbx (tcp://) %.2f us, tcp %.2f us", mt->lat[0].median_ns / 1e3,
                 tcp->lat[0].median_ns / 1e3);
        target(f, "round trip: mbx (tcp://) / tcp", mt->lat[0].median_ns / tcp->lat[0].median_ns,
               1.3, false, d);
    }
    if (mt && zt && mt->rate[0].ok && zt->rate[0].ok) {
        char a[24], b[24];
        rate_str(a, sizeof(a), mt->rate[0].msgs_per_s);
        rate_str(b, sizeof(b), zt->rate[0].msgs_per_s);
        snprintf(d, sizeof(d), "mbx (tcp://) %s msg/s, zmq (tcp) %s msg/s", a, b);
        target(f, "one-way throughput: mbx (tcp://) / zmq",
               mt->rate[0].msgs_per_s / zt->rate[0].msgs_per_s, 1, true, d);
    }
    const struct lat_result *small = &res->loan[0], *big = &res->loan[1];
    if (res->loan_ran && small->ok && big->ok) {
        fprintf(f, "\nissue 6 target:\n");
        snprintf(d, sizeof(d), "1 MiB %.2f us, 64 B %.2f us", big->median_ns / 1e3,
                 small->median_ns / 1e3);
        target(f, "loaned round trip: 1 MiB / 64 B", big->median_ns / small->median_ns, 2, false,
               d);
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
    memory_table(f, res);
    fail_table(f, res, &ns);
    if (ns.n) {
        fprintf(f, "\nnotes:\n");
        for (int i = 0; i < ns.n; i++)
            fprintf(f, "  [%d] %s\n", i + 1, ns.text[i]);
    }
    targets(f, res);
}
