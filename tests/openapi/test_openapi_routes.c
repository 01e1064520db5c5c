/*
 * test_openapi_routes.c — docs/openapi.yaml agrees with the server. The route table comes from
 * the binary (`cohortd routes`), the document from its JSON bundle (COHORTD_OPENAPI_JSON, written
 * by scripts/openapi-lint.sh in the openapi/lint fixture). Checked: the routes and the documented
 * operations are the same set; every documented operation, sent to a real server holding one real
 * object of each kind (so path and query ids name something and no handler has a reason to answer
 * 404: a 404 whose body is the router's {"message":"Not Found"} means the route is missing, a 405
 * that the method is), is answered with a status the document lists and a body with the keys its
 * schema requires; the REST key is demanded exactly where the document says; and every request
 * example, with real ids and keys, is accepted with a documented 2xx.
 */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const http_methods[] = {"get",  "put",     "post",  "delete",
                                           "head", "options", "patch", "trace"};
#define N_METHODS (sizeof http_methods / sizeof http_methods[0])

static json_t *load_doc(void) {
    const char *path = getenv("COHORTD_OPENAPI_JSON");
    if (!path)
        fail_msg("COHORTD_OPENAPI_JSON is not set (ctest sets it: the openapi/lint fixture)");
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc)
        fail_msg("cannot read %s: %s", path, err.text);
    assert_true(json_object_size(json_object_get(doc, "paths")) > 0);
    return doc;
}

static void upper(char *s) {
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

/* "METHOD PATTERN" of every documented operation, as a JSON object used as a set. */
static json_t *documented_operations(const json_t *doc) {
    json_t *set = json_object();
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item) {
        for (size_t m = 0; m < N_METHODS; m++) {
            if (!json_object_get(item, http_methods[m]))
                continue;
            char method[16];
            snprintf(method, sizeof method, "%s", http_methods[m]);
            upper(method);
            char *key = strf("%s %s", method, path);
            json_object_set_new(set, key, json_true());
            free(key);
        }
    }
    return set;
}

/* The lines `cohortd routes` prints, as a set; fails on a repeated line. */
static json_t *registered_routes(void) {
    const char *args[] = {"routes", NULL};
    char *out = NULL;
    assert_int_equal(run_cli_bare(args, &out, NULL), 0);
    json_t *set = json_object();
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (json_object_get(set, line))
            fail_msg("the route table lists '%s' twice", line);
        json_object_set_new(set, line, json_true());
    }
    free(out);
    return set;
}

static void test_routes_subcommand_is_left_out_of_the_help(void **state) {
    (void)state;
    const char *args[] = {"--help", NULL};
    char *out = NULL;
    assert_int_equal(run_cli_bare(args, &out, NULL), 0);
    assert_non_null(strstr(out, "  serve "));
    assert_null(strstr(out, "routes"));
    free(out);
}

