/*
 * crypto.h — secrets and signatures with OpenSSL's libcrypto: random bytes from the OS,
 * SHA-256 (how keys are stored), HMAC-SHA256 (Heap signatures), Base64, and a
 * constant-time comparison.
 */
#ifndef COHORTD_UTIL_CRYPTO_H
#define COHORTD_UTIL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills buf with n bytes from the OS random source. Returns 0, or -1 when none could be had. */
int crypto_random(void *buf, size_t n);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void crypto_hex(const void *bytes, size_t n, char *out);

/* A random key: 32 lower-case hex characters in UUID layout (8-4-4-4-12), NUL-terminated
 * into out (37 bytes). Version-4 UUID bits are set. Returns 0 or -1. */
int crypto_uuid4(char out[37]);

/* SHA-256 of data as 64 hex characters into out (65 bytes). */
void crypto_sha256_hex(const void *data, size_t len, char out[65]);

/* HMAC-SHA256 over the concatenation a || b; 32 bytes into mac. */
void crypto_hmac_sha256(const void *key, size_t key_len, const void *a, size_t a_len, const void *b,
                        size_t b_len, uint8_t mac[32]);

/* Standard Base64 with padding; out must hold 4 * ((n + 2) / 3) + 1 bytes. */
void crypto_base64(const void *data, size_t n, char *out);

/* Compares two byte strings in time that depends only on their lengths. */
bool crypto_equal(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
