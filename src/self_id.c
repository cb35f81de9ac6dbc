#include "self_id.h"

#include <pthread.h>
#include <unistd.h>

static int32_t cached_pid;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void refresh(void)
{
    __atomic_store_n(&cached_pid, (int32_t)getpid(), __ATOMIC_RELAXED);
}

static void setup(void)
{
    refresh();
    pthread_atfork(NULL, NULL, refresh);
}

int32_t self_pid(void)
{
    pthread_once(&once, setup);
    return __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
}
