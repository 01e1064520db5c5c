/*
 * test_crash_burst.c — a success answer means the change is durable, also when many requests
 * share a commit: eight client threads send partner cohort imports (or /users/track) as fast
 * as they can, the server is killed with SIGKILL once enough requests were answered 201, and
 * after a restart on the same data directory every acknowledged change must be there.
 *
 * The client threads never call cmocka asserts (they cannot fail a test from another thread):
 * they record what was sent and what was acknowledged, and the main thread checks it all.
 */
#include "harness.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    N_THREADS = 8,
    /* existing users for the import burst, USERS_PER_THREAD of them for each thread */
    N_USERS = 4000,
    USERS_PER_THREAD = N_USERS / N_THREADS,
    /* users added by one import request, and the distinct requests a thread can send */
    IMPORT_IDS = 5,
    MAX_IMPORTS = USERS_PER_THREAD / IMPORT_IDS,
    /* new users created by one /users/track request; a thread stops after MAX_TRACKS */
    TRACK_IDS = 20,
    MAX_TRACKS = 4096,
    /* the kill comes once this many requests (all threads) were answered 201 … */
    ACKS_BEFORE_KILL = 200,
    /* … which must happen within this time */
    KILL_WAIT_MS = 120000,
};

/* Shared between the main thread and the clients. */
struct burst {
    struct server *s;
    atomic_int acked;   /* requests answered 201, all threads */
    atomic_int running; /* clients still sending; when none is, the wait ends */
    atomic_bool stop;   /* set by the main thread after the kill */
};

/* One client thread: request k sends its k-th distinct id set; requests 0 … n_sent - 1 went
 * out, and ok[k] says whether request k was answered 201 with the expected body. */
struct client {
    struct burst *b;
    int thread;
    int n_sent;
    bool ok[MAX_TRACKS];
    long bad_status; /* the first answer that was neither 201 nor "no answer" (0) */
    char *bad_body;
};

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records the answer to request k of c; returns false when the client should stop (the server
 * is gone, or it answered something unexpected). */
static bool record(struct client *c, int k, struct resp *r, const json_t *want) {
    bool go_on = true;
    if (r->status == 201 && r->json && json_equal(r->json, want)) {
        c->ok[k] = true;
        atomic_fetch_add(&c->b->acked, 1);
    } else if (r->status == 0) {
        go_on = false; /* killed: no answer, nothing acknowledged */
    } else if (r->status == 429) {
        /* shed by the write-queue bound: not acknowledged, so the checks need nothing of it */
    } else if (!c->bad_status) {
        c->bad_status = r->status;
        c->bad_body = strf("%s", r->body);
        go_on = false;
    }
    resp_free(r);
    return go_on;
}

/* ---- partner cohort imports ---- */

/* The external id of the i-th existing user. */
static char *user_ext(int i) {
    return strf("burst-u%d", i);
}

/* The first user of request k of thread t (USERS_PER_THREAD users per thread, IMPORT_IDS per
 * request: every request adds users no other request adds). */
static int import_first_user(int t, int k) {
    return t * USERS_PER_THREAD + k * IMPORT_IDS;
}

static void *import_client(void *arg) {
    struct client *c = arg;
    struct server *s = c->b->s;
    json_t *want = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i}", "message", "success", "ids_received",
                             IMPORT_IDS, "ids_matched", IMPORT_IDS, "ids_unmatched", 0,
                             "users_added", IMPORT_IDS, "users_removed", 0);
    for (int k = 0; k < MAX_IMPORTS && !atomic_load(&c->b->stop); k++) {
        int u = import_first_user(c->thread, k);
        char *body = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\","
                          "\"cohort_id\":\"burst-%d\",\"cohort_changes\":[{\"user_ids\":["
                          "\"burst-u%d\",\"burst-u%d\",\"burst-u%d\",\"burst-u%d\",\"burst-u%d\""
                          "]}]}",
                          s->partner_key, s->import_key, c->thread, u, u + 1, u + 2, u + 3, u + 4);
        struct resp r;
        c->n_sent = k + 1;
        http_req(s, "POST", "/partners/heap/cohorts/users", NULL, body, &r);
        free(body);
        if (!record(c, k, &r, want))
            break;
    }
    json_decref(want);
    atomic_fetch_sub(&c->b->running, 1);
    return NULL;
}

/* ---- /users/track creating users ---- */

/* The external id of user i of request k of thread t. */
static char *track_ext(int t, int k, int i) {
    return strf("burst-t%d-r%d-i%d", t, k, i);
}

