/* The threads of the test process, by the names mbx gives its own. */
#ifndef MBX_TEST_THREADS_H
#define MBX_TEST_THREADS_H

#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The name of thread tid (a /proc/self/task entry) into comm, "" when it
 * is gone. */
static inline void thread_comm(const char *tid, char *comm, size_t cap)
{
    char path[300];
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", tid);
    comm[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(comm, (int)cap, f))
        comm[strcspn(comm, "\n")] = 0;
    fclose(f);
}

/* The id of a thread of this process named name (/proc/self/task), or 0
 * when there is none. */
static inline pid_t thread_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    pid_t found = 0;
    while (!found && (e = readdir(d))) {
        char comm[32];
        thread_comm(e->d_name, comm, sizeof(comm));
        if (strcmp(comm, name) == 0)
            found = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return found;
}

#endif
