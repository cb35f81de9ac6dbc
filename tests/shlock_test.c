/* The lock of mbx's own (src/shm/shlock.c): mutual exclusion, a dead
 * holder's lock taken over, deadlines, and a thread that holds it. */
#include "test_util.h"

#include "platform/linux/proc.h"
#include "platform/platform.h"
#include "shm/shlock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

static struct shlock *lock;
static uint64_t *counter;

static int setup(void **state)
{
    (void)state;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    lock = p;
    counter = (uint64_t *)((char *)p + 64);
    return 0;
}

/* Each test starts with a free lock: one that failed holding it (a dead
 * holder never taken over) fails alone instead of hanging the next. */
static int free_lock(void **state)
{
    (void)state;
    memset(lock, 0, 4096);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    munmap(lock, 4096);
    return 0;
}

static void *add_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        if (shlock_lock(lock, -1) != 0)
            return (void *)1;
        uint64_t v = *counter; /* a plain read-modify-write: the lock guards it */
        *counter = v + 1;
        shlock_unlock(lock);
    }
    return NULL;
}

static void excludes_threads_and_processes(void **state)
{
    (void)state;
    *counter = 0;
    pid_t p = fork();
    if (p == 0)
        _exit(add_many(NULL) ? 1 : 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, add_many, NULL), 0);
    void *r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(*counter, 300000);
    assert_int_equal(lock->word, 0);
}

static void dead_holder_is_taken_over(void **state)
{
    (void)state;
    pid_t p = fork();
    if (p == 0) {
        shlock_lock(lock, -1);
        raise(SIGKILL);
    }
    waitpid(p, NULL, 0);
    assert_int_equal(shlock_holder_tid(lock), p);
    assert_int_equal(shlock_holder_dead(lock), 1);
    assert_int_equal(shlock_lock(lock, clock_deadline(5000000000ll)), SHLOCK_TOOK_OVER);
    assert_int_equal(shlock_holder_dead(lock), 0);
    shlock_unlock(lock);
    assert_int_equal(shlock_lock(lock, -1), 0);
    shlock_unlock(lock);
}

static void live_holder_makes_a_deadline_pass(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        shlock_lock(lock, -1);
        if (write(go[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    assert_true(test_read_ready(go[0]));
    assert_int_equal(shlock_holder_dead(lock), 0);
    alarm(10); /* a lock that ignores its deadline waits for ever */
    assert_int_equal(shlock_lock(lock, clock_deadline(30000000)), -ETIMEDOUT);
    alarm(0);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    assert_int_equal(shlock_lock(lock, clock_deadline(5000000000ll)), SHLOCK_TOOK_OVER);
    shlock_unlock(lock);
    close(go[0]);
    close(go[1]);
}

/* A holder killed between taking the word and writing its record, whose
 * tid a later, unrelated thread has (a reused pid; here a live child, and
 * the word says another start): the lock is taken over. Judged by the tid
 * alone, that thread was taken for the holder, and the lock stayed held
 * for as long as it lived (found by a review). The child's own start (a
 * live holder in that moment) and no start (an older library's) still
 * hold the lock. */
static void dead_holder_of_a_reused_tid_is_taken_over(void **state)
{
    (void)state;
    pid_t p = fork();
    if (p == 0)
        test_await_kill();
    struct proc_stat st;
    int tries = 0;
    while (proc_stat_of(p, &st) != 0 && tries++ < 1000)
        usleep(1000);
    assert_int_equal(proc_stat_of(p, &st), 0);
    uint32_t start = (uint32_t)st.start;
    uint64_t *both = (uint64_t *)(void *)&lock->word;
    alarm(20); /* a lock that waits on the wrong holder waits for ever */
    for (int k = 0; k < 2; k++) {
        /* p's tid, p's start or none, no record: a live holder between its
         * take and its record, of this library or an older one. */
        __atomic_store_n(both, (uint64_t)(k ? 0 : start) << 32 | (uint32_t)p, __ATOMIC_SEQ_CST);
        assert_int_equal(shlock_holder_dead(lock), 0);
        assert_int_equal(shlock_lock(lock, clock_deadline(30000000)), -ETIMEDOUT);
    }
    /* p's tid with another start: a holder that died, its tid now p's;
     * judged so once the word stayed without a record for a while (a
     * holder of an older library may find a stale start beside its word:
     * it writes its record meanwhile, and is not taken for dead). */
    uint64_t other = (uint64_t)(start + 1) << 32 | (uint32_t)p;
    __atomic_store_n(both, other, __ATOMIC_SEQ_CST);
    assert_int_equal(shlock_holder_dead(lock), 0);
    __atomic_store_n(&lock->holder, ident_make(p, start), __ATOMIC_SEQ_CST);
    usleep(150000);                                /* past UNRECORDED_NS */
    assert_int_equal(shlock_holder_dead(lock), 0); /* its record came */
    __atomic_store_n(&lock->holder, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(shlock_holder_dead(lock), 0);
    usleep(150000); /* past UNRECORDED_NS */
    assert_int_equal(shlock_holder_dead(lock), 1);
    assert_int_equal(shlock_lock(lock, clock_deadline(5000000000ll)), SHLOCK_TOOK_OVER);
    shlock_unlock(lock);
    assert_int_equal(__atomic_load_n(both, __ATOMIC_SEQ_CST), 0);
    alarm(0);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
}

static void holder_thread_is_told(void **state)
{
    (void)state;
    assert_int_equal(shlock_lock(lock, -1), 0);
    /* Taken with the holder's start beside the word. */
    assert_int_not_equal(lock->start, 0);
    assert_int_equal(lock->start, ident_start(ident_thread()));
    assert_int_equal(shlock_lock(lock, -1), -EDEADLK);
    assert_int_equal(shlock_lock(lock, 0), -EDEADLK);
    shlock_unlock(lock);
}

/* The lock held by a thread that died holding it, whose tid the caller
 * now has (a reused pid): the caller takes it over, it is not its own. It
 * said -EDEADLK for good, as to a signal handler of the holder. With the
 * dead holder's record, and without it. */
static void own_tid_of_a_dead_holder_is_not_deadlock(void **state)
{
    (void)state;
    ident_t me = ident_thread();
    uint32_t tid = (uint32_t)ident_id(me), start = ident_start(me);
    uint64_t *both = (uint64_t *)(void *)&lock->word;
    for (int recorded = 0; recorded < 2; recorded++) {
        __atomic_store_n(both, (uint64_t)(start + 1) << 32 | tid, __ATOMIC_SEQ_CST);
        __atomic_store_n(&lock->holder, recorded ? ident_make((int32_t)tid, start + 1) : 0,
                         __ATOMIC_SEQ_CST);
        assert_int_equal(shlock_lock(lock, clock_deadline(5000000000ll)), SHLOCK_TOOK_OVER);
        assert_int_equal(shlock_lock(lock, 0), -EDEADLK); /* now it is ours */
        shlock_unlock(lock);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(excludes_threads_and_processes, free_lock),
        cmocka_unit_test_setup(dead_holder_is_taken_over, free_lock),
        cmocka_unit_test_setup(live_holder_makes_a_deadline_pass, free_lock),
        cmocka_unit_test_setup(holder_thread_is_told, free_lock),
        cmocka_unit_test_setup(dead_holder_of_a_reused_tid_is_taken_over, free_lock),
        cmocka_unit_test_setup(own_tid_of_a_dead_holder_is_not_deadlock, free_lock),
    };
    return test_result(cmocka_run_group_tests(tests, setup, teardown));
}
