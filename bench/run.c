#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf.h"
#include "proc.h"
#include "run.h"

const size_t lat_sizes[N_LAT] = {64, 1024, 64 << 10, 1 << 20};
const size_t rate_sizes[N_RATE] = {64, 64 << 10};
const int fanin_senders[N_FANIN] = {1, 2, 4, 8, 16};
const size_t loan_sizes[N_LOAN] = {64, 1 << 20, 64 << 20, (size_t)1 << 30};

const struct row *results_row(const struct results *res, const char *name)
{
    for (size_t i = 0; i < res->nrows; i++)
        if (strcmp(res->rows[i].mech->name, name) == 0)
            return &res->rows[i];
    return NULL;
}

static const char *size_name(size_t size)
{
    switch (size) {
    case 64:
        return "64B";
    case 1024:
        return "1KiB";
    case 64 << 10:
        return "64KiB";
    case 1 << 20:
        return "1MiB";
    case 64 << 20:
        return "64MiB";
    default:
        return "1GiB";
    }
}

static void progress(const char *s)
{
    fputs(s, stderr);
    fflush(stderr);
}

/* A mechanism that answers -ENOSYS (loans before they exist) is n/a as a
 * whole: one note for the row instead of a failure per cell. */
static bool whole_row_na(struct row *row, bool nosys, const char *note)
{
    if (!nosys)
        return false;
    row->na = true;
    snprintf(row->note, sizeof(row->note), "%s", note);
    return true;
}

/* A cell --quick leaves out (mech.quick_64b_only): n/a, saying so. */
static bool skipped_in_quick(const struct results *res, const struct mech *m, size_t size, bool *na,
                             char *note, size_t notelen)
{
    if (!m->quick_64b_only || size == 64 || strcmp(res->mode, "quick") != 0)
        return false;
    *na = true;
    snprintf(note, notelen, "--quick measures this row at 64 B only; --full at every size");
    return true;
}

static int measure_row(struct results *res, struct row *row)
{
    const struct mech *m = row->mech;
    const struct plan *pl = &res->plan;
    int rc = 0;
    progress(" rtt");
    for (int i = 0; i < N_LAT && rc == 0; i++) {
        struct lat_result *l = &row->lat[i];
        if (skipped_in_quick(res, m, lat_sizes[i], &l->na, l->note, sizeof(l->note)))
            continue;
        if (m->lossy) {
            l->na = true;
            snprintf(l->note, sizeof(l->note),
                     "datagrams: one way only, no reply path to time a round trip");
            continue;
        }
        fprintf(stderr, " %s", size_name(lat_sizes[i]));
        rc = measure_latency(m, lat_sizes[i], pl, &row->lat[i]);
        if (whole_row_na(row, row->lat[i].nosys, row->lat[i].note))
            return rc;
    }
    progress(" | one-way");
    for (int i = 0; i < N_RATE && rc == 0; i++) {
        struct rate_result *r = &row->rate[i];
        if (skipped_in_quick(res, m, rate_sizes[i], &r->na, r->note, sizeof(r->note)))
            continue;
        fprintf(stderr, " %s", size_name(rate_sizes[i]));
        rc = measure_oneway(m, rate_sizes[i], 1, pl->oneway_ns, pl, &row->rate[i]);
        if (whole_row_na(row, row->rate[i].nosys, row->rate[i].note))
            return rc;
    }
    if (rc == 0 && m->lossy) {
        snprintf(row->sys_note, sizeof(row->sys_note), "n/a (counted on round trips)");
    } else if (rc == 0 && res->perf) {
        progress(" | perf");
        rc = perf_per_message(m, pl, &row->syscalls, &row->perf_ctxsw, row->sys_note,
                              sizeof(row->sys_note));
        row->sys_ok = rc == 0;
        if (rc != -EINTR)
            rc = 0;
    } else if (!res->perf) {
        snprintf(row->sys_note, sizeof(row->sys_note), "n/a (perf unavailable)");
    }
    return rc;
}

static bool in_fanin(const struct results *res, const struct row *row)
{
    enum mech_fanin f = row->mech->fanin;
    if (row->mech->preload && !res->preloaded)
        return false; /* measured by the preloaded copy with its row */
    return !row->na && (f == FANIN_YES || (f == FANIN_FULL_ONLY && strcmp(res->mode, "full") == 0));
}