static void
test_every_registered_route_is_documented_and_every_documented_one_is_registered(void **state) {
    (void)state;
    json_t *doc = load_doc();
    json_t *documented = documented_operations(doc);
    json_t *registered = registered_routes();
    int missing = 0;
    const char *key;
    json_t *v;
    json_object_foreach(registered, key, v) {
        if (!json_object_get(documented, key)) {
            fprintf(stderr, "registered but not in docs/openapi.yaml: %s\n", key);
            missing++;
        }
    }
    json_object_foreach(documented, key, v) {
        if (!json_object_get(registered, key)) {
            fprintf(stderr, "in docs/openapi.yaml but not registered: %s\n", key);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    assert_true(json_object_size(registered) > 0);
    json_decref(registered);
    json_decref(documented);
    json_decref(doc);
}

/* ---- a server with one real object of each kind ---- */

#define DASH_EMAIL "admin@localhost"
#define DASH_PASSWORD "correct horse battery"

struct fixture {
    struct server *s;
    json_t *doc;
    json_t *ids;      /* parameter name -> a real value */
    char secret[128]; /* the Heap integration's webhook_secret */
    char key_id[32];  /* the id of a REST API key made for the revoke example */
};

static char *created_id(struct server *s, const char *path, const char *body, const char *key) {
    struct resp r;
    http_post_rest(s, path, body, &r);
    if (r.status != 201)
        fail_msg("POST %s answered %ld %s", path, r.status, r.body);
    const char *id = json_string_value(json_object_get(r.json, key));
    assert_non_null(id);
    char *copy = strdup(id);
    resp_free(&r);
    return copy;
}

static void set_id(json_t *ids, const char *name, char *value) {
    json_object_set_new(ids, name, json_string(value));
    free(value);
}

static int fixture_setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->s = server_new(NULL);
    f->doc = load_doc();
    f->ids = json_object();
    struct server *s = f->s;
    post_expect(s, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann\",\"plan\":\"trial\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");
    char *cohort = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                        "\"1338065\",\"name\":\"Free Customers\",\"created_at\":"
                        "\"2024-05-02T08:15:00Z\"}",
                        s->partner_key, s->import_key);
    struct resp r;
    http_req(s, "POST", "/partners/heap/cohorts", NULL, cohort, &r);
    assert_resp(&r, 201, "{\"message\":\"success\"}");
    resp_free(&r);
    free(cohort);
    json_object_set_new(f->ids, "partner", json_string("heap"));
    json_object_set_new(f->ids, "cohort_id", json_string("1338065"));
    json_object_set_new(f->ids, "path", json_string("index.html"));
    json_object_set_new(f->ids, "workspace_id", json_string(s->workspace_id));
    /* a dashboard admin, for the operations that take a session */
    dashboard_add_user(s, DASH_EMAIL, "admin", DASH_PASSWORD);
    dashboard_add_user(s, "member@example.com", "member", "member password");
    char *seg =
        created_id(s, "/segments/create",
                   "{\"name\":\"identified\",\"filter\":{\"identified\":true}}", "segment_id");
    /* nothing listens on port 1: the Current and the messages would fail, and none is sent */
    char *campaign = strf("{\"name\":\"c\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                          "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":"
                          "\"http://127.0.0.1:1/hook\"}}}",
                          seg);
    char *canvas = strf("{\"name\":\"v\",\"segment_id\":\"%s\",\"steps\":[{\"name\":\"one\","
                        "\"delay_seconds\":0,\"message\":{\"webhook\":{\"url\":"
                        "\"http://127.0.0.1:1/hook\"}}}]}",
                        seg);
    set_id(f->ids, "campaign_id", created_id(s, "/campaigns/create", campaign, "campaign_id"));
    set_id(f->ids, "canvas_id", created_id(s, "/canvas/create", canvas, "canvas_id"));
    /* a pending trigger schedule of each, for the schedule update and delete examples */
    const char *kinds[] = {"campaign", "canvas"};
    for (int k = 0; k < 2; k++) {
        char *key = strf("%s_id", kinds[k]);
        char *body = strf("{\"%s\":\"%s\",\"broadcast\":true,\"schedule\":{\"time\":"
                          "\"2100-01-01T00:00:00Z\"}}",
                          key, json_string_value(json_object_get(f->ids, key)));
        char *path = strf("/%s/trigger/schedule/create", k ? "canvas" : "campaigns");
        set_id(f->ids, k ? "canvas_schedule_id" : "schedule_id",
               created_id(s, path, body, "schedule_id"));
        free(path);
        free(body);
        free(key);
    }
    json_object_set_new(f->ids, "end_time", json_string("2100-12-31T00:00:00Z"));
    http_post_rest(s, "/integrations/heap/create", "{\"name\":\"Heap\"}", &r);
    assert_int_equal(r.status, 201);
    json_object_set(f->ids, "integration_id", json_object_get(r.json, "integration_id"));
    snprintf(f->secret, sizeof f->secret, "%s",
             json_string_value(json_object_get(r.json, "webhook_secret")));
    resp_free(&r);
    char current[64];
    current_create(s, "http://127.0.0.1:1/currents", "[\"users.behaviors.CustomEvent\"]", 100,
                   current);
    json_object_set_new(f->ids, "current_id", json_string(current));
    /* a segment export job: its URL's file name and query are the download's parameters */
    char *job = strf("{\"segment_id\":\"%s\",\"fields_to_export\":[\"external_id\"]}", seg);
    http_post_rest(s, "/users/export/segment", job, &r);
    assert_int_equal(r.status, 201);
    const char *url = strstr(json_string_value(json_object_get(r.json, "url")), "/files/") + 7;
    const char *q = strchr(url, '?'), *sig = strstr(url, "&signature=");
    json_object_set_new(f->ids, "file", json_stringn(url, (size_t)(q - url)));
    json_object_set_new(f->ids, "expires",
                        json_stringn(q + 9, (size_t)(sig - (q + 9)))); /* after "?expires=" */
    json_object_set_new(f->ids, "signature", json_string(sig + 11));
    resp_free(&r);
    free(job);
    set_id(f->ids, "segment_id", seg);
    char *key_id = created_id(s, "/api_keys/create", "{\"name\":\"to revoke\"}", "id");
    snprintf(f->key_id, sizeof f->key_id, "%s", key_id);
    free(key_id);
    json_object_set_new(f->ids, "length", json_string("3"));
    json_object_set_new(f->ids, "send_id", json_string("s-1"));
    free(campaign);
    free(canvas);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state) {
    struct fixture *f = *state;
    server_cleanup(f->s);
    free(f->s);
    json_decref(f->doc);
    json_decref(f->ids);
    free(f);
    return 0;
}

