/* crypto.c — thin wrappers over libcrypto (see crypto.h). */
#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

int crypto_random(void *buf, size_t n) {
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

void crypto_hex(const void *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = bytes;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int crypto_uuid4(char out[37]) {
    uint8_t b[16];
    char hex[33];
    if (crypto_random(b, sizeof b) != 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    crypto_hex(b, sizeof b, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return 0;
}

void crypto_sha256_hex(const void *data, size_t len, char out[65]) {
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    crypto_hex(md, sizeof md, out);
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *a, size_t a_len, const void *b,
                        size_t b_len, uint8_t mac[32]) {
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t out_len = 0;
    if (!ctx || !EVP_MAC_init(ctx, key, key_len, params) || !EVP_MAC_update(ctx, a, a_len) ||
        !EVP_MAC_update(ctx, b, b_len) || !EVP_MAC_final(ctx, mac, &out_len, 32))
        memset(mac, 0, 32);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
}

void crypto_base64(const void *data, size_t n, char *out) {
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
}

bool crypto_equal(const void *a, size_t a_len, const void *b, size_t b_len) {
    if (a_len != b_len)
        return false;
    return CRYPTO_memcmp(a, b, a_len) == 0;
}
