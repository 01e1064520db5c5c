/*
 * tls.h — the server's certificate chain and private key for direct HTTPS (folder-private).
 * A pair is loaded from two PEM files and checked before it is used; a reload loads the files
 * again and swaps the pair whole, or keeps the old one when the new files are bad. Every TLS
 * handshake takes a reference to the pair current at that moment and keeps it until its
 * connection closes, so open connections are never touched by a reload.
 */
#ifndef COHORTD_HTTP_TLS_H
#define COHORTD_HTTP_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stddef.h>

/* Protocol versions and ciphers offered: TLS 1.2 and 1.3 only (no SSL 3, TLS 1.0 or 1.1),
 * forward-secret key exchange and AEAD ciphers only, the server's order preferred. */
#define TLS_PRIORITIES                                                                             \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"               \
    "-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

/* One loaded certificate chain with its key; shared by the handshakes that chose it. */
struct tls_pair {
    gnutls_pcert_st *certs;
    unsigned n_certs;
    gnutls_privkey_t key;
    char serial[80]; /* hex serial number of the leaf certificate, for log lines */
    int refs;        /* guarded by the owning tls_store's lock */
};

struct tls_store;

/* Loads and checks cert_file and key_file. On failure returns NULL and writes why into err
 * (the message names the file: "cannot read FILE: …", "FILE holds no PEM certificate",
 * "the key in FILE does not belong to the certificate in FILE"…). The paths are copied. */
struct tls_store *tls_store_new(const char *cert_file, const char *key_file, char *err,
                                size_t err_len);
/* Frees the store and its current pair. Call only once no connection holds a pair (after the
 * HTTP daemon stopped). NULL-safe. */
void tls_store_free(struct tls_store *ts);

/* Loads the files again. 0: new handshakes get the new pair (its serial in *serial, 80 bytes);
 * -1: the old pair stays current and err says why. */
int tls_store_reload(struct tls_store *ts, char *serial, char *err, size_t err_len);

/* The current pair with one more reference (never NULL). */
struct tls_pair *tls_store_acquire(struct tls_store *ts);
/* Drops a reference taken by tls_store_acquire; the pair is freed with its last one once it
 * is no longer current. NULL-safe. */
void tls_store_release(struct tls_store *ts, struct tls_pair *pair);

/* The serial of the current pair, into buf (80 bytes). */
void tls_store_serial(struct tls_store *ts, char *buf);

#endif