static void *track_client(void *arg) {
    struct client *c = arg;
    struct server *s = c->b->s;
    json_t *want = json_pack("{s:s,s:i}", "message", "success", "attributes_processed", TRACK_IDS);
    for (int k = 0; k < MAX_TRACKS && !atomic_load(&c->b->stop); k++) {
        size_t cap = 64 + TRACK_IDS * 64, len = 0;
        char *body = malloc(cap);
        len += (size_t)snprintf(body, cap, "{\"attributes\":[");
        for (int i = 0; i < TRACK_IDS; i++) {
            char *ext = track_ext(c->thread, k, i);
            len += (size_t)snprintf(body + len, cap - len, "%s{\"external_id\":\"%s\"}",
                                    i ? "," : "", ext);
            free(ext);
        }
        snprintf(body + len, cap - len, "]}");
        struct resp r;
        c->n_sent = k + 1;
        http_post_rest(s, "/users/track", body, &r);
        free(body);
        if (!record(c, k, &r, want))
            break;
    }
    json_decref(want);
    atomic_fetch_sub(&c->b->running, 1);
    return NULL;
}

/* Runs N_THREADS clients of fn against s until ACKS_BEFORE_KILL requests were acknowledged,
 * kills the server with SIGKILL while they are still sending, stops them and restarts the
 * server on the same data directory. Returns the clients (owned by the caller). */
static struct client *burst_then_kill(struct server *s, void *(*fn)(void *)) {
    struct burst *b = calloc(1, sizeof *b);
    struct client *c = calloc(N_THREADS, sizeof *c);
    assert_non_null(b);
    assert_non_null(c);
    b->s = s;
    atomic_init(&b->acked, 0);
    atomic_init(&b->running, N_THREADS);
    atomic_init(&b->stop, false);
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        c[t].b = b;
        c[t].thread = t;
        assert_int_equal(pthread_create(&th[t], NULL, fn, &c[t]), 0);
    }
    long deadline = now_ms() + KILL_WAIT_MS;
    while (atomic_load(&b->acked) < ACKS_BEFORE_KILL && atomic_load(&b->running) > 0 &&
           now_ms() < deadline)
        sleep_ms(2);
    int acked_at_kill = atomic_load(&b->acked);
    server_kill(s);
    atomic_store(&b->stop, true);
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < N_THREADS; t++)
        if (c[t].bad_status)
            fail_msg("client %d got %ld before the kill: %s", t, c[t].bad_status, c[t].bad_body);
    if (acked_at_kill < ACKS_BEFORE_KILL)
        fail_msg("only %d requests were acknowledged before the clients stopped or %d ms passed",
                 acked_at_kill, KILL_WAIT_MS);
    int acked = atomic_load(&b->acked), sent = 0;
    for (int t = 0; t < N_THREADS; t++)
        sent += c[t].n_sent;
    print_message("burst: %d requests sent, %d acknowledged (%d when the kill was sent)\n", sent,
                  acked, acked_at_kill);
    free(b);
    server_start(s);
    return c;
}

static void free_clients(struct client *c) {
    for (int t = 0; t < N_THREADS; t++)
        free(c[t].bad_body);
    free(c);
}

/* The external ids of every member of partner heap cohort `cohort`, by a segment on it and its
 * NDJSON export (one line per user); *n is their number. */
static char **cohort_members(struct server *s, const char *cohort, size_t *n) {
    char *body = strf("{\"name\":\"members of %s\",\"filter\":{\"cohort\":{\"partner\":\"heap\","
                      "\"cohort_id\":\"%s\"},\"op\":\"includes\"}}",
                      cohort, cohort);
    struct resp r;
    http_post_rest(s, "/segments/create", body, &r);
    free(body);
    if (r.status != 201)
        fail_msg("segment on %s: %ld %s", cohort, r.status, r.body);
    body = strf("{\"segment_id\":\"%s\",\"fields_to_export\":[\"external_id\"]}",
                json_string_value(json_object_get(r.json, "segment_id")));
    resp_free(&r);
    http_post_rest(s, "/users/export/segment/stream", body, &r);
    free(body);
    assert_int_equal(r.status, 200);
    size_t cap = 0;
    for (const char *p = r.body; *p; p++)
        cap += *p == '\n';
    char **ids = calloc(cap + 1, sizeof *ids);
    assert_non_null(ids);
    *n = 0;
    for (char *line = r.body, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
        *end = '\0';
        json_t *u = json_loads(line, 0, NULL);
        const char *ext = json_string_value(json_object_get(u, "external_id"));
        if (!ext)
            fail_msg("export line without external_id: %s", line);
        ids[(*n)++] = strf("%s", ext);
        json_decref(u);
    }
    resp_free(&r);
    return ids;
}

