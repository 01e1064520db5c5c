/*
 * partner_cohorts.c — the Braze Partner Cohort Import API (CONTRACT.md §1):
 * POST /partners/{partner}/cohorts (create or rename) and POST /partners/{partner}/cohorts/users
 * (membership deltas). Authentication travels in the body (partner_api_key, client_secret) and
 * runs before field validation; the texts and statuses are the contract's. A request is checked
 * whole before anything is applied, then applied in one transaction.
 */
#include "api/api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cohorts/cohort_import.h"
#include "api/limits.h"
#include "api/partner_body.h"
#include "core/workspace/auth.h"
#include "util/log.h"
#include "util/timeutil.h"

static const char changes_text[] =
    "cohort_changes must be an array of objects each with key user_ids and/or device_ids "
    "mapping to an array of strings, or an aliases object";

/* Authenticates per §1.2; on failure replies and returns NULL. */
static struct workspace *auth_partner(struct api_ctx *ctx, const struct http_request *req,
                                      const char *key, const char *secret, const char *partner,
                                      struct http_response *res) {
    enum partner_auth result;
    struct workspace *ws = NULL;
    struct cd_msg msg = {{0}};
    enum cd_err err = partner_authenticate(ctx->app, partner, key, secret, &result, &ws, &msg);
    if (err != CD_OK) {
        api_reply_unavailable(ctx, req, res, err, &msg);
        return NULL;
    }
    switch (result) {
    case PARTNER_AUTH_OK:
        return ws;
    case PARTNER_AUTH_NO_PARTNER:
        http_reply_message(res, 404, "Not Found");
        break;
    case PARTNER_AUTH_BAD_KEY:
        log_info("partner", "req=%lu partner=%s result=invalid_partner_key", http_request_id(req),
                 partner);
        http_reply_message(res, 401, "Invalid Partner API key");
        break;
    case PARTNER_AUTH_BAD_SECRET:
        log_info("partner", "req=%lu partner=%s result=invalid_client_secret", http_request_id(req),
                 partner);
        http_reply_message(res, 401, "Invalid client secret");
        break;
    case PARTNER_AUTH_OTHER_PARTNER: {
        char text[128];
        snprintf(text, sizeof text,
                 "Partner not enabled for client with client secret: %.4s\xE2\x80\xA6", secret);
        http_reply_message(res, 401, text);
        break;
    }
    case PARTNER_AUTH_INACTIVE:
        http_reply_message(res, 401, "Unauthorized access");
        break;
    }
    return NULL;
}

/* auth_partner with the body's two secrets (NULL when absent or not strings). */
static struct workspace *auth_body(struct api_ctx *ctx, const struct http_request *req,
                                   const json_t *body, const char *partner,
                                   struct http_response *res) {
    return auth_partner(ctx, req, json_string_value(json_object_get(body, "partner_api_key")),
                        json_string_value(json_object_get(body, "client_secret")), partner, res);
}

/* id when it is a valid cohort_id; else replies 400 and returns NULL. */
static const char *cohort_id_valid(const char *id, struct http_response *res) {
    if (!id || !*id || strlen(id) > LIMIT_COHORT_ID) {
        http_reply_message(res, 400, "cohort_id must be a valid string");
        return NULL;
    }
    return id;
}

static const char *cohort_id_of(const json_t *body, struct http_response *res) {
    return cohort_id_valid(json_string_value(json_object_get(body, "cohort_id")), res);
}

void api_partner_cohort_name(void *vctx, const struct http_request *req,
                             struct http_response *res) {
    struct api_ctx *ctx = vctx;
    const char *partner = http_param(req, 0);
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? auth_body(ctx, req, body, partner, res) : NULL;
    const char *cohort_id = ws ? cohort_id_of(body, res) : NULL;
    if (cohort_id) {
        const char *name = json_string_value(json_object_get(body, "name"));
        const char *created = json_string_value(json_object_get(body, "created_at"));
        int64_t created_ms;
        if (!name || !*name) {
            http_reply_message(res, 400, "name must be a non-empty string");
        } else if (!api_limit_len(res, "name", name, LIMIT_COHORT_NAME)) {
            /* replied */
        } else if (!created || time_parse_iso8601(created, &created_ms) != 0) {
            http_reply_message(res, 400, "created_at must be a valid time as an ISO-8601 string");
        } else {
            enum cd_err err = cohort_name(ctx->app, ws, partner, cohort_id, name, created_ms);
            if (err == CD_OK)
                http_reply_message(res, 201, "success");
            else
                api_reply_err(res, err, NULL);
        }
    }
    json_decref(body);
}

