/* sqlite_leases.c — workspace leases on SQLite (store_lease_ops): one server process has the
 * file to itself (the data-directory lock), so it owns every workspace. Nothing is stored. */
#include "store/sqlite_int.h"

static enum cd_err acquire(struct store *s, int64_t ws, const char *node, const char *instance,
                           const char *address, int64_t ttl_ms, int64_t *epoch,
                           struct store_lease *out) {
    (void)s, (void)ws, (void)node, (void)instance, (void)address, (void)ttl_ms, (void)out;
    *epoch = 1;
    return CD_OK;
}

static enum cd_err renew(struct store *s, int64_t ws, const char *node, int64_t epoch,
                         int64_t ttl_ms) {
    (void)s, (void)ws, (void)node, (void)epoch, (void)ttl_ms;
    return CD_OK;
}

static enum cd_err release(struct store *s, int64_t ws, const char *node, int64_t epoch) {
    (void)s, (void)ws, (void)node, (void)epoch;
    return CD_OK;
}

static enum cd_err owner(struct store *s, int64_t ws, struct store_lease *out) {
    (void)s, (void)ws, (void)out;
    return CD_E_NOT_FOUND;
}

static enum cd_err check(struct store_txn *t, int64_t ws, const char *node, int64_t epoch) {
    (void)t, (void)ws, (void)node, (void)epoch;
    return CD_OK;
}

static enum cd_err check_with_next(struct store_txn *t, int64_t ws, const char *node,
                                   int64_t epoch) {
    return check(t, ws, node, epoch);
}

/* One process per file: its node id is always its own. */
static enum cd_err node_claim(struct store *s, const char *node, const char *instance,
                              const char *previous, const char *address, int64_t ttl_ms,
                              struct store_lease *out) {
    (void)s, (void)node, (void)instance, (void)previous, (void)address, (void)ttl_ms, (void)out;
    return CD_OK;
}

static enum cd_err node_renew(struct store *s, const char *node, const char *instance,
                              int64_t ttl_ms) {
    (void)s, (void)node, (void)instance, (void)ttl_ms;
    return CD_OK;
}

static enum cd_err node_release(struct store *s, const char *node, const char *instance) {
    (void)s, (void)node, (void)instance;
    return CD_OK;
}

const struct store_lease_ops sqlite_lease_ops = {
    .acquire = acquire,
    .renew = renew,
    .release = release,
    .owner = owner,
    .check = check,
    .check_with_next = check_with_next,
    .node_claim = node_claim,
    .node_renew = node_renew,
    .node_release = node_release,
};
