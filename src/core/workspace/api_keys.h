/*
 * api_keys.h — REST API keys with permissions and rate limits. A key is shown once, at
 * creation; the store keeps its SHA-256. Its id, what lists show and revoke takes, is the first
 * API_KEY_ID_LEN hex digits of that hash, so it names the key without revealing it (and keys
 * made before ids existed have one too).
 *
 * Permissions are grants, comma-separated: a permission name ("users.track"), a group
 * ("users.*": every permission whose name begins with "users."), or "*" (every permission). A key
 * made without a list has "*"; so do the keys made before permissions existed (stored as NULL).
 * The names themselves are the API layer's (one per route); here they are only strings, checked
 * for form. The rate limit is N requests per second, minute, hour or day, counted in memory per
 * key (rate_limit.h).
 */
#ifndef COHORTD_CORE_WORKSPACE_API_KEYS_H
#define COHORTD_CORE_WORKSPACE_API_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workspace/admin.h"
#include "util/err.h"

struct app;
struct workspace;

#define API_KEY_ID_LEN 16
#define API_KEY_NAME_CAP 128    /* a name is at most 127 bytes */
#define API_KEY_GRANTS_CAP 2048 /* the grants of a key, comma-separated, at most 2047 bytes */
#define API_KEY_RATE_MAX 1000000000
#define API_KEY_RATE_TEXT_CAP 32

/* What a new key is given. */
struct api_key_spec {
    const char *name;      /* NULL or "": none */
    const char *grants;    /* comma-separated grants; NULL: "*" */
    int64_t rate_limit;    /* requests per rate_period_s; 0: no limit */
    int64_t rate_period_s; /* 1, 60, 3600 or 86400 when rate_limit > 0 */
};

/* A key as lists show it. */
struct api_key_info {
    char id[API_KEY_ID_LEN + 1];
    char name[API_KEY_NAME_CAP];
    char grants[API_KEY_GRANTS_CAP]; /* "*" for every permission */
    int64_t rate_limit;              /* 0: none */
    int64_t rate_period_s;
    int64_t created_at; /* UNIX ms */
};

/* Parses "N/PERIOD" (PERIOD second, minute, hour or day; N 1 to API_KEY_RATE_MAX) into *limit
 * and *period_s. Returns 0, or -1 when text is not of that form. */
int api_key_rate_parse(const char *text, int64_t *limit, int64_t *period_s);
/* The "N/PERIOD" text of a limit into buf (API_KEY_RATE_TEXT_CAP bytes); "" when limit is 0. */
void api_key_rate_format(int64_t limit, int64_t period_s, char buf[API_KEY_RATE_TEXT_CAP]);

/* Whether grants (comma-separated; NULL means "*") allow permission. A NULL permission (a
 * route without a name of its own) is allowed by "*" alone. */
bool api_key_grants(const char *grants, const char *permission);

/* Calls fn on each grant of a comma-separated list (len bytes, not NUL-terminated), in order;
 * stops at the first nonzero return and returns it. */
int api_key_grants_each(const char *grants, int (*fn)(void *ctx, const char *grant, size_t len),
                        void *ctx);

/* Creates a key of workspace ws (key receives it, id its id). CD_E_INVALID when the spec is out
 * of form (name too long or with control characters, a grant not of [a-z0-9_.] words, too many
 * grants, a bad limit). */
enum cd_err api_key_create(struct store *s, int64_t ws, const struct api_key_spec *spec,
                           char key[ADMIN_KEY_LEN], char id[API_KEY_ID_LEN + 1]);
/* Calls cb on every active key of ws, oldest first. */
enum cd_err api_key_list(struct store *s, int64_t ws,
                         void (*cb)(void *ctx, const struct api_key_info *), void *ctx);
/* Revokes the active key of ws with this id; CD_E_NOT_FOUND when there is none. */
enum cd_err api_key_revoke_id(struct store *s, int64_t ws, const char *id);

/* The same on a running server's workspace (the REST endpoints /api_keys/...). */
enum cd_err app_api_key_create(struct app *app, struct workspace *ws,
                               const struct api_key_spec *spec, char key[ADMIN_KEY_LEN],
                               char id[API_KEY_ID_LEN + 1]);
enum cd_err app_api_key_list(struct app *app, struct workspace *ws,
                             void (*cb)(void *ctx, const struct api_key_info *), void *ctx);
enum cd_err app_api_key_revoke(struct app *app, struct workspace *ws, const char *id);

#endif
