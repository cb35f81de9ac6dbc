#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "proc.h"

static bool gnuplot_found(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path);
    bool found = false;
    for (char *save, *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char exe[PATH_MAX];
        snprintf(exe, sizeof(exe), "%s/gnuplot", d);
        found = access(exe, X_OK) == 0;
    }
    free(copy);
    return found;
}

static bool has_latency(const struct row *row)
{
    for (int s = 0; s < N_LAT && !row->na; s++)
        if (row->lat[s].ok)
            return true;
    return false;
}

static void latency_plot(FILE *f, const char *dir, const struct results *res)
{
    for (size_t i = 0; i < res->nrows; i++) {
        const struct row *row = &res->rows[i];
        if (!has_latency(row))
            continue;
        fprintf(f, "$lat%zu << EOD\n", i);
        for (int s = 0; s < N_LAT; s++)
            if (row->lat[s].ok)
                fprintf(f, "%zu %.4f\n", lat_sizes[s], row->lat[s].median_ns / 1e3);
        fputs("EOD\n", f);
    }
    fprintf(f,
            "set output '%s/latency.png'\n"
            "set title 'Round trip (ping-pong), median, %s run'\n"
            "set logscale xy\n"
            "set xlabel 'message size'\n"
            "set ylabel 'microseconds'\n"
            "set xrange [40:1700000]\n"
            "set xtics ('64 B' 64, '1 KiB' 1024, '64 KiB' 65536, '1 MiB' 1048576)\n"
            "plot",
            dir, res->mode);
    const char *sep = "";
    for (size_t i = 0; i < res->nrows; i++) {
        if (!has_latency(&res->rows[i]))
            continue;
        fprintf(f, "%s $lat%zu with linespoints title '%s'", sep, i, mech_label(res->rows[i].mech));
        sep = ", \\\n    ";
    }
    fputc('\n', f);
}

static void scaling_plot(FILE *f, const char *dir, const struct results *res)
{
    for (size_t i = 0; i < res->nrows; i++) {
        const struct row *row = &res->rows[i];
        if (!row->fanin_ran)
            continue;
        fprintf(f, "$fan%zu << EOD\n", i);
        for (int k = 0; k < N_FANIN; k++)
            if (row->fanin[k].ok)
                fprintf(f, "%d %.0f\n", fanin_senders[k], row->fanin[k].msgs_per_s);
        fputs("EOD\n", f);
    }
    fprintf(f,
            "set output '%s/scaling.png'\n"
            "set title 'Fan-in: N senders into one receiver, 64 B messages, %s run'\n"
            "set logscale x 2\n"
            "set logscale y\n"
            "set xlabel 'sender processes'\n"
            "set ylabel 'messages per second, all senders'\n"
            "set xrange [0.8:20]\n"
            "set xtics (1, 2, 4, 8, 16)\n"
            "set format y '%%.0s%%c'\n"
            "plot",
            dir, res->mode);
    const char *sep = "";
    for (size_t i = 0; i < res->nrows; i++) {
        if (!res->rows[i].fanin_ran)
            continue;
        fprintf(f, "%s $fan%zu with linespoints title '%s'", sep, i, mech_label(res->rows[i].mech));
        sep = ", \\\n    ";
    }
    fputc('\n', f);
}

int plot_write(const char *dir, const struct results *res, bool *scaling)
{
    *scaling = false;
    if (strchr(dir, '\'')) {
        fprintf(stderr, "mbx-bench: plots skipped: the output path contains a quote\n");
        return -EINVAL;
    }
    char gp[PATH_MAX];
    snprintf(gp, sizeof(gp), "%s/plots.gp", dir);
    FILE *f = fopen(gp, "w");
    if (!f)
        return -errno;
    fputs("# Made by mbx-bench; run `gnuplot plots.gp` to redraw.\n"
          "set terminal pngcairo size 1100,700 noenhanced\n"
          "set key outside right\n"
          "set grid\n",
          f);
    latency_plot(f, dir, res);
    for (size_t i = 0; i < res->nrows; i++)
        *scaling = *scaling || res->rows[i].fanin_ran;
    if (*scaling) {
        fputs("reset\nset terminal pngcairo size 1100,700 noenhanced\nset key outside right\n"
              "set grid\n",
              f);
        scaling_plot(f, dir, res);
    }
    if (fclose(f) != 0)
        return -errno;
    if (!gnuplot_found()) {
        fprintf(stderr, "mbx-bench: gnuplot not found: plots skipped (%s has the data)\n", gp);
        return -ENOENT;
    }
    char *argv[] = {"gnuplot", gp, NULL};
    struct procs ps = {0};
    int rc = procs_exec(&ps, argv, false);
    if (rc == 0)
        rc = procs_wait(&ps, now_ns() + 30 * (int64_t)1000000000);
    if (rc < 0)
        fprintf(stderr, "mbx-bench: gnuplot failed; plots may be missing\n");
    return rc;
}
