#include "cli.h"

#include <string.h>

const struct cli_cmd *const cli_commands[] = {
    &cmd_create, &cmd_send, &cmd_recv,  &cmd_ls,         &cmd_stat,   &cmd_top,  &cmd_rm, &cmd_dump,
    &cmd_load,   &cmd_call, &cmd_serve, &cmd_serve_echo, &cmd_bridge, &cmd_help, NULL,
};

const struct cli_cmd *cli_find(const char *name)
{
    for (const struct cli_cmd *const *c = cli_commands; *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}
