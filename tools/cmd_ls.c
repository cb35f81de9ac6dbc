#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "json.h"
#include "mbx.h"
#include "sysv_ls.h"

static const char usage[] =
    "usage: mbx ls [OPTION...]\n"
    "List every mailbox in $MBX_DIR (default /dev/shm) with its messages, bytes,\n"
    "capacity, largest message, mode, user and owner, sorted by name; then the\n"
    "System V queues libmbx-sysv keeps there, like `ipcs -q` (text only).\n"
    "\n"
    "  -j, --json            print a JSON array of the objects `mbx stat --json`\n"
    "                        prints; a mailbox that cannot be read has \"name\" and\n"
    "                        \"error\" only\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct entry {
    char *name;
    int err; /* of mbx_stat_name */
    mbx_stat st;
};

struct list {
    struct entry *v;
    size_t len, cap;
};

static int collect(const char *name, void *arg)
{
    struct list *l = arg;

    if (l->len == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct entry *v = realloc(l->v, cap * sizeof(*v));
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
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void print_text(const struct list *l)
{
    int width = 4;

    for (size_t i = 0; i < l->len; i++)
        if ((int)strlen(l->v[i].name) > width)
            width = (int)strlen(l->v[i].name);
    format_ls_header(stdout, width);
    for (size_t i = 0; i < l->len; i++) {
        if (l->v[i].err)
            format_ls_error(stdout, width, l->v[i].name, l->v[i].err);
        else
            format_ls_row(stdout, width, l->v[i].name, &l->v[i].st);
    }
}

static void print_json(const struct list *l)
{
    putchar('[');
    for (size_t i = 0; i < l->len; i++) {
        const struct entry *e = &l->v[i];
        if (i)
            putchar(',');
        if (!e->err) {
            format_stat_json(stdout, e->name, &e->st);
            continue;
        }
        fputs("{\"name\":", stdout);
        json_put_string(stdout, e->name, strlen(e->name));
        fputs(",\"error\":", stdout);
        json_put_string(stdout, mbx_strerror(e->err), strlen(mbx_strerror(e->err)));
        putchar('}');
    }
    puts("]");
}

static const char *mbx_dir(void)
{
    const char *dir = getenv("MBX_DIR");

    return dir && *dir ? dir : "/dev/shm";
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    struct list l = {NULL, 0, 0};
    int c, err, json = 0;
    size_t i, kept;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":jh", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(self->name, c, argv);
        }
    }
    if (optind != argc)
        return cli_usage(self->name, "takes no arguments");
    err = mbx_foreach(collect, &l);
    if (!err) {
        if (l.len)
            qsort(l.v, l.len, sizeof(*l.v), by_name);
        /* A mailbox removed since the walk saw it is left out. */
        for (i = kept = 0; i < l.len; i++) {
            l.v[i].err = mbx_stat_name(l.v[i].name, &l.v[i].st);
            if (l.v[i].err == -ENOENT || l.v[i].err == -EIDRM)
                free(l.v[i].name);
            else
                l.v[kept++] = l.v[i];
        }
        l.len = kept;
        if (json) {
            print_json(&l);
        } else {
            print_text(&l);
            sysv_ls_print(stdout, mbx_dir());
        }
    }
    for (i = 0; i < l.len; i++)
        free(l.v[i].name);
    free(l.v);
    return err ? cli_error(self->name, mbx_dir(), err) : CLI_OK;
}

const struct cli_cmd cmd_ls = {"ls", "list mailboxes", usage, run};
