/*
 * auth.h — who is calling: the REST API key of a workspace, and the partner credentials of
 * the Partner Cohort Import API (CONTRACT.md §1.2), checked against the store so that api/
 * never sees it; plus the few facts of the process api/ asks for (health, a workspace's
 * public id). Keys are hashed here; a store failure is an error, a refused credential a
 * result.
 */
#ifndef COHORTD_CORE_WORKSPACE_AUTH_H
#define COHORTD_CORE_WORKSPACE_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct app;
struct workspace;

/* What a REST API key may do with one request. */
enum rest_auth {
    REST_AUTH_OK = 0,
    REST_AUTH_RATE_LIMITED, /* the key's window is used up (429) */
    REST_AUTH_DENIED,       /* the key lacks the route's permission (403) */
};

struct rest_grant {
    enum rest_auth result;
    bool all;          /* the key has every permission */
    char grants[2048]; /* else its grants, comma-separated (API_KEY_GRANTS_CAP) */
    bool limited;      /* the key has a rate limit: limit, remaining and reset_s hold its window */
    int64_t limit;
    int64_t remaining;
    int64_t reset_s; /* UNIX seconds */
};

/*
 * Authenticates a REST API key for a route needing `permission` (NULL: a route only keys with
 * every permission may call): counts the request against the key's rate limit, if it has one,
 * then checks the permission, then finds the key's workspace. A counted request is counted
 * whatever follows. CD_E_NOT_FOUND when the key is unknown or revoked; CD_OK with grant->result
 * (*out set only for REST_AUTH_OK); another error when the store failed, or CD_E_STORE with msg
 * naming a workspace that is not loaded (see app_workspace_msg).
 */
enum cd_err workspace_auth_rest(struct app *app, const char *key, const char *permission,
                                struct workspace **out, struct rest_grant *grant,
                                struct cd_msg *msg);

/* The outcome of a partner request's credentials, in the order §1.2 checks them. */
enum partner_auth {
    PARTNER_AUTH_OK = 0,
    PARTNER_AUTH_NO_PARTNER,    /* no such partner (404) */
    PARTNER_AUTH_BAD_KEY,       /* key check required and partner_api_key not one of its keys */
    PARTNER_AUTH_BAD_SECRET,    /* client_secret missing, empty or unknown */
    PARTNER_AUTH_OTHER_PARTNER, /* client_secret issued for another partner */
    PARTNER_AUTH_INACTIVE,      /* client_secret of this partner, but invalidated */
};

/*
 * Checks the credentials of a request to /partners/{partner}/…: the partner exists, its
 * partner_api_key when the partner requires one, and the client_secret names an active data
 * import key of this partner. Either may be NULL (absent). On PARTNER_AUTH_OK *ws is the
 * secret's workspace. Returns CD_OK with *result set, or the store's error (msg as for
 * workspace_auth_rest).
 */
enum cd_err partner_authenticate(struct app *app, const char *partner, const char *partner_api_key,
                                 const char *client_secret, enum partner_auth *result,
                                 struct workspace **ws, struct cd_msg *msg);

/* True when the store answers. */
bool app_healthy(struct app *app);

/* What /healthz reports, the worst first. */
enum app_health {
    APP_HEALTH_OK = 0,
    APP_HEALTH_STORE_FULL,        /* the last write failed for lack of space (see store.h) */
    APP_HEALTH_STORE_UNAVAILABLE, /* the store does not answer, or a sync failed */
};
enum app_health app_health(struct app *app);

/* The public id of a workspace (what the API and logs name it by); lives as long as ws. */
const char *workspace_public_id(const struct workspace *ws);

#endif