/* A local "$ref" ("#/components/...") resolved in doc; other values as they are. */
static const json_t *deref(const json_t *doc, const json_t *v) {
    const char *ref = json_string_value(json_object_get(v, "$ref"));
    if (!ref)
        return v;
    assert_true(strncmp(ref, "#/", 2) == 0);
    char *copy = strdup(ref + 2), *save = NULL;
    const json_t *at = doc;
    for (char *part = strtok_r(copy, "/", &save); part && at; part = strtok_r(NULL, "/", &save))
        at = json_object_get(at, part);
    free(copy);
    if (!at)
        fail_msg("unresolved reference %s", ref);
    return at;
}

/* A real value for a path or query parameter; the test fails for a name it does not know. */
static const char *value_of(const struct fixture *f, const char *name) {
    const char *v = json_string_value(json_object_get(f->ids, name));
    if (!v)
        fail_msg("no real value for parameter '%s': add one to fixture_setup", name);
    return v;
}

/* The request path of an operation: path parameters filled, required query arguments added. */
static char *request_path(const struct fixture *f, const char *pattern, const json_t *item,
                          const json_t *op) {
    char *path = strdup(pattern);
    char *query = strdup("");
    const json_t *lists[] = {json_object_get(item, "parameters"),
                             json_object_get(op, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        const json_t *p;
        json_array_foreach(lists[l], i, p) {
            p = deref(f->doc, p);
            const char *name = json_string_value(json_object_get(p, "name"));
            const char *in = json_string_value(json_object_get(p, "in"));
            if (strcmp(in, "path") == 0) {
                char *brace = strf("{%s}", name);
                char *at = strstr(path, brace);
                assert_non_null(at);
                *at = '\0';
                char *next = strf("%s%s%s", path, value_of(f, name), at + strlen(brace));
                free(path);
                path = next;
                free(brace);
            } else if (strcmp(in, "query") == 0 && json_is_true(json_object_get(p, "required"))) {
                char *next = strf("%s%c%s=%s", query, *query ? '&' : '?', name, value_of(f, name));
                free(query);
                query = next;
            }
        }
    }
    assert_null(strchr(path, '{'));
    char *full = strf("%s%s", path, query);
    free(path);
    free(query);
    return full;
}

/* The security requirements that apply to op: its own, else the document's. */
static const json_t *security_of(const json_t *doc, const json_t *op) {
    const json_t *sec = json_object_get(op, "security");
    return sec ? sec : json_object_get(doc, "security");
}

static bool needs_rest_key(const json_t *doc, const json_t *op) {
    size_t i;
    const json_t *req;
    json_array_foreach(security_of(doc, op), i, req) {
        if (json_object_get(req, "restApiKey"))
            return true;
    }
    return false;
}

/* Operations a dashboard session may call and a REST key may not. */
static bool session_only(const json_t *doc, const json_t *op) {
    size_t i;
    const json_t *req;
    bool session = false;
    json_array_foreach(security_of(doc, op), i, req) {
        if (json_object_get(req, "restApiKey"))
            return false;
        if (json_object_get(req, "dashboardSession"))
            session = true;
    }
    return session;
}

/* A fresh dashboard session of the fixture's admin: the two headers a session's write sends
 * (free both). */
static void session_headers(struct server *s, char **cookie, char **csrf) {
    struct dashboard_login l;
    dashboard_login(s, DASH_EMAIL, DASH_PASSWORD, &l);
    *cookie = strf("Cookie: %s", l.cookie);
    *csrf = strf("X-CSRF-Token: %s", l.csrf);
}

static bool router_not_found(const struct resp *r) {
    json_t *want = json_pack("{s:s}", "message", "Not Found");
    bool same = r->status == 404 && r->json && json_equal(r->json, want);
    json_decref(want);
    return same;
}

/* Calls fn(f, method, pattern, path, op) for every documented operation. */
typedef int (*op_fn)(struct fixture *f, const char *method, const char *pattern, const char *path,
                     const json_t *op);

static int each_operation(struct fixture *f, op_fn fn) {
    int bad = 0, n = 0;
    const char *pattern;
    json_t *item;
    json_object_foreach(json_object_get(f->doc, "paths"), pattern, item) {
        for (size_t m = 0; m < N_METHODS; m++) {
            const json_t *op = json_object_get(item, http_methods[m]);
            if (!op)
                continue;
            char method[16];
            snprintf(method, sizeof method, "%s", http_methods[m]);
            upper(method);
            char *path = request_path(f, pattern, item, op);
            bad += fn(f, method, pattern, path, op);
            n++;
            free(path);
        }
    }
    assert_true(n > 0);
    return bad;
}

/* The first key that schema (an object, or an allOf of objects) requires and body lacks;
 * NULL when there is none. Other schema forms (oneOf, …) are not checked here. */
static const char *missing_required(const json_t *doc, const json_t *schema, const json_t *body) {
    schema = deref(doc, schema);
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(schema, "allOf"), i, v) {
        const char *key = missing_required(doc, v, body);
        if (key)
            return key;
    }
    json_array_foreach(json_object_get(schema, "required"), i, v) {
        if (!json_object_get(body, json_string_value(v)))
            return json_string_value(v);
    }
    return NULL;
}