static int measure_fanin(struct results *res)
{
    int rc = 0;
    for (size_t i = 0; i < res->nrows && rc == 0; i++) {
        struct row *row = &res->rows[i];
        if (!in_fanin(res, row))
            continue;
        fprintf(stderr, "mbx-bench: fan-in %-14s senders", row->mech->name);
        for (int k = 0; k < N_FANIN && rc == 0; k++) {
            fprintf(stderr, " %d", fanin_senders[k]);
            rc = measure_oneway(row->mech, 64, fanin_senders[k], res->plan.fanin_ns, &res->plan,
                                &row->fanin[k]);
        }
        row->fanin_ran = true;
        progress("\n");
    }
    return rc;
}

/* The loan row again at sizes up to 1 GiB: a loaned round trip should not
 * grow with the message (a 1 GiB cell needs about 2 GiB of shared memory,
 * one message in each direction; without it the cell says why). */
static int measure_loan_sizes(struct results *res)
{
    const struct row *row = results_row(res, "mbx-loan");
    if (!row || row->na)
        return 0;
    progress("mbx-bench: loans by size     ");
    int rc = 0;
    for (int i = 0; i < N_LOAN && rc == 0; i++) {
        fprintf(stderr, " %s", size_name(loan_sizes[i]));
        rc = measure_latency(row->mech, loan_sizes[i], &res->plan, &res->loan[i]);
    }
    res->loan_ran = true;
    progress("\n");
    return rc;
}

/* Sets or removes MBX_PREFAULT for the children forked next. */
static void prefault_env(const char *value)
{
    if (value)
        setenv("MBX_PREFAULT", value, 1);
    else
        unsetenv("MBX_PREFAULT");
}

/* 1 MiB round trips of the mbx row from the first message: fresh default
 * mailboxes (64 slots), one round trip that waits for both sides to start,
 * then N_FIRST timed (16 laps of the ring, the first touching every slot
 * for the first time), as they come and with MBX_PREFAULT=1 in both
 * processes. */
static int measure_first_messages(struct results *res)
{
    const struct row *row = results_row(res, "mbx");
    if (!row || row->na)
        return 0;
    progress("mbx-bench: 1 MiB from the first message ");
    struct plan pl = res->plan;
    pl.warm_ns = 0;
    pl.warm_min = 1;
    pl.lat_max = N_FIRST;
    pl.lat_ns = 60 * (int64_t)1000000000;
    const char *was = getenv("MBX_PREFAULT");
    char *saved = was ? strdup(was) : NULL;
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        fprintf(stderr, " %s", k ? "prefault" : "default");
        prefault_env(k ? "1" : NULL);
        rc = measure_latency(row->mech, 1u << 20, &pl, &res->first[k]);
    }
    prefault_env(saved);
    free(saved);
    res->first_ran = true;
    progress("\n");
    return rc;
}

/* How soon waiters learn of deaths and removals: mbx only, so with the mbx
 * row chosen. */
static int measure_failures(struct results *res)
{
    if (!results_row(res, "mbx"))
        return 0;
    progress("mbx-bench: failure detection ");
    int rc = 0;
    static const char *const short_names[N_FAIL] = {"owner", "owner(heap)", "call", "round-robin",
                                                    "unlink"};
    for (int k = 0; k < N_FAIL && rc == 0; k++) {
        fprintf(stderr, " %s", short_names[k]);
        rc = measure_failure((enum fail_kind)k, &res->plan, &res->fail[k]);
    }
    res->fail_ran = true;
    progress("\n");
    return rc;
}

int run_all(struct results *res)
{
    int64_t start = now_ns();
    res->perf = perf_available(&res->plan);
    if (!res->perf)
        progress("mbx-bench: perf stat -e raw_syscalls:sys_enter does not work here: "
                 "system calls per message are n/a\n");
    int rc = 0;
    for (size_t i = 0; i < res->nrows && rc == 0; i++) {
        struct row *row = &res->rows[i];
        int64_t t0 = now_ns();
        fprintf(stderr, "mbx-bench: [%2zu/%zu] %-20s", i + 1, res->nrows, row->mech->name);
        if (row->mech->preload && !res->preloaded) {
            progress(" (under LD_PRELOAD)\n");
            rc = run_preloaded(res, row);
            fprintf(stderr, "mbx-bench:         %-20s", row->mech->name);
        } else {
            rc = measure_row(res, row);
        }
        fprintf(stderr, " (%.1f s)%s%s\n", (double)(now_ns() - t0) / 1e9, row->na ? " n/a: " : "",
                row->na ? row->note : "");
    }
    if (rc == 0)
        rc = measure_fanin(res);
    if (rc == 0)
        rc = measure_loan_sizes(res);
    if (rc == 0)
        rc = measure_first_messages(res);
    if (rc == 0)
        rc = measure_failures(res);
    res->seconds = (double)(now_ns() - start) / 1e9;
    return rc;
}
