/* Whose is a loopback TCP port: the check that a server the harness started
 * (nats-server) is the one listening on the port it was told to use. The
 * port is chosen free, closed, then given to the server on its command line
 * (readable by every user in /proc): another local user can bind it first,
 * the server then exits, and a connect to the port reaches that user's
 * listener. Used by the benchmark and by tests/nats. */
#ifndef BENCH_PORT_OWNER_H
#define BENCH_PORT_OWNER_H

#include <sys/types.h>

/* What port_owner_check found. */
enum port_owner {
    PORT_FOREIGN = -1, /* a listener on the port is not pid's */
    PORT_FREE = 0,     /* nobody listens on the port (yet) */
    PORT_OWNED = 1,    /* pid listens on the port, and nobody else does */
};

/* Looks up every TCP socket listening on port (any address, IPv4 and IPv6,
 * in /proc/net/tcp and tcp6) and whether each is an open file of process
 * pid (/proc/PID/fd: "socket:[INODE]"). The caller must be allowed to read
 * pid's fd table (its own child). PORT_FOREIGN too when the tables cannot
 * be read: the answer must not be "owned" without proof. */
enum port_owner port_owner_check(pid_t pid, int port);

#endif
