/* The bridged mailboxes of a directory, for mbx ls (bridge_ls.h). The
 * files are read as untrusted: lines of known words and bounded fields
 * only, at most 64 KiB each. */
#include "bridge_ls.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static int alive(long pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

void bridge_ls_print(FILE *out, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    int shown = 0;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, ".mbx-bridge.", 12) != 0)
            continue;
        long pid = strtol(e->d_name + 12, &end, 10);
        if (end == e->d_name + 12 || strcmp(end, ".list") != 0 || !alive(pid))
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char line[1400];
        size_t read = 0;
        while (read < 65536 && fgets(line, sizeof(line), f)) {
            read += strlen(line);
            char how[8], name[256], subj[1100], mode[12];
            if (sscanf(line, "%7s %255s %1099s %11s", how, name, subj, mode) != 4 ||
                (strcmp(how, "export") && strcmp(how, "import")) ||
                (strcmp(mode, "core") && strcmp(mode, "jetstream")))
                continue;
            if (!shown++)
                fprintf(out, "\nbridged to NATS (mbx bridge):\n%-24s %-7s %-10s %-8s %s\n", "name",
                        "how", "mode", "pid", "subjects");
            fprintf(out, "%-24s %-7s %-10s %-8ld %s\n", name, how, mode, pid, subj);
        }
        fclose(f);
    }
    closedir(d);
}
