/*
 * api.h — the API layer: one file per surface turns HTTP requests into domain calls and
 * domain results into the wire formats of CONTRACT.md. This header gives the route table and
 * the helpers every surface shares (JSON bodies, REST API key authentication, errors).
 */
#ifndef COHORTD_API_API_H
#define COHORTD_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cohorts/cohort_import.h"
#include "core/workspace/auth.h"
#include "core/messaging/campaign_run.h"
#include "core/messaging/currents_config.h"
#include "core/workspace/dash_sessions.h"
#include "core/workspace/dashboard_users.h"
#include "core/workspace/login_throttle.h"
#include "core/workspace/workspace.h"
#include "http/http.h"

struct segment_jobs;
struct user_export;

struct api_config {
    size_t max_body;
    int64_t heap_max_past_ms;   /* Heap-Hash timestamps older than this are refused */
    int64_t heap_max_future_ms; /* … and this far in the future */
    int heap_max_in_flight;     /* webhook pages applied at once before 429 */
    const char *metrics_token;  /* Bearer token GET /metrics requires; NULL or "": open */
    /* Sends a new Current's credential probe and waits for its answer (the composition root
     * gives workers/currents_probe.c); NULL: no probe is sent. */
    void (*currents_probe)(const char *url, const char *token, int64_t timeout_ms,
                           struct current_probe *out);
    int64_t currents_probe_timeout_ms;
    /* Sends one webhook request as campaign sends do and waits for its answer: the HTTP
     * status, or 0 with error (len bytes) saying what failed (the composition root gives
     * workers/webhook_http.c); NULL: POST /campaigns/test_send answers 502. */
    int (*webhook_send)(const struct webhook_request *req, int64_t timeout_ms, char *error,
                        size_t len);
    int64_t webhook_timeout_ms;   /* the sender's request timeout */
    struct segment_jobs *exports; /* the segment export jobs (POST /users/export/segment) */
    const char *web_dir;          /* the dashboard's files; NULL: none served (404) */
    const char *public_url;       /* the base URL clients reach the server at, no trailing '/' */
    bool tls;                     /* served over HTTPS: the session cookie is Secure */
    /* Several nodes on one store: sends a request for a workspace another node owns to that
     * node (http_forward) and relays its answer; NULL: such a request gets 503. */
    void (*forward)(const char *base_url, const char *hop, const struct http_request *req,
                    struct http_response *res, int64_t timeout_ms, bool *reached);
    int64_t forward_timeout_ms;
};

struct api_ctx {
    struct app *app;
    struct api_config cfg;
    struct dash_sessions *sessions;  /* the dashboard's logins */
    struct login_throttle *throttle; /* failed dashboard logins */
};

/* The dashboard's session cookie and the header that carries its CSRF token. */
#define API_SESSION_COOKIE "cohortd_session"
#define API_CSRF_HEADER "X-CSRF-Token"

/* Who is calling: a REST API key, or a dashboard session (with its user). */
struct api_caller {
    bool session;
    struct dash_user user;          /* session only */
    struct dash_session s;          /* session only; s.token is empty */
    char token[DASH_TOKEN_LEN + 1]; /* session only: the cookie's token */
};

/* Every route cohortd serves, each with the REST API key permission it requires (routes.c). */
extern const struct http_route api_routes[];
extern const size_t api_n_routes;

/* Whether grant is "*", a permission of some route, or "group.*" where some route's permission
 * begins with "group.": what a REST API key may be given. */
bool api_permission_known(const char *grant);

/*
 * Parses the body as a JSON object. On failure replies 400 {"message": "Bad Request",
 * "errors": [<reason>]} and returns NULL. The result is owned by the caller.
 */
json_t *api_json_body(const struct http_request *req, struct http_response *res);

/*
 * Authenticates a REST API key (Authorization: Bearer KEY, else an `api_key` query argument
 * or body key) for the permission of the matched route, else the dashboard's session cookie,
 * and returns the workspace: the key's, or the session's current one. Otherwise replies and
 * returns NULL: 401 for a missing, unknown or revoked key or session, 429 {"message":"Rate
 * Limited"} (with Retry-After) when the key's rate limit is used up, 403 {"message":"Access
 * Denied"} when it lacks the permission; with a session, a request other than GET without the
 * session's X-CSRF-Token is refused 403. A rate-limited key's answers carry X-RateLimit-Limit,
 * X-RateLimit-Remaining and X-RateLimit-Reset whatever follows. `body` may be NULL.
 */
struct workspace *api_auth_rest(struct api_ctx *ctx, const struct http_request *req,
                                const json_t *body, struct http_response *res);
/* api_auth_rest that also fills *grant: what the caller may do (a key's grants; a session:
 * everything for an admin, nothing for a member). */
struct workspace *api_auth_rest_grant(struct api_ctx *ctx, const struct http_request *req,
                                      const json_t *body, struct http_response *res,
                                      struct rest_grant *grant);
