/* The bridge's own files beside the mailboxes (src/nats/own_file.c): a
 * JetStream export journal or import state that another user planted
 * under the predictable name, or one others may open, is refused and left
 * as it was; adopting it let its owner read every exported message, put
 * messages of any priority into the stream, lose imports, and crash the
 * bridge by truncating it (found by an attacker review). */
#include "test_util.h"

#include "nats/idkey.h"
#include "nats/journal.h"
#include "nats/jsstate.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER_UID 65534 /* nobody */

static void path_of(char *buf, size_t cap, const char *stream, const char *what)
{
    snprintf(buf, cap, "%s/.mbx-bridge.%s.%s", test_dir, stream, what);
}

/* Plants a file of `len` 0xee bytes at path, mode `mode`, owned by uid. */
static void plant(const char *path, unsigned mode, uid_t uid, size_t len)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    unsigned char junk[256];
    memset(junk, 0xee, sizeof(junk));
    for (size_t done = 0; done < len; done += sizeof(junk))
        assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    assert_int_equal(fchmod(fd, mode), 0);
    if (uid != geteuid())
        assert_int_equal(fchown(fd, uid, (gid_t)-1), 0);
    close(fd);
}

static void assert_untouched(const char *path, unsigned mode, uid_t uid, size_t len)
{
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, mode);
    assert_int_equal(sb.st_uid, uid);
    assert_int_equal((size_t)sb.st_size, len);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(read(fd, &c, 1), 1);
    assert_int_equal(c, 0xee);
    close(fd);
}

static void fresh_files_are_ours_alone(void **state)
{
    (void)state;
    struct journal_rec *j = NULL;
    assert_int_equal(journal_open("MBX_fresh_1", 64, &j), 0);
    assert_int_equal(journal_pending(j), 0);
    journal_close(j);
    struct jsstate *st = NULL;
    assert_int_equal(jsstate_open("MBX_fresh_1", 0, &st), 0);
    jsstate_close(st);
    char path[400];
    struct stat sb;
    path_of(path, sizeof(path), "MBX_fresh_1", "export");
    assert_int_equal(lstat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    path_of(path, sizeof(path), "MBX_fresh_1", "state");
    assert_int_equal(lstat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
}

/* Ours, but others may write it: refused too (someone could have opened
 * it while it was so). */
static void a_file_others_may_open_is_refused(void **state)
{
    (void)state;
    char path[400];
    path_of(path, sizeof(path), "MBX_open_2", "export");
    plant(path, 0666, geteuid(), 4096);
    struct journal_rec *j = NULL;
    assert_int_equal(journal_open("MBX_open_2", 64, &j), -EACCES);
    assert_untouched(path, 0666, geteuid(), 4096);
    path_of(path, sizeof(path), "MBX_open_2", "state");
    plant(path, 0604, geteuid(), 256);
    struct jsstate *st = NULL;
    assert_int_equal(jsstate_open("MBX_open_2", 0, &st), -EACCES);
    assert_untouched(path, 0604, geteuid(), 256);
}

/* Writes a journal as a bridge before the epoch was kept would have left
 * it: the header and `cap` bytes of room (no room after them), with
 * message 7 of `len` bytes of 'm' pending. */
static void plant_old_journal(const char *stream, uint64_t cap, uint32_t len)
{
    char path[400];
    path_of(path, sizeof(path), stream, "export");
    size_t size = sizeof(struct journal_rec) + (size_t)cap;
    struct journal_rec *j = calloc(1, size);
    assert_non_null(j);
    j->magic = 0x314c4e524a424dull; /* "MBJRNL1" */
    j->cap = cap;
    j->state = 1;
    j->info.seq = 7;
    j->info.size = len;
    memset(j->payload, 'm', len);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, j, size), (ssize_t)size);
    close(fd);
    free(j);
}

/* A journal an older bridge left (no epoch after the payload's room)
 * keeps its pending message whole, also one that filled its room: the
 * file grows by the epoch's room, and the epoch reads as unknown. */
static void an_older_journal_keeps_its_message(void **state)
{
    (void)state;
    static const struct {
        const char *stream;
        uint64_t cap, now;
        uint32_t len;
    } cases[] = {
        {"MBX_old_6", 64, 64, 10},   /* the same room asked for */
        {"MBX_old_7", 128, 64, 128}, /* less room asked; the message fills it */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        plant_old_journal(cases[k].stream, cases[k].cap, cases[k].len);
        struct journal_rec *j = NULL;
        assert_int_equal(journal_open(cases[k].stream, cases[k].now, &j), 0);
        assert_int_equal(journal_pending(j), 1);
        assert_int_equal(j->info.seq, 7);
        assert_int_equal(j->info.size, cases[k].len);
        assert_true(j->cap >= cases[k].len);
        for (uint32_t i = 0; i < cases[k].len; i++)
            assert_int_equal(j->payload[i], 'm');
        char epoch[JOURNAL_EPOCH_MAX];
        assert_int_equal(journal_epoch(j, epoch, sizeof(epoch)), -ENOENT);
        journal_set_epoch(j, "5x6");
        journal_close(j);
        /* Opened again: the message and the epoch are still there. */
        assert_int_equal(journal_open(cases[k].stream, cases[k].now, &j), 0);
        assert_int_equal(journal_pending(j), 1);
        assert_int_equal(j->info.size, cases[k].len);
        assert_int_equal(j->payload[cases[k].len - 1], 'm');
        assert_int_equal(journal_epoch(j, epoch, sizeof(epoch)), 0);
        assert_string_equal(epoch, "5x6");
        journal_close(j);
    }
}