/* With the REST key and "{}" as the body of a POST: the handler answers, with a status the
 * document lists for the operation and a body holding the keys its schema requires. */
static int answered_by_handler(struct fixture *f, const char *method, const char *pattern,
                               const char *path, const json_t *op) {
    struct resp r;
    char *auth = strf("Authorization: Bearer %s", f->s->rest_key);
    const char *headers[] = {auth, NULL};
    http_req(f->s, method, path, headers, strcmp(method, "GET") == 0 ? NULL : "{}", &r);
    free(auth);
    char status[8];
    snprintf(status, sizeof status, "%ld", r.status);
    int bad = 0;
    if (r.status == 405 || router_not_found(&r)) {
        fprintf(stderr, "%s %s (%s): the router answered %ld %s\n", method, pattern, path, r.status,
                r.body);
        bad = 1;
    } else if (!json_object_get(json_object_get(op, "responses"), status)) {
        fprintf(stderr, "%s %s (%s): answered %ld %s, a status the document does not list\n",
                method, pattern, path, r.status, r.body);
        bad = 1;
    } else {
        const json_t *documented =
            deref(f->doc, json_object_get(json_object_get(op, "responses"), status));
        const json_t *schema = json_object_get(
            json_object_get(json_object_get(documented, "content"), "application/json"), "schema");
        const char *key = schema ? missing_required(f->doc, schema, r.json) : NULL;
        if (key) {
            fprintf(stderr,
                    "%s %s (%s): answered %ld %s without '%s', which the document requires\n",
                    method, pattern, path, r.status, r.body, key);
            bad = 1;
        }
    }
    resp_free(&r);
    return bad;
}

static void test_every_documented_operation_is_answered_by_its_handler_as_documented(void **state) {
    assert_int_equal(each_operation(*state, answered_by_handler), 0);
}

/* Without any key: 401 with the REST key's answer, for every operation that needs one. */
static int refused_without_key(struct fixture *f, const char *method, const char *pattern,
                               const char *path, const json_t *op) {
    if (!needs_rest_key(f->doc, op))
        return 0;
    struct resp r;
    http_req(f->s, method, path, NULL, strcmp(method, "GET") == 0 ? NULL : "{}", &r);
    json_t *want = json_pack("{s:s, s:[s]}", "message", "Unauthorized", "errors",
                             "send the REST API key as 'Authorization: Bearer <key>'");
    int bad = r.status != 401 || !r.json || !json_equal(r.json, want);
    if (bad)
        fprintf(stderr, "%s %s: documented with the REST key, answered %ld %s without one\n",
                method, pattern, r.status, r.body);
    json_decref(want);
    resp_free(&r);
    return bad;
}

static void test_operations_documented_with_the_rest_key_answer_401_without_one(void **state) {
    assert_int_equal(each_operation(*state, refused_without_key), 0);
}