/* api_auth_rest that says who called into who (may be NULL). */
struct workspace *api_auth(struct api_ctx *ctx, const struct http_request *req, const json_t *body,
                           struct http_response *res, struct api_caller *who);
/*
 * The dashboard session of the request's cookie, its user still there with the same password
 * (else the session ends): true with who filled. Otherwise replies 401 {"message":"not logged
 * in"} (or 403 for a request other than GET without the session's CSRF token, or, when
 * need_admin, 403 for a member) and returns false.
 */
bool api_auth_session(struct api_ctx *ctx, const struct http_request *req,
                      struct http_response *res, bool need_admin, struct api_caller *who);
/* The value of the session cookie of the request, or NULL. out holds DASH_TOKEN_LEN + 1. */
const char *api_session_cookie(const struct http_request *req, char *out);

/* A domain call on a JSON body: the shape of the users and segments operations. */
typedef enum cd_err (*api_body_call)(struct app *app, struct workspace *ws, const json_t *body,
                                     json_t **out, struct cd_msg *msg);

/* Parses the body, authenticates the REST key, runs call and answers ok_status with its
 * result, or the error. */
void api_run_post(void *ctx, const struct http_request *req, struct http_response *res,
                  api_body_call call, int ok_status);

/* A read: the query of an authenticated GET, the shape of the list and details operations. */
typedef enum cd_err (*api_query_call)(struct app *app, struct workspace *ws,
                                      const struct http_request *req, json_t **out,
                                      struct cd_msg *msg);

/* Authenticates the REST key, runs call and answers 200 with its result, or the error. */
void api_run_get(void *ctx, const struct http_request *req, struct http_response *res,
                 api_query_call call);

/* Replies `out` (stolen) with ok_status when err is CD_OK, else the error with msg's text. */
void api_reply_result(struct http_response *res, enum cd_err err, int ok_status, json_t *out,
                      const struct cd_msg *msg);

/* The counters of a cohort apply as both cohort endpoints answer them, after a first key
 * {first_key: first_value} ("message": "success" or "status": "ok"). */
json_t *api_cohort_counts(const char *first_key, const char *first_value,
                          const struct cohort_apply_result *r);

/* Replies 400 {"message": <the formatted text>} (whole, however long) and returns false, so a
 * reader can `return api_refuse(res, "...", ...)` when it refuses a request. */
