/* store.c — opens a store backend by URL (see store.h). */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

extern const struct store_ops sqlite_store_ops;
extern const struct store_ops postgres_store_ops;
/* postgres.c: opens the store at a postgresql:// URL; err_msg says why not (the connection
 * problem, the password left out). */
enum cd_err postgres_open(const char *url, struct store **out, char *err_msg, size_t err_len);

static bool is_postgres(const char *url) {
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

const struct store_ops *store_backend(const char *url, const char **location, char *err_msg,
                                      size_t err_len) {
    (void)err_msg;
    (void)err_len;
    if (is_postgres(url)) {
        *location = url;
        return &postgres_store_ops;
    }
    *location = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    return &sqlite_store_ops;
}

enum cd_err store_open(const char *url, struct store **out, char *err_msg, size_t err_len) {
    if (is_postgres(url))
        return postgres_open(url, out, err_msg, err_len);
    const char *path = NULL;
    const struct store_ops *ops = store_backend(url, &path, err_msg, err_len);
    if (!ops)
        return CD_E_INVALID;
    enum cd_err err = ops->open(path, out);
    if (err != CD_OK)
        snprintf(err_msg, err_len, "cannot open SQLite store %s", path);
    return err;
}

void store_close(struct store *s) {
    if (s)
        STORE_OPS(s)->close(s);
}
