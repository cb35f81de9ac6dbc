/* A nats-server of the tests' own counts as started only when it is the
 * process listening on its port (port_owner_check): a port another process
 * bound first, before the first start or between a stop and a restart on
 * the same port, is refused, where a connect to the port would have
 * succeeded and handed the test's clients to that process. The other
 * process here is a child of the test that binds the port, as another
 * local user would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "port_owner.h"

/* A child process listening on port (on addr): what a local user who
 * bound the port first would hold. Returns its pid once it listens. */
static pid_t squat(int port, in_addr_t addr)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Dies with the test: a failed assertion leaves before unsquat. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = addr};
        char ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 8) == 0;
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    close(p[0]);
    assert_true(ok);
    return pid;
}

/* Ends a squat child. */
static void unsquat(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* The check itself: owned by the listener's process only, on the loopback
 * and on the wildcard address; free when nobody listens. */
static void check_tells_whose(void **state)
{
    (void)state;
    int port = nh_free_port();
    assert_true(port > 0);
    assert_int_equal(port_owner_check(getpid(), port), PORT_FREE);
    pid_t pid = squat(port, htonl(INADDR_LOOPBACK));
    assert_int_equal(port_owner_check(pid, port), PORT_OWNED);
    assert_int_equal(port_owner_check(getpid(), port), PORT_FOREIGN);
    unsquat(pid);
    assert_int_equal(port_owner_check(getpid(), port), PORT_FREE);
    pid = squat(port, htonl(INADDR_ANY));
    assert_int_equal(port_owner_check(pid, port), PORT_OWNED);
    assert_int_equal(port_owner_check(getpid(), port), PORT_FOREIGN);
    unsquat(pid);
}

/* A port someone else listens on: the start fails, the server is gone. */
static void taken_port_is_refused(void **state)
{
    (void)state;
    struct nh_server s;
    nh_server_init(&s, "taken", 0);
    pid_t pid = squat(s.port, htonl(INADDR_LOOPBACK));
    assert_int_equal(nh_server_start(&s), -1);
    assert_int_equal(s.pid, 0);
    unsquat(pid);
    /* The same on the wildcard address, which takes 127.0.0.1's
     * connections as well. */
    pid = squat(s.port, htonl(INADDR_ANY));
    assert_int_equal(nh_server_start(&s), -1);
    unsquat(pid);
}

/* A normal start passes; a restart on the same port (what the cluster
 * test does to a node) is refused once another process took the port
 * while the server was down, and passes again when the port is free. */
static void restart_on_taken_port_is_refused(void **state)
{
    (void)state;
    struct nh_server s;
    nh_server_init(&s, "again", 0);
    assert_int_equal(nh_server_start(&s), 0);
    assert_int_equal(port_owner_check(s.pid, s.port), PORT_OWNED);
    nh_server_stop(&s, SIGKILL);
    pid_t pid = squat(s.port, htonl(INADDR_LOOPBACK));
    assert_int_equal(nh_server_start(&s), -1);
    unsquat(pid);
    assert_int_equal(nh_server_start(&s), 0);
    nh_server_stop(&s, SIGTERM);
}

/* A taken cluster (route) port fails the start too: other nodes' routes
 * would reach that process. */
static void taken_cluster_port_is_refused(void **state)
{
    (void)state;
    struct nh_server s;
    nh_server_init(&s, "route", 0);
    s.cport = nh_free_port();
    snprintf(s.routes, sizeof(s.routes), "nats://127.0.0.1:%d", s.cport);
    pid_t pid = squat(s.cport, htonl(INADDR_LOOPBACK));
    assert_int_equal(nh_server_start(&s), -1);
    unsquat(pid);
}

int main(void)
{
    if (!nh_have_server()) {
        printf("SKIP: nats-server is not installed (apt-get install nats-server)\n");
        return 77;
    }
    atexit(nh_cleanup);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_tells_whose),
        cmocka_unit_test(taken_port_is_refused),
        cmocka_unit_test(restart_on_taken_port_is_refused),
        cmocka_unit_test(taken_cluster_port_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