static bool holds(char **ids, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

static long cohort_size(struct server *s, const char *cohort) {
    char *path = strf("/cohorts/details?partner=heap&cohort_id=%s", cohort);
    struct resp r;
    http_get_rest(s, path, &r);
    free(path);
    long size = r.status == 200 ? (long)json_integer_value(json_object_get(r.json, "size")) : 0;
    resp_free(&r);
    return size;
}

static void create_users(struct server *s) {
    for (int first = 0; first < N_USERS; first += 50) {
        size_t cap = 50 * 40 + 32, len = 0;
        char *body = malloc(cap);
        len += (size_t)snprintf(body, cap, "{\"attributes\":[");
        for (int i = first; i < first + 50; i++)
            len += (size_t)snprintf(body + len, cap - len, "%s{\"external_id\":\"burst-u%d\"}",
                                    i > first ? "," : "", i);
        snprintf(body + len, cap - len, "]}");
        post_expect(s, "/users/track", body, 201,
                    "{\"message\":\"success\",\"attributes_processed\":50}");
        free(body);
    }
}

static void test_kill_9_during_concurrent_imports_loses_no_acknowledged_member(void **state) {
    struct server *s = *state;
    create_users(s);
    struct client *c = burst_then_kill(s, import_client);
    for (int t = 0; t < N_THREADS; t++) {
        char *cohort = strf("burst-%d", t);
        size_t n = 0;
        char **members = cohort_members(s, cohort, &n);
        /* members: every user of an acknowledged request, and otherwise only users of requests
         * in flight at the kill (sent, not answered), each of those applied whole or not at all */
        long n_acked = 0, n_in_flight = 0;
        for (int k = 0; k < c[t].n_sent; k++) {
            int present = 0;
            for (int i = 0; i < IMPORT_IDS; i++) {
                char *ext = user_ext(import_first_user(t, k) + i);
                present += holds(members, n, ext);
                if (c[t].ok[k] && !holds(members, n, ext))
                    fail_msg("%s: acknowledged user %s is missing after the kill", cohort, ext);
                free(ext);
            }
            if (c[t].ok[k])
                n_acked += IMPORT_IDS;
            else if (present == 0 || present == IMPORT_IDS)
                n_in_flight += present;
            else
                fail_msg("%s: unanswered request %d is applied in part (%d of %d users)", cohort, k,
                         present, IMPORT_IDS);
        }
        for (size_t m = 0; m < n; m++) {
            bool sent = false;
            for (int k = 0; k < c[t].n_sent && !sent; k++)
                for (int i = 0; i < IMPORT_IDS && !sent; i++) {
                    char *ext = user_ext(import_first_user(t, k) + i);
                    sent = strcmp(ext, members[m]) == 0;
                    free(ext);
                }
            if (!sent)
                fail_msg("%s: member %s was never sent", cohort, members[m]);
        }
        long size = cohort_size(s, cohort);
        assert_int_equal(size, (long)n);
        assert_int_equal(size, n_acked + n_in_flight);
        assert_true(size >= n_acked);
        for (size_t m = 0; m < n; m++)
            free(members[m]);
        free(members);
        free(cohort);
    }
    free_clients(c);
}

static void test_kill_9_during_concurrent_tracks_loses_no_acknowledged_user(void **state) {
    struct server *s = *state;
    struct client *c = burst_then_kill(s, track_client);
    long checked = 0;
    for (int t = 0; t < N_THREADS; t++) {
        for (int k = 0; k < c[t].n_sent; k++) {
            /* TRACK_IDS (≤ 50) ids: one export request; each must be a user when the request
             * was acknowledged, and an unanswered one is applied whole or not at all */
            size_t cap = 64 + TRACK_IDS * 40, len = 0;
            char *body = malloc(cap);
            len += (size_t)snprintf(body, cap, "{\"external_ids\":[");
            for (int i = 0; i < TRACK_IDS; i++) {
                char *ext = track_ext(t, k, i);
                len += (size_t)snprintf(body + len, cap - len, "%s\"%s\"", i ? "," : "", ext);
                free(ext);
            }
            snprintf(body + len, cap - len, "],\"fields_to_export\":[\"external_id\"]}");
            struct resp r;
            http_post_rest(s, "/users/export/ids", body, &r);
            free(body);
            assert_int_equal(r.status, 200);
            json_t *users = json_object_get(r.json, "users");
            json_t *missing = json_object_get(r.json, "invalid_user_ids");
            if (!c[t].ok[k]) {
                if (json_array_size(users) != 0 && json_array_size(users) != TRACK_IDS)
                    fail_msg("unanswered request %d of client %d is applied in part: %s", k, t,
                             r.body);
                resp_free(&r);
                continue;
            }
            if (json_array_size(users) != TRACK_IDS || json_array_size(missing) != 0)
                fail_msg("acknowledged request %d of client %d lost users: %s", k, t, r.body);
            for (int i = 0; i < TRACK_IDS; i++) {
                char *ext = track_ext(t, k, i);
                bool found = false;
                size_t j;
                json_t *u;
                json_array_foreach(users, j, u) {
                    const char *got = json_string_value(json_object_get(u, "external_id"));
                    found = found || (got && strcmp(got, ext) == 0);
                }
                if (!found)
                    fail_msg("acknowledged user %s is missing after the kill: %s", ext, r.body);
                free(ext);
            }
            resp_free(&r);
            checked += TRACK_IDS;
        }
    }
    assert_true(checked >= (long)ACKS_BEFORE_KILL * TRACK_IDS);
    free_clients(c);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before the client threads use libcurl */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_kill_9_during_concurrent_imports_loses_no_acknowledged_member, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(
            test_kill_9_during_concurrent_tracks_loses_no_acknowledged_user, server_setup,
            server_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
