#include <errno.h>
#include <stdio.h>

#include "csv.h"

static const char *status(bool ok, bool na)
{
    return ok ? "ok" : na ? "n/a" : "fail";
}

/* Notes are free text: quote them, doubling any quote inside. */
static void quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputs("\"\n", f);
}

static void lat_line_as(FILE *f, const struct row *row, const char *measure, size_t size,
                        const struct lat_result *r)
{
    fprintf(f, "%s,%s,%zu,1,", row->mech->name, measure, size);
    if (r->ok)
        fprintf(f, "%.0f,%.0f,%llu,,,,%.4f,", r->median_ns, r->p99_ns, (unsigned long long)r->n,
                r->ctxsw_per_msg);
    else
        fputs(",,,,,,,", f);
    fprintf(f, "%s,", status(r->ok, r->na));
    quoted(f, r->ok ? "" : r->note);
}

static void lat_line(FILE *f, const struct row *row, size_t size, const struct lat_result *r)
{
    lat_line_as(f, row, "rtt", size, r);
}

static void rate_line(FILE *f, const struct row *row, const char *measure, size_t size, int senders,
                      const struct rate_result *r)
{
    fprintf(f, "%s,%s,%zu,%d,,,,", row->mech->name, measure, size, senders);
    if (r->ok)
        fprintf(f, "%.0f,%.3f,,,", r->msgs_per_s, r->mb_per_s);
    else
        fputs(",,,,", f);
    fprintf(f, "%s,", status(r->ok, r->na));
    quoted(f, r->ok ? "" : r->note);
}

static void row_lines(FILE *f, const struct row *row)
{
    if (row->na) {
        fprintf(f, "%s,all,,,,,,,,,,n/a,", row->mech->name);
        quoted(f, row->note);
        return;
    }
    for (int i = 0; i < N_LAT; i++)
        lat_line(f, row, lat_sizes[i], &row->lat[i]);
    for (int i = 0; i < N_RATE; i++)
        rate_line(f, row, "oneway", rate_sizes[i], 1, &row->rate[i]);
    fprintf(f, "%s,perf,64,1,,,,,,", row->mech->name);
    if (row->sys_ok)
        fprintf(f, "%.4f,%.4f,ok,\"\"\n", row->syscalls, row->perf_ctxsw);
    else {
        fputs(",,n/a,", f);
        quoted(f, row->sys_note);
    }
    for (int k = 0; row->fanin_ran && k < N_FANIN; k++)
        rate_line(f, row, "fanin", 64, fanin_senders[k], &row->fanin[k]);
}

/* One-way latency as iceoryx2 reports it: half a busy-polling round trip
 * (the 64-byte cell of a spinning row), median and p99. */
static void oneway_latency_line(FILE *f, const struct row *row)
{
    const struct lat_result *r = &row->lat[0];
    if (!r->ok)
        return;
    fprintf(f, "%s,oneway_latency,64,1,%.0f,%.0f,%llu,,,,,ok,\"half the round trip\"\n",
            row->mech->name, r->median_ns / 2, r->p99_ns / 2, (unsigned long long)r->n);
}

int csv_write(const char *path, const struct results *res)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fputs("mechanism,measure,size_bytes,senders,median_ns,p99_ns,round_trips,msgs_per_s,"
          "mb_per_s,syscalls_per_msg,ctxsw_per_msg,status,note\n",
          f);
    for (size_t i = 0; i < res->nrows; i++)
        row_lines(f, &res->rows[i]);
    const struct row *spin = results_row(res, "mbx-spin"), *raw = results_row(res, "raw");
    if (spin)
        oneway_latency_line(f, spin);
    if (raw)
        oneway_latency_line(f, raw);
    const struct row *loan = results_row(res, "mbx-loan");
    for (int i = 0; loan && res->loan_ran && i < N_LOAN; i++)
        lat_line(f, loan, loan_sizes[i], &res->loan[i]);
    /* From the first message: rtt_first (as they come), rtt_first_prefault. */
    const struct row *mbx = results_row(res, "mbx");
    for (int k = 0; mbx && res->first_ran && k < 2; k++)
        lat_line_as(f, mbx, k ? "rtt_first_prefault" : "rtt_first", 1u << 20, &res->first[k]);
    /* Failure detection: median and p99 from the event to the waiter's
     * return; the round_trips column holds the number of trials. */
    for (int k = 0; res->fail_ran && k < N_FAIL; k++) {
        const struct fail_result *r = &res->fail[k];
        fprintf(f, "mbx,%s,,1,", fail_names[k]);
        if (r->ok)
            fprintf(f, "%.0f,%.0f,%d,,,,,", r->median_ns, r->p99_ns, r->n);
        else
            fputs(",,,,,,,", f);
        fprintf(f, "%s,", r->ok ? "ok" : "fail");
        quoted(f, r->ok ? "" : r->note);
    }
    /* Memory before the first message: bytes in size_bytes, allocated in the
     * note. */
    const struct roudi_memory *m = &res->roudi;
    if (res->roudi_tried && m->ok) {
        fprintf(f, "iceoryx,memory_roudi_mgmt,%llu,,,,,,,,,ok,\"allocated %llu\"\n",
                (unsigned long long)m->mgmt_bytes, (unsigned long long)m->mgmt_alloc);
        fprintf(f, "iceoryx,memory_roudi_pools,%llu,,,,,,,,,ok,\"allocated %llu\"\n",
                (unsigned long long)m->data_bytes, (unsigned long long)m->data_alloc);
        fprintf(f, "iceoryx,memory_roudi_rss,%llu,,,,,,,,,ok,\"\"\n",
                (unsigned long long)m->rss_bytes);
    }
    if (res->roudi_tried && res->mbx_mem_ok)
        fprintf(f, "mbx,memory_mailbox,%llu,,,,,,,,,ok,\"allocated %llu\"\n",
                (unsigned long long)res->mbx_file_bytes, (unsigned long long)res->mbx_alloc_bytes);
    if (res->roudi_tried && res->mbx_idle_ok)
        fprintf(f, "mbx,memory_idle_%u,%llu,,,,,,,,,ok,\"allocated %llu\"\n", IDLE_CHANNELS,
                (unsigned long long)res->mbx_idle_file_bytes,
                (unsigned long long)res->mbx_idle_alloc_bytes);
    return fclose(f) == 0 ? 0 : -errno;
}
