/* store.c — opens a store backend by URL (see store.h). */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

extern const struct store_ops sqlite_store_ops;

const struct store_ops *store_backend(const char *url, const char **location, char *err_msg,
                                      size_t err_len) {
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        snprintf(err_msg, err_len, "the PostgreSQL store is not available in this build");
        return NULL;
    }
    *location = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    return &sqlite_store_ops;
}

enum cd_err store_open(const char *url, struct store **out, char *err_msg, size_t err_len) {
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
