/* The threads of the test process, by the names mbx gives its own. */
#ifndef MBX_TEST_THREADS_H
#define MBX_TEST_THREADS_H

#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The id of a thread of this process named name (/proc/self/task), or 0
 * when there is none. */
static inline pid_t thread_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    pid_t found = 0;
    while (!found && (e = readdir(d))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        if (strcmp(comm, name) == 0)
            found = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return found;
}

#endif