bool api_refuse(struct http_response *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The answers to a write refused for load (CD_E_BUSY: the workspace's write queue is full) and
 * to one refused for lack of space (CD_E_FULL), each with Retry-After (seconds). */
#define API_BUSY_RETRY_AFTER "1"
#define API_BUSY_REASON                                                                            \
    "too many writes to this workspace are waiting; nothing was changed, retry after the "         \
    "Retry-After delay"
#define API_FULL_RETRY_AFTER "30"
#define API_FULL_REASON                                                                            \
    "the store is full (no space left on its disk); nothing was changed, retry once space is "     \
    "freed"

/* Replies for a domain error: status from the error code, message `text` when given.
 * CD_E_BUSY answers 429 {"message":"Too Many Requests","errors":[API_BUSY_REASON]} and
 * CD_E_FULL 503 {"message":"Service Unavailable","errors":[API_FULL_REASON]}, both with
 * Retry-After, whatever text says. */
void api_reply_err(struct http_response *res, enum cd_err err, const char *text);
/* The answer to app_workspace_msg's failure: 503 {"message":"Service Unavailable","errors":
 * [msg]} for a workspace that is not loaded, else as api_reply_err. */
void api_reply_unloaded(struct http_response *res, enum cd_err err, const struct cd_msg *msg);
/* api_reply_unloaded, except for CD_E_MOVED (another node owns the workspace): the request is
 * forwarded to the owner and its answer relayed, unless it was forwarded to this node already
 * (503: never forwarded twice). */
void api_reply_unavailable(struct api_ctx *ctx, const struct http_request *req,
                           struct http_response *res, enum cd_err err, const struct cd_msg *msg);

/* Reading a Heap webhook body (heap_webhook.c); reasons are our texts, field paths and
 * jansson's message, never a value of the body. */
#define API_HEAP_REASON_LEN 256
struct heap_page;

/*
 * Reads a parsed Heap webhook body (borrowed while page is used) into page: kind, and for a
 * sync page its segment, sync_info and lists; on HEAP_PAGE_MALFORMED reason says what is
 * wrong. Leaves page's request fields alone. CD_E_NOMEM when memory ran out. Release the page
 * with api_heap_page_release either way.
 */
enum cd_err api_heap_page_read(const json_t *body, struct heap_page *page,
                               char reason[API_HEAP_REASON_LEN]);
void api_heap_page_release(struct heap_page *page);

/* The membership changes of a partner cohort import body (partner_cohorts.c), in the form
 * cohort_apply takes; the strings are borrowed from the body. */
struct api_cohort_changes {
    struct cohort_change *changes; /* malloc'd, n_changes of them */
    size_t n_changes;
    struct cohort_ident *ids; /* malloc'd, n_ids of them; changes[i].ids point in here */
    size_t n_ids;
};

/*
 * Reads and checks the `cohort_changes` array of a body (CONTRACT.md §1.4, the limits of
 * api/limits.h) into out. Returns CD_OK (an empty array gives n_changes 0); CD_E_INVALID having
 * replied 400 into res with the contract's text; or CD_E_NOMEM, nothing replied. Release out
 * with api_cohort_changes_release either way.
 */
enum cd_err api_cohort_changes_read(const json_t *cohort_changes, struct api_cohort_changes *out,
                                    struct http_response *res);
void api_cohort_changes_release(struct api_cohort_changes *c);

/* Route handlers, one group per surface file. */
void api_healthz(void *ctx, const struct http_request *req, struct http_response *res);
void api_metrics(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_track(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_alias_new(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_identify(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_delete(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_merge(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_export_ids(void *ctx, const struct http_request *req, struct http_response *res);
void api_devices_track(void *ctx, const struct http_request *req, struct http_response *res);
void api_partner_cohort_name(void *ctx, const struct http_request *req, struct http_response *res);
void api_partner_cohort_users(void *ctx, const struct http_request *req, struct http_response *res);
void api_partners_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_partners_update(void *ctx, const struct http_request *req, struct http_response *res);
void api_cohorts_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_cohorts_details(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_create(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_update(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_delete(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_details(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_preview(void *ctx, const struct http_request *req, struct http_response *res);
void api_segments_filters(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_export_segment(void *ctx, const struct http_request *req, struct http_response *res);
void api_users_export_segment_job(void *ctx, const struct http_request *req,
                                  struct http_response *res);
void api_users_export_segment_file(void *ctx, const struct http_request *req,
                                   struct http_response *res);
/* One line of a segment export file: the user in Braze's export shape with the fields asked for
 * (segment_jobs' render function; malloc'd, NULL when memory ran out). */
char *api_segment_export_line(const struct user_export *u, const json_t *fields);
void api_segments_data_series(void *ctx, const struct http_request *req, struct http_response *res);
void api_cohorts_data_series(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_data_series(void *ctx, const struct http_request *req,
                               struct http_response *res);
void api_sends_data_series(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_data_series(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_data_summary(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_create(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_details(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_pause(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_resume(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_delete(void *ctx, const struct http_request *req, struct http_response *res);
void api_currents_replay(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_create(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_details(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_failures(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_archive(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_preview(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_test_send(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_trigger(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_create(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_details(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_failures(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_archive(void *ctx, const struct http_request *req, struct http_response *res);
void api_canvas_trigger(void *ctx, const struct http_request *req, struct http_response *res);
void api_campaigns_schedule_create(void *ctx, const struct http_request *req,
                                   struct http_response *res);
void api_campaigns_schedule_update(void *ctx, const struct http_request *req,
                                   struct http_response *res);
void api_campaigns_schedule_delete(void *ctx, const struct http_request *req,
                                   struct http_response *res);
void api_canvas_schedule_create(void *ctx, const struct http_request *req,
                                struct http_response *res);
void api_canvas_schedule_update(void *ctx, const struct http_request *req,
                                struct http_response *res);
void api_canvas_schedule_delete(void *ctx, const struct http_request *req,
                                struct http_response *res);
void api_scheduled_broadcasts(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_login(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_logout(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_session(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_workspace(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_users(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_users_create(void *ctx, const struct http_request *req,
                                struct http_response *res);
void api_dashboard_users_delete(void *ctx, const struct http_request *req,
                                struct http_response *res);
void api_workspaces_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_workspaces_create(void *ctx, const struct http_request *req, struct http_response *res);
void api_import_keys_get(void *ctx, const struct http_request *req, struct http_response *res);
void api_import_keys_rotate(void *ctx, const struct http_request *req, struct http_response *res);
void api_import_keys_invalidate(void *ctx, const struct http_request *req,
                                struct http_response *res);
void api_dashboard_root(void *ctx, const struct http_request *req, struct http_response *res);
void api_dashboard_file(void *ctx, const struct http_request *req, struct http_response *res);
void api_heap_webhook(void *ctx, const struct http_request *req, struct http_response *res);
void api_api_keys_create(void *ctx, const struct http_request *req, struct http_response *res);
void api_api_keys_list(void *ctx, const struct http_request *req, struct http_response *res);
void api_api_keys_revoke(void *ctx, const struct http_request *req, struct http_response *res);
void api_heap_integration_create(void *ctx, const struct http_request *req,
                                 struct http_response *res);
void api_heap_integration_list(void *ctx, const struct http_request *req,
                               struct http_response *res);
void api_heap_integration_rotate(void *ctx, const struct http_request *req,
                                 struct http_response *res);
void api_heap_integration_delete(void *ctx, const struct http_request *req,
                                 struct http_response *res);

#endif
