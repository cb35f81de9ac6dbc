/* Connecting to NATS for the bridge (conn.h). */
#include "nats/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int nconn_errno(natsStatus s)
{
    switch (s) {
    case NATS_OK:
        return 0;
    case NATS_NO_MEMORY:
        return -ENOMEM;
    case NATS_TIMEOUT:
        return -ETIMEDOUT;
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
        return -ECONNREFUSED;
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
        return -EACCES;
    case NATS_NO_RESPONDERS:
        return -ENOENT;
    case NATS_MAX_PAYLOAD:
        return -EMSGSIZE;
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
        return -ENOTCONN;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_ADDRESS_MISSING:
        return -EINVAL;
    case NATS_SSL_ERROR:
        return -EPROTO;
    case NATS_ERR:
    default:
        return -EIO;
    }
}

/* -ENOENT when a file the options name cannot be read, else 0. */
static int readable(const char *path)
{
    return !path || access(path, R_OK) == 0 ? 0 : -ENOENT;
}

/* Splits "URL[,URL...]" into servers (at most max). Returns the count or
 * -EINVAL. */
static int split_servers(char *list, const char **servers, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max || (strncmp(t, "nats://", 7) != 0 && strncmp(t, "tls://", 6) != 0))
            return -EINVAL;
        servers[n++] = t;
    }
    return n ? n : -EINVAL;
}

static void quiet_errors(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
    /* Slow consumers and the like are counted by the bridge itself. */
    (void)nc, (void)sub, (void)err, (void)arg;
}

int nconn_open(const mbx_bridge_options *o, int asap, natsConnection **nc)
{
    if (!o->servers || strlen(o->servers) > 4096)
        return -EINVAL;
    int r = readable(o->creds_file);
    if (!r)
        r = readable(o->nkey_seed_file);
    if (!r)
        r = readable(o->tls_ca);
    if (!r)
        r = readable(o->tls_cert);
    if (!r)
        r = readable(o->tls_key);
    if (r)
        return r;
    if ((o->nkey != NULL) != (o->nkey_seed_file != NULL) ||
        (o->tls_cert != NULL) != (o->tls_key != NULL) || (o->user == NULL && o->password))
        return -EINVAL;
    char *list = strdup(o->servers);
    if (!list)
        return -ENOMEM;
    const char *servers[16];
    int n = split_servers(list, servers, 16);
    natsOptions *opts = NULL;
    natsStatus s = n > 0 ? natsOptions_Create(&opts) : NATS_INVALID_ARG;
    if (s == NATS_OK)
        s = natsOptions_SetServers(opts, servers, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, "mbx bridge");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 100);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(opts, 64 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(opts, quiet_errors, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(opts, asap != 0);
    if (s == NATS_OK && o->user)
        s = natsOptions_SetUserInfo(opts, o->user, o->password ? o->password : "");
    if (s == NATS_OK && o->token)
        s = natsOptions_SetToken(opts, o->token);
    if (s == NATS_OK && o->creds_file)
        s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds_file, NULL);
    if (s == NATS_OK && o->nkey)
        s = natsOptions_SetNKeyFromSeed(opts, o->nkey, o->nkey_seed_file);
    if (s == NATS_OK && (o->tls_ca || o->tls_cert))
        s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && o->tls_ca)
        s = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca);
    if (s == NATS_OK && o->tls_cert)
        s = natsOptions_LoadCertificatesChain(opts, o->tls_cert, o->tls_key);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    free(list);
    if (n < 0)
        return n;
    return nconn_errno(s);
}

static int hex16(const char *path, char *out, size_t cap)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    size_t k = 0;
    for (ssize_t i = 0; i < n && k < 16; i++)
        if ((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f'))
            out[k++] = buf[i];
    if (k < 16 || cap < 17)
        return -EINVAL;
    out[k] = 0;
    return 0;
}

int nconn_host_id(char *out, size_t cap)
{
    if (hex16("/etc/machine-id", out, cap) == 0)
        return 0;
    return hex16("/proc/sys/kernel/random/boot_id", out, cap);
}
