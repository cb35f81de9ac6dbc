/* How long a blocked call spins before it sleeps (shm/transport.c's
 * handle_ctx): the default lengthens after a large message, so a round trip
 * of 1 MiB messages does not sleep while its peer still copies; a spin the
 * program chose (mbx_set_spin, MBX_SPIN_NS) is the budget it keeps; a
 * handle whose spins keep missing spins briefly (shm/wait.c), and a spin
 * stops on a machine with more runnable threads than CPUs. */
#include "test_box.h"

#include "shm/shm.h"
#include "shm/wait.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MIB (1u << 20)

static char big[8 * MIB];

/* The spin the next call through m would use. */
static int64_t spin_of(mbx *m)
{
    return handle_ctx(shm_box_of(m)).wait.spin_ns;
}

/* Sends n bytes to m and receives them back through it. */
static void pass(mbx *m, size_t n)
{
    assert_int_equal(mbx_send(m, big, n, 0, 0), 0);
    assert_int_equal(mbx_recv(m, big, sizeof(big), NULL, 0), (ssize_t)n);
}

static void default_spin_follows_the_last_message(void **state)
{
    (void)state;
    mbx *m = test_box("sized", 2, 8 * MIB, 0);
    assert_int_equal(spin_of(m), 20000);
    pass(m, MIB); /* a quarter of a nanosecond a byte */
    assert_int_equal(spin_of(m), MIB / 4);
    pass(m, 8 * MIB); /* at most 1 ms */
    assert_int_equal(spin_of(m), 1000000);
    pass(m, 64 * 1024); /* below the default: the default */
    assert_int_equal(spin_of(m), 20000);
    mbx_close(m);
    mbx_unlink("sized");
}

static void chosen_spin_is_kept(void **state)
{
    (void)state;
    mbx *m = test_box("chosen", 2, 8 * MIB, 0);
    assert_int_equal(mbx_set_spin(m, 20000), 0);
    pass(m, MIB);
    assert_int_equal(spin_of(m), 20000);
    assert_int_equal(mbx_set_spin(m, 0), 0); /* sleep at once stays so */
    pass(m, MIB);
    assert_int_equal(spin_of(m), 0);
    mbx_close(m);
    setenv("MBX_SPIN_NS", "20000", 1);
    assert_int_equal(mbx_open("chosen", MBX_SEND | MBX_RECV, NULL, &m), 0);
    unsetenv("MBX_SPIN_NS");
    pass(m, MIB);
    assert_int_equal(spin_of(m), 20000);
    mbx_close(m);
    mbx_unlink("chosen");
}

/* The policy alone, on a record of its own: four misses in a row make
 * the spin short (1 us while no spin has hit yet; four times the hits'
 * average after hits), every eighth short wait spins whole, a hit ends
 * it; spinning forever and not spinning are never changed. */
static void missing_spins_get_short(void **state)
{
    (void)state;
    uint32_t rec = 0;
    struct wait_cfg cfg = {20000, 0, NULL, &rec};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(wait_spin_budget(&cfg, 20000), 20000);
        wait_spin_record(&cfg, 0, 0);
    }
    for (int i = 1; i <= 16; i++)
        assert_int_equal(wait_spin_budget(&cfg, 20000), i % 8 ? 1000 : 20000);
    assert_int_equal(wait_spin_budget(&cfg, MBX_FOREVER), MBX_FOREVER);
    assert_int_equal(wait_spin_budget(&cfg, 0), 0);
    assert_int_equal(wait_spin_budget(&cfg, 500), 500); /* never longer */
    wait_spin_record(&cfg, 1, 3000);                    /* a hit: whole spins again */
    assert_int_equal(wait_spin_budget(&cfg, 20000), 20000);
    for (int i = 0; i < 20; i++)
        wait_spin_record(&cfg, 1, 3000);
    for (int i = 0; i < 4; i++)
        wait_spin_record(&cfg, 0, 0);
    int64_t b = wait_spin_budget(&cfg, 20000);
    assert_true(b >= 4 * 2800 && b <= 4 * 3000); /* four times the hits' ~3 us */
    /* No record: the budget as it is. */
    struct wait_cfg none = {20000, 0, NULL, NULL};
    for (int i = 0; i < 8; i++)
        wait_spin_record(&none, 0, 0);
    assert_int_equal(wait_spin_budget(&none, 20000), 20000);
}

/* A handle's waits keep their record in the handle, and a wait that slept
 * is counted as a miss. */
static void handle_records_its_spins(void **state)
{
    (void)state;
    mbx *m = test_box("record", 2, 64, 0);
    struct shm_box *b = shm_box_of(m);
    assert_ptr_equal(handle_ctx(b).wait.spins, &b->spins);
    char buf[8];
    /* 200 ms: far past the 20 us spin, so the spin ends by missing. */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 200000000), -ETIMEDOUT);
    assert_true((b->spins & 0xff) >= 1); /* more if the sleep was cut short */
    mbx_close(m);
    mbx_unlink("record");
}

static atomic_int crowd_stop;

static void *busy(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&crowd_stop, memory_order_relaxed))
        ;
    return NULL;
}

/* With more busy threads than CPUs, the machine says it is crowded, and a
 * wait that could spin for 10 s stops spinning (and counts a miss) instead
 * of taking a CPU the others want until its 300 ms are up; before, such a
 * spin ran to its deadline and recorded nothing. */
static void crowded_machine_stops_spins(void **state)
{
    (void)state;
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        skip(); /* no /proc: cpus_crowded() cannot tell, and says 0 */
    close(fd);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(2 * cpus + 1);
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    assert_non_null(t);
    atomic_store(&crowd_stop, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&t[i], NULL, busy, NULL), 0);
    int crowded = 0;
    for (int i = 0; i < 100 && !crowded; i++)
        crowded = cpus_crowded();
    mbx *m = test_box("crowd", 2, 64, 0);
    struct shm_box *b = shm_box_of(m);
    assert_int_equal(mbx_set_spin(m, 10000000000ll), 0);
    char buf[8];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 300000000), -ETIMEDOUT);
    unsigned misses = b->spins & 0xff;
    atomic_store(&crowd_stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
    mbx_close(m);
    mbx_unlink("crowd");
    assert_true(crowded);
    assert_true(misses >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_spin_follows_the_last_message),
        cmocka_unit_test(chosen_spin_is_kept),
        cmocka_unit_test(missing_spins_get_short),
        cmocka_unit_test(handle_records_its_spins),
        cmocka_unit_test(crowded_machine_stops_spins),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
