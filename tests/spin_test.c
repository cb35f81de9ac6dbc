/* How long a blocked call spins before it sleeps (shm/transport.c's
 * handle_ctx): the default lengthens after a large message, so a round trip
 * of 1 MiB messages does not sleep while its peer still copies; a spin the
 * program chose (mbx_set_spin, MBX_SPIN_NS) is the budget it keeps; a
 * handle whose spins keep missing spins briefly (shm/wait.c). */
#include "test_box.h"

#include "shm/shm.h"
#include "shm/wait.h"

#include <errno.h>
#include <stdlib.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_spin_follows_the_last_message),
        cmocka_unit_test(chosen_spin_is_kept),
        cmocka_unit_test(missing_spins_get_short),
        cmocka_unit_test(handle_records_its_spins),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
