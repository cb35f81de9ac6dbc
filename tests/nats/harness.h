/* What the NATS tests share: nats-server processes of their own on free
 * loopback ports (one, or a cluster with routes), `mbx bridge` processes
 * with an MBX_DIR each (a "host"), and scratch directories removed at the
 * end. Everything started is stopped by its pid. */
#ifndef MBX_TESTS_NATS_HARNESS_H
#define MBX_TESTS_NATS_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

struct nh_server {
    pid_t pid;
    int port, cport; /* client port; cluster port (0: not in a cluster) */
    char name[16];
    char store[256]; /* JetStream store directory ("": no JetStream) */
    char routes[512];
    char conf[256]; /* a configuration file ("": none) */
    char log[320];  /* where its output goes (kept until nh_cleanup) */
};

/* 1 when nats-server can be run (on PATH or in /usr/bin, /usr/sbin). */
int nh_have_server(void);

/* Exits 77 with a message when there is no nats-server or no mbx command
 * ($MBX). */
void nh_require(void);

/* A port nobody listens on now (127.0.0.1). */
int nh_free_port(void);

/* A new scratch directory under /dev/shm, removed by nh_cleanup. */
const char *nh_tmpdir(const char *tag);

/* Removes every directory nh_tmpdir made (at exit too). */
void nh_cleanup(void);

/* Fills a server: its ports (new free ones when 0), JetStream in a scratch
 * store when js. */
void nh_server_init(struct nh_server *s, const char *name, int js);

/* Starts (or starts again, on the same ports and store) s and waits until
 * it accepts connections. Returns 0 or -1. */
int nh_server_start(struct nh_server *s);

/* Prints the last lines of every server's log to stderr: called when a
 * test is about to fail, so CI's output says what the servers saw. */
void nh_dump_logs(int lines);

/* Sends sig to s and reaps it. */
void nh_server_stop(struct nh_server *s, int sig);

/* "nats://127.0.0.1:PORT" of s into out. */
void nh_url(const struct nh_server *s, char *out, size_t cap);

/* Starts `mbx bridge ARGS...` (NULL-terminated) with MBX_DIR=dir and waits
 * for its "bridging" line (up to 30 s). Returns its pid, or -1 (it failed:
 * what it said is on stderr). */
pid_t nh_bridge(const char *dir, const char *const *args);

/* Sends sig to a bridge and reaps it; returns its exit status (or 128+sig). */
int nh_bridge_stop(pid_t pid, int sig);

/* Kills (SIGKILL) and reaps every bridge nh_bridge started and nobody
 * stopped: after a failed test, so its bridges do not share the next
 * test's subjects. */
void nh_stop_bridges(void);

/* CLOCK_MONOTONIC in ns. */
int64_t nh_now(void);

#endif
