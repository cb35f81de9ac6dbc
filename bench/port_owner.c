/* Whose is a loopback TCP port (port_owner.h). */
#include "port_owner.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More listeners on one port than this is not a server of ours anyway. */
#define MAX_LISTENERS 16

/* TCP_LISTEN in the kernel's "st" column of /proc/net/tcp. */
#define ST_LISTEN 0x0A

/* Appends the inodes of the sockets listening on port in one /proc/net
 * table to ino[*n]. Returns 0, or -1 when the table cannot be read or has
 * more listeners than fit. A missing tcp6 (no IPv6) is not an error. */
static int listeners(const char *table, int port, unsigned long *ino, int *n, int optional)
{
    FILE *f = fopen(table, "r");
    if (!f)
        return optional ? 0 : -1;
    char line[512];
    int rc = 0;
    /* The first line is the column header. */
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return optional ? 0 : -1;
    }
    while (fgets(line, sizeof(line), f)) {
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ... */
        char local[64];
        unsigned st, lport;
        unsigned long inode;
        if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
            continue;
        const char *colon = strrchr(local, ':');
        if (!colon || sscanf(colon + 1, "%x", &lport) != 1)
            continue;
        if (st != ST_LISTEN || (int)lport != port)
            continue;
        if (*n == MAX_LISTENERS) {
            rc = -1;
            break;
        }
        ino[(*n)++] = inode;
    }
    fclose(f);
    return rc;
}

/* Whether "socket:[inode]" is among pid's open files. */
static int holds(pid_t pid, unsigned long inode)
{
    char dir[64], want[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char path[320], link[64];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = 0;
        found = strcmp(link, want) == 0;
    }
    closedir(d);
    return found;
}

enum port_owner port_owner_check(pid_t pid, int port)
{
    unsigned long ino[MAX_LISTENERS];
    int n = 0;
    if (pid <= 0 || port <= 0 || port > 65535)
        return PORT_FOREIGN;
    if (listeners("/proc/net/tcp", port, ino, &n, 0) < 0 ||
        listeners("/proc/net/tcp6", port, ino, &n, 1) < 0)
        return PORT_FOREIGN;
    if (n == 0)
        return PORT_FREE;
    /* Every listener must be pid's: one of another user's on the wildcard
     * address would take connections to 127.0.0.1 as well. */
    for (int i = 0; i < n; i++)
        if (!holds(pid, ino[i]))
            return PORT_FOREIGN;
    return PORT_OWNED;
}
