/*
 * tls.c — the certificate chain and private key of direct HTTPS (see tls.h): loading two PEM
 * files with GnuTLS, checking that the key belongs to the leaf certificate, and swapping the
 * current pair under a lock on reload. A pair is reference-counted: the store holds one
 * reference while the pair is current, each handshake that chose it holds one until its
 * connection closes. The lock is held only to swap the pointer or move a count, never while
 * reading files or parsing keys. Costs: a reload parses two small files; a handshake pays one
 * mutex round trip on top of GnuTLS's own work.
 */
#include "http/tls.h"

#include <errno.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* Larger PEM files than this are refused (a chain of a few certificates is a few KiB). */
#define TLS_FILE_MAX ((size_t)1 << 20)
#define TLS_MAX_CHAIN 16

struct tls_store {
    pthread_mutex_t lock;
    struct tls_pair *current;
    char *cert_file;
    char *key_file;
};

/* Reads a whole file (at most TLS_FILE_MAX bytes) into *out (malloc'd, NUL-terminated).
 * Returns 0, or -1 with the reason in err. */
static int read_file(const char *path, gnutls_datum_t *out, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = malloc(TLS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
    int failed = !buf || ferror(f);
    int e = errno;
    fclose(f);
    if (failed) {
        snprintf(err, err_len, "cannot read %s: %s", path, buf ? strerror(e) : "out of memory");
        free(buf);
        return -1;
    }
    if (n > TLS_FILE_MAX) {
        snprintf(err, err_len, "%s is larger than %zu bytes", path, TLS_FILE_MAX);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned)n;
    return 0;
}

static void wipe_free(gnutls_datum_t *d) {
    if (d->data) {
        explicit_bzero(d->data, d->size);
        free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

static void pair_free(struct tls_pair *p) {
    if (!p)
        return;
    for (unsigned i = 0; i < p->n_certs; i++)
        gnutls_pcert_deinit(&p->certs[i]);
    free(p->certs);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

static void hex(const unsigned char *b, size_t n, char *out, size_t out_len) {
    size_t at = 0;
    for (size_t i = 0; i < n && at + 3 <= out_len; i++)
        at += (size_t)snprintf(out + at, out_len - at, "%02x", b[i]);
    if (at < out_len)
        out[at] = '\0';
}

/* The leaf's key id equals the private key's: the key belongs to the certificate. */
static int key_matches(gnutls_x509_crt_t leaf, gnutls_privkey_t key) {
    unsigned char a[64], b[64];
    size_t a_len = sizeof a, b_len = sizeof b;
    gnutls_pubkey_t pub = NULL;
    int ok = gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 &&
             gnutls_pubkey_get_key_id(pub, 0, a, &a_len) == 0 &&
             gnutls_x509_crt_get_key_id(leaf, 0, b, &b_len) == 0 && a_len == b_len &&
             memcmp(a, b, a_len) == 0;
    if (pub)
        gnutls_pubkey_deinit(pub);
    return ok;
}

/* Parses the chain of cert (PEM) into p->certs and p->serial. */
static int load_chain(struct tls_pair *p, const char *path, const gnutls_datum_t *cert,
                      gnutls_privkey_t key, const char *key_path, char *err, size_t err_len) {
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    int rc = gnutls_x509_crt_list_import2(&crts, &n, cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n == 0) {
        snprintf(err, err_len, "%s holds no valid PEM certificate (%s)", path,
                 rc < 0 ? gnutls_strerror(rc) : "empty");
        return -1;
    }
    int ret = -1;
    if (n > TLS_MAX_CHAIN) {
        snprintf(err, err_len, "%s holds more than %d certificates", path, TLS_MAX_CHAIN);
        goto done;
    }
    if (!key_matches(crts[0], key)) {
        snprintf(err, err_len, "the key in %s does not belong to the certificate in %s", key_path,
                 path);
        goto done;
    }
    p->certs = calloc(n, sizeof *p->certs);
    if (!p->certs) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    unsigned got = n;
    rc = gnutls_pcert_import_x509_list(p->certs, crts, &got, 0);
    if (rc < 0) {
        snprintf(err, err_len, "%s: %s", path, gnutls_strerror(rc));
        goto done;
    }
    p->n_certs = got;
    unsigned char serial[40];
    size_t serial_len = sizeof serial;
    if (gnutls_x509_crt_get_serial(crts[0], serial, &serial_len) == 0)
        hex(serial, serial_len, p->serial, sizeof p->serial);
    time_t expires = gnutls_x509_crt_get_expiration_time(crts[0]);
    if (expires != (time_t)-1 && expires < time(NULL))
        log_warn("http", "op=tls_load cert=%s serial=%s warning=\"the certificate has expired\"",
                 log_q(path), p->serial);
    ret = 0;
done:
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    return ret;
}

/* Loads a new pair from the two files; NULL with err on failure. */
static struct tls_pair *pair_load(const char *cert_file, const char *key_file, char *err,
                                  size_t err_len) {
    gnutls_datum_t cert = {NULL, 0}, keyd = {NULL, 0};
    struct tls_pair *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (read_file(cert_file, &cert, err, err_len) != 0 ||
        read_file(key_file, &keyd, err, err_len) != 0)
        goto fail;
    int rc = gnutls_privkey_init(&p->key);
    if (rc == 0)
        rc = gnutls_privkey_import_x509_raw(p->key, &keyd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        snprintf(err, err_len, "%s holds no valid unencrypted PEM private key (%s)", key_file,
                 gnutls_strerror(rc));
        goto fail;
    }
    if (load_chain(p, cert_file, &cert, p->key, key_file, err, err_len) != 0)
        goto fail;
    p->refs = 1;
    wipe_free(&keyd);
    wipe_free(&cert);
    return p;
fail:
    wipe_free(&keyd);
    wipe_free(&cert);
    pair_free(p);
    return NULL;
}

struct tls_store *tls_store_new(const char *cert_file, const char *key_file, char *err,
                                size_t err_len) {
    struct tls_store *ts = calloc(1, sizeof *ts);
    if (!ts) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    ts->cert_file = strdup(cert_file);
    ts->key_file = strdup(key_file);
    if (!ts->cert_file || !ts->key_file) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    ts->current = pair_load(cert_file, key_file, err, err_len);
    if (!ts->current)
        goto fail;
    pthread_mutex_init(&ts->lock, NULL);
    return ts;
fail:
    free(ts->cert_file);
    free(ts->key_file);
    free(ts);
    return NULL;
}

void tls_store_free(struct tls_store *ts) {
    if (!ts)
        return;
    pair_free(ts->current);
    pthread_mutex_destroy(&ts->lock);
    free(ts->cert_file);
    free(ts->key_file);
    free(ts);
}

int tls_store_reload(struct tls_store *ts, char *serial, char *err, size_t err_len) {
    struct tls_pair *p = pair_load(ts->cert_file, ts->key_file, err, err_len);
    if (!p)
        return -1;
    snprintf(serial, 80, "%s", p->serial);
    pthread_mutex_lock(&ts->lock);
    struct tls_pair *old = ts->current;
    ts->current = p;
    int last = --old->refs == 0;
    pthread_mutex_unlock(&ts->lock);
    if (last)
        pair_free(old);
    return 0;
}

struct tls_pair *tls_store_acquire(struct tls_store *ts) {
    pthread_mutex_lock(&ts->lock);
    struct tls_pair *p = ts->current;
    p->refs++;
    pthread_mutex_unlock(&ts->lock);
    return p;
}

void tls_store_release(struct tls_store *ts, struct tls_pair *pair) {
    if (!pair)
        return;
    pthread_mutex_lock(&ts->lock);
    int last = --pair->refs == 0;
    pthread_mutex_unlock(&ts->lock);
    if (last)
        pair_free(pair);
}

void tls_store_serial(struct tls_store *ts, char *buf) {
    pthread_mutex_lock(&ts->lock);
    snprintf(buf, 80, "%s", ts->current->serial);
    pthread_mutex_unlock(&ts->lock);
}
