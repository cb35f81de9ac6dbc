/* Throwaway certificates for the TLS tests, made at test time with the
 * openssl command (Debian: openssl) in the test's directory:
 *   ca.pem, ca.key          a CA
 *   srv.pem, srv.key        the gateway's, from ca: 127.0.0.1, ::1, localhost
 *   cli.pem, cli.key        a client's, from ca
 *   cli3.pem, cli3.key      another client's, from ca
 *   ca2.pem                 another CA
 *   cli2.pem, cli2.key      a client's, from ca2 (the wrong CA)
 *   far.pem, far.key        a gateway's from ca, for far.example only
 * EC P-256 keys, valid two days. */
#ifndef MBX_TEST_TLS_CERTS_H
#define MBX_TEST_TLS_CERTS_H

#include <stdio.h>
#include <stdlib.h>

/* Makes them in dir. Returns 0, or -1 (no openssl command: the caller
 * skips). */
static inline int tls_make_certs(const char *dir)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        return -1;
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "set -e; cd '%s'; umask 077\n"
             "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1 "
             "2>/dev/null; }\n"
             "ca() { key $1.key; openssl req -x509 -new -key $1.key -out $1.pem -days 2 -subj "
             "/CN=$1 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign "
             "2>/dev/null; }\n"
             /* leaf NAME CA SERIAL SAN USAGE */
             "leaf() { key $1.key; openssl req -new -key $1.key -subj /CN=$1 -out $1.csr "
             "2>/dev/null; printf 'subjectAltName=%%s\\nextendedKeyUsage=%%s\\n' \"$4\" \"$5\" > "
             "$1.ext; openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -set_serial $3 "
             "-days 2 -extfile $1.ext -out $1.pem 2>/dev/null; rm -f $1.csr $1.ext; }\n"
             "ca ca; ca ca2\n"
             "leaf srv ca 10 'IP:127.0.0.1,IP:::1,DNS:localhost' serverAuth\n"
             "leaf cli ca 11 'DNS:client' clientAuth\n"
             "leaf cli3 ca 14 'DNS:client3' clientAuth\n"
             "leaf cli2 ca2 12 'DNS:client' clientAuth\n"
             "leaf far ca 13 'DNS:far.example' serverAuth\n",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