/* The operations documented without the REST key answer without it (not the REST key's 401). */
static int open_without_rest_key(struct fixture *f, const char *method, const char *pattern,
                                 const char *path, const json_t *op) {
    if (needs_rest_key(f->doc, op))
        return 0;
    struct resp r;
    http_req(f->s, method, path, NULL, strcmp(method, "GET") == 0 ? NULL : "{}", &r);
    const char *msg = json_string_value(json_object_get(r.json, "message"));
    int bad = r.status == 401 && msg && strcmp(msg, "Unauthorized") == 0;
    if (bad)
        fprintf(stderr, "%s %s: documented without the REST key, answered %ld %s\n", method,
                pattern, r.status, r.body);
    resp_free(&r);
    return bad;
}

static void test_operations_documented_without_the_rest_key_do_not_ask_for_it(void **state) {
    assert_int_equal(each_operation(*state, open_without_rest_key), 0);
}

/* The REST API key permission an operation documents (`x-permission`); NULL when none. */
static const char *permission_of(const json_t *op) {
    return json_string_value(json_object_get(op, "x-permission"));
}

/* A new REST API key of the fixture's workspace granted only `grant` (owned). */
static char *key_granted(struct fixture *f, const char *grant) {
    char *body = strf("{\"permissions\":[\"%s\"]}", grant);
    char *key = created_id(f->s, "/api_keys/create", body, "rest_api_key");
    free(body);
    return key;
}

static bool access_denied(const struct resp *r) {
    json_t *want = json_pack("{s:s}", "message", "Access Denied");
    bool same = r->status == 403 && r->json && json_equal(r->json, want);
    json_decref(want);
    return same;
}

/* Every operation documented with the REST key names its permission, and the server agrees: a
 * key granted exactly that permission gets past the check, a key granted another one is
 * answered 403 Access Denied (a key is made per operation, so none is rate limited). */
static int permission_enforced(struct fixture *f, const char *method, const char *pattern,
                               const char *path, const json_t *op) {
    if (!needs_rest_key(f->doc, op))
        return 0;
    const char *perm = permission_of(op);
    if (!perm) {
        fprintf(stderr, "%s %s: documented with the REST key but without x-permission\n", method,
                pattern);
        return 1;
    }
    const char *other = strcmp(perm, "cohorts.list") == 0 ? "cohorts.details" : "cohorts.list";
    const char *grants[] = {perm, other};
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        char *key = key_granted(f, grants[i]);
        char *auth = strf("Authorization: Bearer %s", key);
        const char *headers[] = {auth, NULL};
        struct resp r;
        http_req(f->s, method, path, headers, strcmp(method, "GET") == 0 ? NULL : "{}", &r);
        if (access_denied(&r) != (i == 1)) {
            fprintf(stderr, "%s %s (x-permission %s): a key granted %s was answered %ld %s\n",
                    method, pattern, perm, grants[i], r.status, r.body);
            bad = 1;
        }
        resp_free(&r);
        free(auth);
        free(key);
    }
    return bad;
}

static void test_rest_operations_name_their_permission_and_the_server_enforces_it(void **state) {
    assert_int_equal(each_operation(*state, permission_enforced), 0);
}

/* ---- the request examples ---- */

/* Replaces, anywhere in v, the string value of a key that subs names with subs' value. */
static void substitute(json_t *v, const json_t *subs) {
    const char *key;
    json_t *w;
    size_t i;
    if (json_is_array(v))
        json_array_foreach(v, i, w) substitute(w, subs);
    if (!json_is_object(v))
        return;
    json_object_foreach(v, key, w) {
        const json_t *real = json_object_get(subs, key);
        if (real && json_is_string(w))
            json_object_set(v, key, (json_t *)real);
        else
            substitute(w, subs);
    }
}

/* The example of an operation's JSON request body (its `example`, else its first `examples`
 * entry), as a new reference; NULL when the operation takes no body. Fails when a body has none. */
static json_t *request_example(const json_t *doc, const json_t *op, const char *what) {
    const json_t *body = json_object_get(op, "requestBody");
    if (!body)
        return NULL;
    const json_t *media =
        json_object_get(json_object_get(deref(doc, body), "content"), "application/json");
    const json_t *ex = json_object_get(media, "example");
    if (!ex) {
        const char *name;
        const json_t *e;
        json_object_foreach((json_t *)json_object_get(media, "examples"), name, e) {
            ex = json_object_get(deref(doc, e), "value");
            break;
        }
    }
    if (!ex)
        fail_msg("%s: the request body has no example", what);
    return json_deep_copy(ex);
}

