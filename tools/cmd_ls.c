#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "json.h"
#include "mailbox_list.h"
#include "mbx.h"
#include "bridge_ls.h"
#include "sysv_ls.h"

static const char usage[] =
    "usage: mbx ls [OPTION...]\n"
    "List every mailbox in $MBX_DIR (default /dev/shm) with its messages, bytes,\n"
    "capacity, largest message, mode, user and owner, sorted by name; then the\n"
    "System V queues libmbx-sysv keeps there, like `ipcs -q`, and the mailboxes\n"
    "running NATS bridges (mbx bridge) export and import. The JSON leaves out\n"
    "the System V queues, and the bridges unless --bridges.\n"
    "\n"
    "  -j, --json            print a JSON array of the objects `mbx stat --json`\n"
    "                        prints; a mailbox that cannot be read has \"name\" and\n"
    "                        \"error\" only\n"
    "  -b, --bridges         with --json, print {\"mailboxes\":ARRAY,\"bridges\":[...]}\n"
    "                        instead: ARRAY as above, and an object per bridged\n"
    "                        name with \"name\", \"how\" (export, import), \"mode\"\n"
    "                        (core, jetstream), \"pid\" and \"subjects\" (the text\n"
    "                        lists bridges anyway)\n"
    "  -h, --help            show this help\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"bridges", no_argument, NULL, 'b'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_text(const struct mailbox_list *l)
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

/* The array of mailboxes, without a newline after it. */
static void print_mailboxes_json(const struct mailbox_list *l)
{
    putchar('[');
    for (size_t i = 0; i < l->len; i++) {
        const struct mailbox_entry *e = &l->v[i];
        if (i)
            putchar(',');
        if (!e->err) {
            /* As mbx stat --json prints it, with what a UDP gateway dropped. */
            mbx_stat_ext ext = {.size = sizeof(ext)};
            int have_ext = mbx_stat_ext_name(e->name, &ext) == 0;
            format_stat_json_ext(stdout, e->name, &e->st, have_ext ? &ext : NULL);
            continue;
        }
        fputs("{\"name\":", stdout);
        json_put_string(stdout, e->name, strlen(e->name));
        fputs(",\"error\":", stdout);
        json_put_string(stdout, mbx_strerror(e->err), strlen(mbx_strerror(e->err)));
        putchar('}');
    }
    putchar(']');
}

/* The bare array unless --bridges: scripts written for it take every
 * element for a mailbox (a name to stat or rm, a count to read), so
 * bridged names go only into the object --bridges asks for, beside it. */
static void print_json(const struct mailbox_list *l, int bridges)
{
    if (!bridges) {
        print_mailboxes_json(l);
        putchar('\n');
        return;
    }
    fputs("{\"mailboxes\":", stdout);
    print_mailboxes_json(l);
    fputs(",\"bridges\":", stdout);
    bridge_ls_json(stdout, mailbox_dir());
    puts("}");
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    struct mailbox_list l = {0};
    int c, err, json = 0, bridges = 0;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":jbh", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'b':
            bridges = 1;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(self->name, c, argv);
        }
    }
    if (optind != argc)
        return cli_usage(self->name, "takes no arguments");
    err = mailbox_list_read(&l);
    if (!err) {
        if (json) {
            print_json(&l, bridges);
        } else {
            print_text(&l);
            sysv_ls_print(stdout, mailbox_dir());
            bridge_ls_print(stdout, mailbox_dir());
        }
    }
    mailbox_list_free(&l);
    return err ? cli_error(self->name, mailbox_dir(), err) : CLI_OK;
}

const struct cli_cmd cmd_ls = {"ls", "list mailboxes", usage, run};