/* The epoch is kept after the payload's room: a journal opened for
 * larger messages than before (a mailbox made again with a larger
 * max_msg_size, the very case the epoch is for) keeps it (found by a
 * review: it read as unknown, and the message went out under the new
 * life's id). */
static void a_grown_journal_keeps_its_epoch(void **state)
{
    (void)state;
    struct journal_rec *j = NULL;
    assert_int_equal(journal_open("MBX_grow_8", 1000, &j), 0);
    journal_set_epoch(j, "abcx123");
    memset(j->payload, 'g', 10);
    j->info.seq = 3;
    j->info.size = 10;
    j->state = 1;
    journal_close(j);
    assert_int_equal(journal_open("MBX_grow_8", 2000, &j), 0);
    assert_true(j->cap >= 2000);
    assert_int_equal(journal_pending(j), 1);
    assert_int_equal(j->payload[9], 'g');
    char epoch[JOURNAL_EPOCH_MAX];
    assert_int_equal(journal_epoch(j, epoch, sizeof(epoch)), 0);
    assert_string_equal(epoch, "abcx123");
    journal_close(j);
    /* Opened for smaller ones again: the room stays, and so does it. */
    assert_int_equal(journal_open("MBX_grow_8", 500, &j), 0);
    assert_int_equal(journal_epoch(j, epoch, sizeof(epoch)), 0);
    assert_string_equal(epoch, "abcx123");
    journal_close(j);
}

/* Two bridges exporting one mailbox with JetStream wrote one journal and
 * lost and duplicated messages: the second is refused while the first has
 * it open, and may have it once the first let go. */
static void a_journal_has_one_user_at_a_time(void **state)
{
    (void)state;
    struct journal_rec *j = NULL, *k = NULL;
    assert_int_equal(journal_open("MBX_locked_4", 64, &j), 0);
    assert_int_equal(journal_open("MBX_locked_4", 64, &k), -EBUSY);
    journal_close(j);
    assert_int_equal(journal_open("MBX_locked_4", 64, &k), 0);
    journal_close(k);
}

/* One of our own files linked under the journal's name (by someone else,
 * where the kernel lets users link others' files): refused, left as is. */
static void a_linked_file_is_refused(void **state)
{
    (void)state;
    char path[400], other[400];
    snprintf(other, sizeof(other), "%s/precious", test_dir);
    plant(other, 0600, geteuid(), 4096);
    path_of(path, sizeof(path), "MBX_linked_5", "export");
    assert_int_equal(link(other, path), 0);
    struct journal_rec *j = NULL;
    assert_int_equal(journal_open("MBX_linked_5", 64, &j), -EACCES);
    assert_untouched(other, 0600, geteuid(), 4096);
}

/* The key of the message ids: one per user (a single name let the first
 * user's file refuse every other user); ours readable by others is
 * refused (they would know the ids of our next messages) and left as it
 * was, and a failure is not remembered: fixed, the next call has a key. */
static void the_key_is_ours_alone(void **state)
{
    (void)state;
    char shared[400], path[400];
    snprintf(shared, sizeof(shared), "%s/.mbx-bridge.key", test_dir);
    snprintf(path, sizeof(path), "%s/.mbx-bridge.key.%lu", test_dir, (unsigned long)geteuid());
    plant(shared, 0644, geteuid(), 256); /* the old name: not looked at */
    plant(path, 0644, geteuid(), 256);   /* written in 256-byte pieces */
    assert_int_equal(truncate(path, IDKEY_LEN), 0);
    const uint8_t *key = NULL;
    assert_int_equal(idkey_get(&key), -EACCES);
    assert_untouched(path, 0644, geteuid(), IDKEY_LEN);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(idkey_get(&key), 0);
    assert_non_null(key);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal((size_t)sb.st_size, IDKEY_LEN);
    assert_untouched(shared, 0644, geteuid(), 256);
}

static void another_users_file_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("not root: cannot give a file to another user here");
    char path[400];
    path_of(path, sizeof(path), "MBX_planted_3", "export");
    plant(path, 0600, OTHER_UID, 4096);
    struct journal_rec *j = NULL;
    assert_int_equal(journal_open("MBX_planted_3", 64, &j), -EACCES);
    assert_untouched(path, 0600, OTHER_UID, 4096);
    path_of(path, sizeof(path), "MBX_planted_3", "state");
    plant(path, 0600, OTHER_UID, 256);
    struct jsstate *st = NULL;
    assert_int_equal(jsstate_open("MBX_planted_3", 0, &st), -EACCES);
    assert_untouched(path, 0600, OTHER_UID, 256);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fresh_files_are_ours_alone),
        cmocka_unit_test(a_file_others_may_open_is_refused),
        cmocka_unit_test(a_journal_has_one_user_at_a_time),
        cmocka_unit_test(an_older_journal_keeps_its_message),
        cmocka_unit_test(a_grown_journal_keeps_its_epoch),
        cmocka_unit_test(a_linked_file_is_refused),
        cmocka_unit_test(the_key_is_ours_alone),
    };
    const struct CMUnitTest as_root[] = {
        cmocka_unit_test(another_users_file_is_refused),
    };
    if (test_root_only(argc, argv))
        return test_result(cmocka_run_group_tests(as_root, test_dir_setup, test_dir_teardown));
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