static bool alias_ok(const json_t *v) {
    const char *n = json_string_value(json_object_get(v, "alias_name"));
    const char *l = json_string_value(json_object_get(v, "alias_label"));
    return json_is_object(v) && n && *n && l && *l;
}

static bool present(const json_t *v) {
    return v && !json_is_null(v);
}

/* Checks one change object (§1.4); adds its identifier count to *n_ids. */
static bool change_ok(const json_t *ch, size_t *n_ids) {
    if (!json_is_object(ch))
        return false;
    const json_t *uids = json_object_get(ch, "user_ids");
    const json_t *dids = json_object_get(ch, "device_ids");
    const json_t *aliases = json_object_get(ch, "aliases");
    const json_t *rm = json_object_get(ch, "should_remove");
    if (!present(uids) && !present(dids) && !present(aliases))
        return false;
    if (present(rm) && !json_is_boolean(rm))
        return false;
    size_t i;
    const json_t *v;
    if (present(uids)) {
        if (!json_is_array(uids))
            return false;
        json_array_foreach(uids, i, v) if (!(json_is_string(v) && *json_string_value(v)) &&
                                           !alias_ok(v)) return false;
        *n_ids += json_array_size(uids);
    }
    if (present(dids)) {
        if (!json_is_array(dids))
            return false;
        json_array_foreach(dids, i,
                           v) if (!json_is_string(v) || !*json_string_value(v)) return false;
        *n_ids += json_array_size(dids);
    }
    if (present(aliases)) {
        if (json_is_object(aliases)) {
            if (!alias_ok(aliases))
                return false;
            *n_ids += 1;
        } else if (json_is_array(aliases)) {
            json_array_foreach(aliases, i, v) if (!alias_ok(v)) return false;
            *n_ids += json_array_size(aliases);
        } else {
            return false;
        }
    }
    return true;
}

/* Checks the length of an identifier at cohort_changes[ci].<list>[k]<suffix> (no [k] when k
 * is SIZE_MAX: a lone aliases object). */
static bool id_len_ok(struct http_response *res, size_t ci, const char *list, size_t k,
                      const char *suffix, const char *id, size_t max) {
    if (strlen(id) <= max)
        return true;
    char field[128];
    if (k == SIZE_MAX)
        snprintf(field, sizeof field, "cohort_changes[%zu].%s%s", ci, list, suffix);
    else
        snprintf(field, sizeof field, "cohort_changes[%zu].%s[%zu]%s", ci, list, k, suffix);
    return api_limit_len(res, field, id, max);
}

static bool alias_len_ok(struct http_response *res, size_t ci, const char *list, size_t k,
                         const json_t *v) {
    return id_len_ok(res, ci, list, k, ".alias_label",
                     json_string_value(json_object_get(v, "alias_label")), LIMIT_ALIAS_LABEL) &&
           id_len_ok(res, ci, list, k, ".alias_name",
                     json_string_value(json_object_get(v, "alias_name")), LIMIT_ALIAS_NAME);
}

/* Checks every identifier of validated cohort_changes against limits.h; replies 400 naming
 * the first one over its limit. */
static bool ids_within_limits(const json_t *arr, struct http_response *res) {
    size_t ci, k;
    const json_t *ch, *v;
    json_array_foreach(arr, ci, ch) {
        json_array_foreach(json_object_get(ch, "user_ids"), k, v) {
            if (json_is_string(v) ? !id_len_ok(res, ci, "user_ids", k, "", json_string_value(v),
                                               LIMIT_EXTERNAL_ID)
                                  : !alias_len_ok(res, ci, "user_ids", k, v))
                return false;
        }
        json_array_foreach(json_object_get(ch, "device_ids"), k, v) {
            if (!id_len_ok(res, ci, "device_ids", k, "", json_string_value(v), LIMIT_DEVICE_ID))
                return false;
        }
        const json_t *aliases = json_object_get(ch, "aliases");
        if (json_is_object(aliases) && !alias_len_ok(res, ci, "aliases", SIZE_MAX, aliases))
            return false;
        json_array_foreach(aliases, k, v) {
            if (!alias_len_ok(res, ci, "aliases", k, v))
                return false;
        }
    }
    return true;
}

static struct cohort_ident alias_ident(const json_t *v) {
    return (struct cohort_ident){COHORT_ID_ALIAS,
                                 json_string_value(json_object_get(v, "alias_label")),
                                 json_string_value(json_object_get(v, "alias_name"))};
}