/* Operations that take away what the others use run last: the deletes, the archives, the
 * secret rotation (after which the webhook's example would be signed with a stale secret) and
 * the data import key's rotation and invalidation (the partner examples send the key). */
static bool runs_last(const char *pattern) {
    static const char *const ends[] = {"/delete", "/archive",    "/rotate_secret",
                                       "/rotate", "/invalidate", "/revoke"};
    size_t len = strlen(pattern);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t n = strlen(ends[i]);
        if (len >= n && strcmp(pattern + len - n, ends[i]) == 0)
            return true;
    }
    return false;
}

static bool pass_last;

/* The operation's request example, with the fixture's real ids and keys (and loopback URLs
 * where nothing listens), is accepted with a 2xx the document lists. */
static int example_accepted(struct fixture *f, const char *method, const char *pattern,
                            const char *path, const json_t *op) {
    if (runs_last(pattern) != pass_last)
        return 0;
    char *what = strf("%s %s", method, pattern);
    json_t *body = request_example(f->doc, op, what);
    if (!body) {
        free(what);
        return 0;
    }
    json_t *subs = json_deep_copy(f->ids);
    json_object_del(subs, "cohort_id"); /* the examples name the fixture's cohort already */
    if (strncmp(pattern, "/canvas/", strlen("/canvas/")) == 0) /* a schedule of the Canvas */
        json_object_set(subs, "schedule_id", json_object_get(f->ids, "canvas_schedule_id"));
    json_object_del(subs, "canvas_schedule_id");
    json_object_set_new(subs, "partner_api_key", json_string(f->s->partner_key));
    json_object_set_new(subs, "client_secret", json_string(f->s->import_key));
    json_object_set_new(subs, "url", json_string("http://127.0.0.1:1/hook"));
    json_object_set_new(subs, "endpoint", json_string("http://127.0.0.1:1/currents"));
    if (strcmp(pattern, "/api_keys/revoke") == 0)
        json_object_set_new(subs, "id", json_string(f->key_id));
    substitute(body, subs);
    json_decref(subs);
    if (strcmp(pattern, "/dashboard/api/login") == 0) {
        json_object_set_new(body, "email", json_string(DASH_EMAIL));
        json_object_set_new(body, "password", json_string(DASH_PASSWORD));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    char *auth, *csrf = NULL;
    if (session_only(f->doc, op)) {
        session_headers(f->s, &auth, &csrf);
    } else if (strcmp(pattern, "/heap/webhooks/{integration_id}") == 0) {
        char *sig = heap_hash(f->secret, wall_ms(), text);
        auth = strf("Heap-Hash: %s", sig);
        free(sig);
    } else {
        auth = strf("Authorization: Bearer %s", f->s->rest_key);
    }
    const char *headers[] = {auth, csrf, NULL};
    struct resp r;
    http_req(f->s, method, path, headers, text, &r);
    free(csrf);
    char status[8];
    snprintf(status, sizeof status, "%ld", r.status);
    int bad = r.status < 200 || r.status > 299 ||
              !json_object_get(json_object_get(op, "responses"), status);
    if (bad)
        fprintf(stderr, "%s: its example %s was answered %ld %s\n", what, text, r.status, r.body);
    resp_free(&r);
    free(auth);
    free(text);
    json_decref(body);
    free(what);
    return bad;
}

static void test_every_request_example_is_accepted_with_a_documented_2xx(void **state) {
    pass_last = false;
    int bad = each_operation(*state, example_accepted);
    pass_last = true;
    bad += each_operation(*state, example_accepted);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest route_table[] = {
        cmocka_unit_test(test_routes_subcommand_is_left_out_of_the_help),
        cmocka_unit_test(
            test_every_registered_route_is_documented_and_every_documented_one_is_registered),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_every_documented_operation_is_answered_by_its_handler_as_documented),
        cmocka_unit_test(test_operations_documented_with_the_rest_key_answer_401_without_one),
        cmocka_unit_test(test_operations_documented_without_the_rest_key_do_not_ask_for_it),
        cmocka_unit_test(test_rest_operations_name_their_permission_and_the_server_enforces_it),
        /* last: its deletes and archives take the fixture's objects away */
        cmocka_unit_test(test_every_request_example_is_accepted_with_a_documented_2xx),
    };
    int failed = cmocka_run_group_tests_name("openapi_route_table", route_table, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("openapi_live_server", live, fixture_setup, fixture_teardown);
    return failed;
}