/* Builds the change list from validated cohort_changes; ids has room for n_ids entries. */
static size_t build_changes(const json_t *arr, struct cohort_change *changes,
                            struct cohort_ident *ids) {
    size_t n = 0, ci;
    const json_t *ch;
    json_array_foreach(arr, ci, ch) {
        struct cohort_ident *start = ids + n;
        size_t k;
        const json_t *v;
        json_array_foreach(json_object_get(ch, "user_ids"), k, v) {
            ids[n++] = json_is_string(v) ? (struct cohort_ident){COHORT_ID_EXTERNAL_OR_DEVICE,
                                                                 json_string_value(v), NULL}
                                         : alias_ident(v);
        }
        json_array_foreach(json_object_get(ch, "device_ids"), k, v) {
            ids[n++] = (struct cohort_ident){COHORT_ID_DEVICE, json_string_value(v), NULL};
        }
        const json_t *aliases = json_object_get(ch, "aliases");
        if (json_is_object(aliases))
            ids[n++] = alias_ident(aliases);
        json_array_foreach(aliases, k, v) {
            ids[n++] = alias_ident(v);
        }
        changes[ci] = (struct cohort_change){json_is_true(json_object_get(ch, "should_remove")),
                                             start, (size_t)(ids + n - start)};
    }
    return n;
}

enum cd_err api_cohort_changes_read(const json_t *arr, struct api_cohort_changes *out,
                                    struct http_response *res) {
    memset(out, 0, sizeof *out);
    size_t n_ids = 0, i;
    const json_t *ch;
    bool ok = json_is_array(arr);
    json_array_foreach(arr, i, ch) ok = ok && change_ok(ch, &n_ids);
    if (!ok) {
        http_reply_message(res, 400, changes_text);
        return CD_E_INVALID;
    }
    if (n_ids > LIMIT_COHORT_IDS) {
        http_reply_message(res, 400,
                           "Only 1,000 user_ids, device_ids, and aliases are allowed per request");
        return CD_E_INVALID;
    }
    if (!ids_within_limits(arr, res))
        return CD_E_INVALID;
    if (json_array_size(arr) == 0)
        return CD_OK;
    out->changes = calloc(json_array_size(arr), sizeof *out->changes);
    out->ids = calloc(n_ids ? n_ids : 1, sizeof *out->ids);
    if (!out->changes || !out->ids) {
        api_cohort_changes_release(out);
        return CD_E_NOMEM;
    }
    out->n_ids = build_changes(arr, out->changes, out->ids);
    out->n_changes = json_array_size(arr);
    return CD_OK;
}

void api_cohort_changes_release(struct api_cohort_changes *c) {
    free(c->changes);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

/* Applies checked changes to the cohort and replies. */
static void apply_changes(struct api_ctx *ctx, struct workspace *ws, const char *partner,
                          const char *cohort_id, const struct api_cohort_changes *cc,
                          struct http_response *res) {
    if (cc->n_changes == 0) { /* real clients test their credentials this way; nothing stored */
        http_reply_json(res, 201,
                        json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "message", "success",
                                  "ids_received", 0, "ids_matched", 0, "ids_unmatched", 0,
                                  "users_added", 0, "users_removed", 0));
        return;
    }
    struct cohort_apply_result r;
    enum cd_err err =
        cohort_apply(ctx->app, ws, partner, cohort_id, cc->changes, cc->n_changes, &r);
    if (err == CD_OK)
        http_reply_json(res, 201, api_cohort_counts("message", "success", &r));
    else
        api_reply_err(res, err, NULL);
}

void api_partner_cohort_users(void *vctx, const struct http_request *req,
                              struct http_response *res) {
    struct api_ctx *ctx = vctx;
    const char *partner = http_param(req, 0);
    size_t len;
    const char *raw = http_body(req, &len);
    struct partner_body fast;
    if (partner_body_read(raw, len, &fast)) { /* the common shape, read without a JSON tree */
        struct workspace *ws =
            auth_partner(ctx, req, fast.partner_api_key, fast.client_secret, partner, res);
        const char *cohort_id = ws ? cohort_id_valid(fast.cohort_id, res) : NULL;
        if (cohort_id)
            apply_changes(ctx, ws, partner, cohort_id, &fast.cc, res);
        partner_body_release(&fast);
        return;
    }
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? auth_body(ctx, req, body, partner, res) : NULL;
    const char *cohort_id = ws ? cohort_id_of(body, res) : NULL;
    if (!cohort_id) {
        json_decref(body);
        return;
    }
    struct api_cohort_changes cc;
    enum cd_err err = api_cohort_changes_read(json_object_get(body, "cohort_changes"), &cc, res);
    if (err == CD_OK)
        apply_changes(ctx, ws, partner, cohort_id, &cc, res);
    else if (err != CD_E_INVALID)
        api_reply_err(res, err, NULL); /* CD_E_INVALID: replied */
    api_cohort_changes_release(&cc);
    json_decref(body);
}
