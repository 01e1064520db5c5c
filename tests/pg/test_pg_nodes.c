/*
 * test_pg_nodes.c — several `cohortd serve` nodes on one PostgreSQL database (a fresh one per
 * test on the throwaway server of tests/pg/with-pg.sh), with a lease time of 1 s: one node owns
 * a workspace at a time (GET /healthz says which); kill -9 of the owner during a stream of
 * imports loses no acknowledged change and another node serves the workspace within the lease
 * time plus its load; an owner frozen past its lease (SIGSTOP) never believes it still owns the
 * workspace once another node took it; a request sent to a node that does not own the
 * workspace is forwarded to the owner, applied once, and what it wrote is seen from every node;
 * a forwarded request that reaches a non-owner gets 503 and is not forwarded again; with three
 * nodes a campaign reaches each user once and every Currents event reaches the sink.
 */
#include "../e2e/harness.h"
#include "../e2e/sink.h"
#include "fake_owner.h"
#include "pg_fresh.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEASE_MS 1000
#define N_NODES 3

struct nodes {
    struct server *n[N_NODES];
    bool frozen[N_NODES]; /* SIGSTOPped: not asked (it would never answer) */
};

#define FAST                                                                                       \
    "--currents-poll-ms", "50", "--campaigns-poll-ms", "50", "--webhook-retry-base-ms", "50"
static const char *const node_args[N_NODES][11] = {
    {"--node-id", "node-a", "--lease-time", "1s", FAST, NULL},
    {"--node-id", "node-b", "--lease-time", "1s", FAST, NULL},
    {"--node-id", "node-c", "--lease-time", "1s", FAST, NULL},
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another node on the database of `first` (same workspace and keys, its own data directory). */
static struct server *node_join(const struct server *first, int i) {
    struct server *s = calloc(1, sizeof *s);
    *s = *first;
    s->pid = 0;
    snprintf(s->data, sizeof s->data, "/tmp/cohortd-e2e-XXXXXX");
    assert_non_null(mkdtemp(s->data));
    memset(s->extra_args, 0, sizeof s->extra_args);
    for (int a = 0; node_args[i][a]; a++)
        s->extra_args[a] = node_args[i][a];
    server_start(s);
    return s;
}

/* The first node runs init on the fresh database, the others join it. */
static int setup(void **state) {
    use_fresh_database("nodes");
    struct nodes *ns = calloc(1, sizeof *ns);
    ns->n[0] = server_new(node_args[0]);
    for (int i = 1; i < N_NODES; i++)
        ns->n[i] = node_join(ns->n[0], i);
    *state = ns;
    return 0;
}

static int teardown(void **state) {
    struct nodes *ns = *state;
    for (int i = 0; i < N_NODES; i++) {
        if (ns->n[i] && ns->n[i]->pid)
            kill(ns->n[i]->pid, SIGCONT);
        server_cleanup(ns->n[i]);
        free(ns->n[i]);
    }
    free(ns);
    return 0;
}

/* 1 when node s answers /healthz listing the workspace, 0 when it answers without it, -1 when
 * it does not answer. */
static int owns(const struct server *s, const struct server *ws_of) {
    struct resp r;
    http_req(s, "GET", "/healthz", NULL, NULL, &r);
    int got = -1;
    if (r.status == 200) {
        got = 0;
        json_t *list = json_object_get(r.json, "workspaces");
        assert_true(json_is_array(list));
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v) {
            if (strcmp(json_string_value(v), ws_of->workspace_id) == 0)
                got = 1;
        }
    }
    resp_free(&r);
    return got;
}

/* The node that owns the workspace, asserting that no other one does; -1 when none. */
static int owner_of(struct nodes *ns) {
    int owner = -1;
    for (int i = 0; i < N_NODES; i++) {
        if (!ns->n[i]->pid || ns->frozen[i])
            continue;
        if (owns(ns->n[i], ns->n[0]) == 1) {
            if (owner >= 0)
                fail_msg("nodes %d and %d both say they own workspace %s", owner, i,
                         ns->n[0]->workspace_id);
            owner = i;
        }
    }
    return owner;
}

/* Polls until some live node other than `not` owns the workspace; returns it, or fails after
 * limit_ms. Every sample checks that at most one node owns it. */
static int wait_new_owner(struct nodes *ns, int not, int64_t limit_ms) {
    int64_t t0 = now_ms();
    for (;;) {
        int o = owner_of(ns);
        if (o >= 0 && o != not )
            return o;
        if (now_ms() - t0 > limit_ms)
            fail_msg("no node took workspace %s over within %lld ms", ns->n[0]->workspace_id,
                     (long long)limit_ms);
        sleep_ms(20);
    }
}

static void test_exactly_one_node_owns_a_workspace_and_healthz_says_which(void **state) {
    struct nodes *ns = *state;
    assert_int_equal(owner_of(ns), 0); /* the first node took it at start */
    for (int i = 1; i < N_NODES; i++)
        assert_int_equal(owns(ns->n[i], ns->n[0]), 0);
    struct resp r;
    http_req(ns->n[1], "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, 200,
                "{\"status\":\"ok\",\"node\":\"node-b\",\"lease_ms\":1000,\"workspaces\":[]}");
    resp_free(&r);
}

static void test_writes_sent_to_non_owners_are_applied_once_and_seen_from_every_node(void **state) {
    struct nodes *ns = *state;
    assert_int_equal(owner_of(ns), 0);
    struct server *b = ns->n[1], *c = ns->n[2];
    /* REST and partner writes to the two nodes that do not own the workspace */
    post_expect(b, "/users/track",
                "{\"attributes\":[{\"external_id\":\"ann\",\"plan\":\"gold\"},"
                "{\"external_id\":\"bob\",\"plan\":\"gold\"},{\"external_id\":\"cid\"}]}",
                201, "{\"message\":\"success\",\"attributes_processed\":3}");
    char *imp = strf("{\"partner_api_key\":\"%s\",\"client_secret\":\"%s\",\"cohort_id\":"
                     "\"paying\",\"cohort_changes\":[{\"user_ids\":[\"ann\",\"cid\",\"nobody\"]}]}",
                     c->partner_key, c->import_key);
    struct resp r;
    http_req(c, "POST", "/partners/heap/cohorts/users", NULL, imp, &r);
    assert_resp(&r, 201,
                "{\"message\":\"success\",\"ids_received\":3,\"ids_matched\":2,"
                "\"ids_unmatched\":1,\"users_added\":2,\"users_removed\":0}");
    resp_free(&r);
    free(imp);
    char *segment = post_created(c, "/segments/create",
                                 "{\"name\":\"gold\",\"filter\":{\"attribute\":\"plan\","
                                 "\"op\":\"equals\",\"value\":\"gold\"}}",
                                 "segment_id");
    char *details = strf("/segments/details?segment_id=%s", segment);
    for (int i = 0; i < N_NODES; i++) {
        /* the import was applied once: 3 ids received, 2 members, whoever answers */
        http_get_rest(ns->n[i], "/cohorts/details?partner=heap&cohort_id=paying", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "size")), 2);
        assert_int_equal(json_integer_value(json_object_get(r.json, "ids_received")), 3);
        resp_free(&r);
        http_get_rest(ns->n[i], details, &r);
        assert_int_equal(r.status, 200);
        assert_json_equal(json_object_get(r.json, "size"), "2");
        resp_free(&r);
        assert_int_equal(preview(ns->n[i], "{\"attribute\":\"plan\",\"op\":\"equals\","
                                           "\"value\":\"gold\"}"),
                         2);
        json_t *u = export_ext(ns->n[i], "ann", "[\"external_id\",\"custom_attributes\"]");
        assert_non_null(u);
        assert_json_equal(u, "{\"external_id\":\"ann\",\"custom_attributes\":{\"plan\":\"gold\"}}");
        json_decref(u);
    }
    free(details);
    free(segment);
    /* only the owner holds the users: a second import of the same ids changes nothing */
    heap_import(b, "paying", "[{\"user_ids\":[\"ann\",\"cid\"]}]");
    http_get_rest(ns->n[0], "/cohorts/details?partner=heap&cohort_id=paying", &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "size")), 2);
    resp_free(&r);
}

static void test_a_forwarded_request_that_reaches_a_non_owner_is_not_forwarded_again(void **state) {
    struct nodes *ns = *state;
    assert_int_equal(owner_of(ns), 0);
    struct server *b = ns->n[1];
    char *auth = strf("Authorization: Bearer %s", b->rest_key);
    const char *headers[] = {auth, "Content-Type: application/json",
                             "X-Cohortd-Forwarded-By: node-x", NULL};
    struct resp r;
    http_req(b, "POST", "/users/track", headers, "{\"attributes\":[{\"external_id\":\"loop\"}]}",
             &r);
    assert_int_equal(r.status, 503);
    const char *why = json_string_value(json_array_get(json_object_get(r.json, "errors"), 0));
    assert_non_null(why);
    assert_non_null(strstr(why, "served by node node-a"));
    assert_non_null(strstr(why, "forwarded here by node node-x"));
    assert_non_null(strstr(why, "does not forward a forwarded request again"));
    resp_free(&r);
    free(auth);
    /* nothing was written */
    assert_null(export_ext(ns->n[0], "loop", "[\"external_id\"]"));
}

/* One integer a query of the nodes' database answers. */
static long long db_int(const char *sql) {
    PGconn *c = PQconnectdb(getenv("COHORTD_STORE"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to the nodes' database: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Polls until the single integer sql gives on the nodes' database is 1; fails after 10 s
 * saying what it waited for. */
static void wait_db_true(const char *sql, const char *what) {
    int64_t t0 = now_ms();
    while (db_int(sql) != 1) {
        if (now_ms() - t0 > 10000)
            fail_msg("%s: not within 10 s", what);
        sleep_ms(20);
    }
}

/* The path of every request the sink got, by external id: how many each user got. */
static int hits_of(struct sink *k, const char *path) {
    int n = 0;
    for (size_t i = 0; i < sink_count(k); i++)
        if (strcmp(sink_get(k, i)->path, path) == 0)
            n++;
    return n;
}

static void test_three_nodes_send_a_campaign_once_per_user_and_deliver_every_event(void **state) {
    struct nodes *ns = *state;
    assert_int_equal(owner_of(ns), 0);
    struct server *b = ns->n[1], *c = ns->n[2];
    char events_url[128], hook_url[128], id[64];
    struct sink *events = sink_start(events_url, sizeof events_url);
    struct sink *hook = sink_start(hook_url, sizeof hook_url);
    *strstr(hook_url, "/ingest") = '\0';
    current_create(b, events_url, "[\"users.behaviors.CustomEvent\"]", 3, id);
    post_status(c, "/users/track",
                "{\"attributes\":[{\"external_id\":\"u1\",\"plan\":\"trial\"},"
                "{\"external_id\":\"u2\",\"plan\":\"trial\"},{\"external_id\":\"u3\","
                "\"plan\":\"trial\"},{\"external_id\":\"u4\",\"plan\":\"pro\"}]}",
                201);
    /* ten events, each sent to another node */
    for (int i = 0; i < 10; i++) {
        char *body = strf("{\"events\":[{\"external_id\":\"u%d\",\"name\":\"e%d\",\"time\":"
                          "\"2024-05-02T08:15:00Z\"}]}",
                          1 + i % 4, i);
        post_status(ns->n[i % N_NODES], "/users/track", body, 201);
        free(body);
    }
    char *segment = post_created(b, "/segments/create",
                                 "{\"name\":\"trial\",\"filter\":{\"attribute\":\"plan\","
                                 "\"op\":\"equals\",\"value\":\"trial\"}}",
                                 "segment_id");
    char *create = strf("{\"name\":\"Nudge\",\"segment_id\":\"%s\",\"schedule\":{\"type\":"
                        "\"api_triggered\"},\"message\":{\"webhook\":{\"url\":\"%s/to/"
                        "{{${external_id}}}\"}}}",
                        segment, hook_url);
    char *campaign = post_created(c, "/campaigns/create", create, "campaign_id");
    char *send = strf("{\"campaign_id\":\"%s\",\"broadcast\":true}", campaign);
    post_status(b, "/campaigns/trigger/send", send, 201);
    assert_int_equal(sink_wait_requests(hook, 3, 10000), 3);
    /* the dispatch is finished (every outcome recorded): no node's sender has it to send again */
    char *finished = strf("SELECT count(*) FROM dispatches d JOIN campaigns c ON c.id = "
                          "d.campaign WHERE c.public_id = '%s' AND d.finished_at > 0",
                          campaign);
    wait_db_true(finished, "the campaign's dispatch never finished");
    free(finished);
    assert_int_equal(sink_count(hook), 3);
    for (int u = 1; u <= 3; u++) {
        char path[16];
        snprintf(path, sizeof path, "/to/u%d", u);
        assert_int_equal(hits_of(hook, path), 1);
    }
    /* each of the ten events reached the sink (at least once) */
    assert_true(sink_wait_events(events, 10, 10000) >= 10);
    json_t *all = sink_accepted_events(events);
    for (int i = 0; i < 10; i++) {
        char name[8];
        snprintf(name, sizeof name, "e%d", i);
        bool seen = false;
        size_t j;
        json_t *e;
        json_array_foreach(all, j, e) {
            const char *n =
                json_string_value(json_object_get(json_object_get(e, "properties"), "name"));
            if (n && strcmp(n, name) == 0)
                seen = true;
        }
        if (!seen)
            fail_msg("event %s never reached the Currents sink", name);
    }
    /* with one owner all along, only its dispatcher delivered them: each exactly once, once
     * the stored position is past the last of them (nothing before it is sent again) */
    wait_db_true("SELECT CASE WHEN position >= (SELECT max(seq) FROM outbox WHERE event_type = "
                 "'users.behaviors.CustomEvent') THEN 1 ELSE 0 END FROM currents",
                 "the Current's position never passed the ten events");
    json_decref(all);
    all = sink_accepted_events(events);
    assert_int_equal(json_array_size(all), 10);
    json_decref(all);
    free(send);
    free(campaign);
    free(create);
    free(segment);
    sink_stop(hook);
    sink_stop(events);
}

struct killer {
    pid_t pid;
    int after_ms;
};

static void *kill_later(void *arg) {
    struct killer *k = arg;
    sleep_ms(k->after_ms);
    kill(k->pid, SIGKILL);
    return NULL;
}

static void test_kill_9_of_the_owner_during_imports_loses_no_acknowledged_change(void **state) {
    struct nodes *ns = *state;
    struct server *a = ns->n[0];
    assert_int_equal(owner_of(ns), 0);
    /* a stream of writes to the owner; it is killed in the middle of it */
    struct killer k = {a->pid, 400};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kill_later, &k), 0);
    int acked[2000];
    int n_acked = 0, refused = 0;
    for (int i = 0; i < 2000 && refused < 3; i++) {
        char *body = strf("{\"attributes\":[{\"external_id\":\"s%d\",\"n\":%d}]}", i, i);
        struct resp r;
        http_post_rest(a, "/users/track", body, &r);
        if (r.status == 201)
            acked[n_acked++] = i;
        else
            refused++;
        resp_free(&r);
        free(body);
    }
    int64_t t_dead = now_ms();
    pthread_join(t, NULL);
    server_kill(a); /* reaps it */
    assert_true(n_acked > 0);
    int o = wait_new_owner(ns, 0, LEASE_MS + 5000);
    int64_t took = now_ms() - t_dead;
    printf("take-over after kill -9: %lld ms (lease %d ms), %d acknowledged imports\n",
           (long long)took, LEASE_MS, n_acked);
    for (int j = 0; j < n_acked; j++) {
        char ext[16];
        snprintf(ext, sizeof ext, "s%d", acked[j]);
        json_t *u = export_ext(ns->n[o], ext, "[\"external_id\"]");
        if (!u)
            fail_msg("s%d was acknowledged by the killed owner but node %d does not have it",
                     acked[j], o);
        json_decref(u);
    }
}

static void test_an_owner_frozen_past_its_lease_never_believes_it_still_owns(void **state) {
    struct nodes *ns = *state;
    struct server *a = ns->n[0];
    assert_int_equal(owner_of(ns), 0);
    kill(a->pid, SIGSTOP);
    ns->frozen[0] = true;
    (void)wait_new_owner(ns, 0, LEASE_MS + 5000);
    kill(a->pid, SIGCONT);
    ns->frozen[0] = false;
    /* node a wakes up with its lease long gone: sample every node while it notices. The lease
     * may change hands again meanwhile (a 1 s lease on a loaded machine can run out), which is
     * allowed; two nodes saying they own it at once is not (owner_of fails then). */
    int64_t t0 = now_ms();
    while (now_ms() - t0 < 2 * LEASE_MS) {
        (void)owner_of(ns);
        sleep_ms(10);
    }
    /* a write sent to node a now: 201 means it was applied once, by the owner, and every node
     * sees it; 503 means it was applied nowhere */
    struct resp r;
    http_post_rest(a, "/users/track", "{\"attributes\":[{\"external_id\":\"late\"}]}", &r);
    assert_true(r.status == 201 || r.status == 503);
    long status = r.status;
    resp_free(&r);
    if (status == 503)
        printf("the late write was refused (503)\n");
    for (int i = 0; i < N_NODES; i++) {
        json_t *u = export_ext(ns->n[i], "late", "[\"external_id\"]");
        if (status == 201 && !u)
            fail_msg("node %d answered 201 to the late write, node %d does not have it", 0, i);
        if (status == 503 && u)
            fail_msg("node 0 answered 503 to the late write, node %d has it", i);
        if (u)
            assert_json_equal(u, "{\"external_id\":\"late\"}");
        json_decref(u);
    }
}

/* Runs one statement on the database of the nodes (COHORTD_STORE). */
static void db_exec(const char *sql) {
    PGconn *c = PQconnectdb(getenv("COHORTD_STORE"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to the nodes' database: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* Hands the workspace's lease to a node "node-x" at `address` for a minute, as if it had taken
 * it, and waits until no node says it owns the workspace any more. */
static void lease_to_elsewhere(struct nodes *ns, const char *address) {
    char *sql = strf("UPDATE workspace_leases SET holder = 'node-x', address = '%s', "
                     "expires_at = (extract(epoch from clock_timestamp()) * 1000)::bigint + "
                     "60000, epoch = epoch + 1",
                     address);
    db_exec(sql);
    free(sql);
    int64_t t0 = now_ms();
    while (owner_of(ns) >= 0) {
        if (now_ms() - t0 > 5 * LEASE_MS)
            fail_msg("a node still says it owns the workspace after its lease was taken");
        sleep_ms(20);
    }
}

static void test_a_forward_carries_headers_longer_than_192_bytes_whole_both_ways(void **state) {
    struct nodes *ns = *state;
    struct server *a = ns->n[0];
    char *long_name = repeat('n', 400);
    char *answer = strf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Content-Disposition: attachment; filename=\"%s.csv\"\r\n"
                        "Content-Length: 28\r\nConnection: close\r\n\r\n"
                        "{\"message\":\"from the owner\"}",
                        long_name);
    struct fake_owner *f = fake_owner_start(answer);
    char *address = strf("http://127.0.0.1:%d", f->port);
    lease_to_elsewhere(ns, address);
    char *hash = repeat('h', 700);
    char *auth = strf("Authorization: Bearer %s", a->rest_key);
    char *hash_line = strf("Heap-Hash: %s", hash);
    const char *headers[] = {auth, "Content-Type: application/json", hash_line, NULL};
    struct resp r;
    http_req(a, "POST", "/users/track", headers, "{\"attributes\":[{\"external_id\":\"h\"}]}", &r);
    assert_resp(&r, 200, "{\"message\":\"from the owner\"}");
    char got[1024];
    resp_header(&r, "Content-Disposition", got, sizeof got);
    char *want = strf("attachment; filename=\"%s.csv\"", long_name);
    assert_string_equal(got, want); /* the answer's header, whole */
    free(want);
    resp_free(&r);
    char *sent = fake_owner_header(f, "Heap-Hash");
    assert_non_null(sent);
    assert_string_equal(sent, hash); /* the request's header, whole */
    free(sent);
    /* an answer with more headers to relay than a response holds: a loud 502, not a part */
    char *many = strdup("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nSet-Cookie: c=3\r\n"
                        "Set-Cookie: d=4\r\nSet-Cookie: e=5\r\nSet-Cookie: f=6\r\n"
                        "Set-Cookie: g=7\r\nSet-Cookie: h=8\r\nSet-Cookie: i=9\r\n"
                        "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
    fake_owner_answer(f, many);
    http_req(a, "POST", "/users/track", headers, "{\"attributes\":[{\"external_id\":\"h\"}]}", &r);
    char *expect = strf("{\"message\":\"Bad Gateway\",\"errors\":[\"the answer of the node that "
                        "owns this workspace (%s) could not be relayed whole (header "
                        "Set-Cookie)\"]}",
                        address);
    assert_resp(&r, 502, expect);
    resp_free(&r);
    char *log = server_log(a);
    assert_non_null(strstr(log, "header Set-Cookie of the answer could not be relayed"));
    free(log);
    free(expect);
    fake_owner_stop(f);
    free(many);
    free(hash_line);
    free(auth);
    free(hash);
    free(address);
    free(answer);
    free(long_name);
}

static void
test_a_dashboard_session_works_on_every_node_and_its_logout_ends_it_everywhere(void **state) {
    struct nodes *ns = *state;
    assert_int_equal(owner_of(ns), 0);
    struct server *a = ns->n[0], *b = ns->n[1], *c = ns->n[2];
    dashboard_add_user(a, "ann@example.com", "admin", "ann's long password");
    /* logged in through a node that does not own the workspace */
    struct dashboard_login l;
    dashboard_login(b, "ann@example.com", "ann's long password", &l);
    for (int i = 0; i < N_NODES; i++) {
        struct resp r;
        dashboard_req(ns->n[i], &l, false, "GET", "/dashboard/api/session", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "email")), "ann@example.com");
        assert_string_equal(json_string_value(json_object_get(r.json, "csrf_token")), l.csrf);
        resp_free(&r);
        dashboard_expect(ns->n[i], &l, "GET", "/cohorts/list", NULL, 200,
                         "{\"message\":\"success\",\"cohorts\":[]}");
    }
    /* a write through the third node, forwarded to the owner with the CSRF token */
    struct resp r;
    dashboard_req(c, &l, true, "POST", "/segments/create",
                  "{\"name\":\"gold\",\"filter\":{\"attribute\":\"plan\",\"op\":\"equals\","
                  "\"value\":\"gold\"}}",
                  &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    dashboard_req(c, &l, false, "POST", "/segments/create", "{\"name\":\"x\"}", &r);
    assert_resp(&r, 403, "{\"message\":\"missing or wrong CSRF token\"}");
    resp_free(&r);
    /* a browser with more cookies than the session's: the Cookie header (over 600 bytes) is
     * forwarded whole, so the owner finds the session at its end */
    char *other = repeat('x', 700);
    char *cookie = strf("Cookie: other=%s; %s", other, l.cookie);
    const char *headers[] = {cookie, NULL};
    http_req(b, "GET", "/cohorts/list", headers, NULL, &r);
    assert_resp(&r, 200, "{\"message\":\"success\",\"cohorts\":[]}");
    resp_free(&r);
    /* a logout through one node ends the session on every node */
    dashboard_expect(c, &l, "POST", "/dashboard/api/logout", NULL, 200,
                     "{\"message\":\"success\"}");
    for (int i = 0; i < N_NODES; i++) {
        dashboard_expect(ns->n[i], &l, "GET", "/dashboard/api/session", NULL, 401,
                         "{\"message\":\"not logged in\"}");
        dashboard_expect(ns->n[i], &l, "GET", "/cohorts/list", NULL, 401,
                         "{\"message\":\"not logged in\"}");
    }
    /* and a node restart does not log anyone out: the others share the session */
    struct dashboard_login l2;
    dashboard_login(a, "ann@example.com", "ann's long password", &l2);
    server_stop(b);
    server_start(b);
    dashboard_expect(b, &l2, "GET", "/cohorts/list", NULL, 200,
                     "{\"message\":\"success\",\"cohorts\":[]}");
    free(cookie);
    free(other);
}

static void test_a_batch_delivered_after_the_lease_went_does_not_move_the_position(void **state) {
    struct nodes *ns = *state;
    struct server *a = ns->n[0];
    assert_int_equal(owner_of(ns), 0);
    char url[128], id[64];
    struct sink *k = sink_start(url, sizeof url);
    current_create(a, url, "[\"users.behaviors.CustomEvent\"]", 1, id);
    sink_delay(k, 2000); /* the answer comes after the lease changed hands */
    post_status(a, "/users/track",
                "{\"events\":[{\"external_id\":\"u1\",\"name\":\"late\",\"time\":"
                "\"2024-05-02T08:15:00Z\"}]}",
                201);
    assert_int_equal(sink_wait_requests(k, 1, 10000), 1); /* in flight now */
    lease_to_elsewhere(ns, "http://127.0.0.1:1");
    /* the 2xx arrives at a node that no longer holds the lease, or the node abandoned the
     * request when it dropped the workspace: either way nothing is recorded */
    int64_t t0 = now_ms();
    for (;;) {
        char *log = server_log(a);
        bool seen = strstr(log, "op=record_delivery events=1 result=\"lease lost") != NULL ||
                    strstr(log, "op=abandon events=1") != NULL;
        free(log);
        if (seen)
            break;
        if (now_ms() - t0 > 10000)
            fail_msg("node a never logged that it could not record the delivery");
        sleep_ms(20);
    }
    assert_int_equal(db_int("SELECT position FROM currents"), 0);
    assert_int_equal(db_int("SELECT n_delivered FROM currents"), 0);
    /* and no node sends it meanwhile: the lease is node-x's */
    sleep_ms(300);
    assert_int_equal(sink_count(k), 1);
    sink_stop(k);
}

/* Whether the store's claim of node_id has run out (no live process holds the id). */
static bool node_claim_expired(const char *node_id) {
    PGconn *c = PQconnectdb(getenv("COHORTD_STORE"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to the nodes' database: %s", PQerrorMessage(c));
    const char *params[] = {node_id};
    PGresult *r = PQexecParams(c,
                               "SELECT expires_at <= (extract(epoch from clock_timestamp()) * "
                               "1000)::bigint FROM cohortd_nodes WHERE node_id = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("no node row for %s: %s", node_id, PQresultErrorMessage(r));
    bool expired = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    PQfinish(c);
    return expired;
}

static void
test_a_second_process_with_a_live_node_id_refuses_to_start_and_a_replaced_one_owns_nothing(
    void **state) {
    struct nodes *ns = *state;
    assert_int_equal(owner_of(ns), 0);
    struct server *a = ns->n[0], *b = ns->n[1];
    /* node-b is running: another process started as node-b stops with exit 2 and says why */
    char dir[] = "/tmp/cohortd-e2e-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct server twin = *b;
    snprintf(twin.data, sizeof twin.data, "%s", dir);
    const char *args[] = {"serve",  "--listen",     "127.0.0.1:0", "--node-id",
                          "node-b", "--lease-time", "1s",          NULL};
    char *err = NULL;
    int64_t t0 = now_ms();
    assert_int_equal(run_cli_limited(&twin, args, 30, NULL, &err), 2);
    printf("the twin was refused after %lld ms\n", (long long)(now_ms() - t0));
    if (!strstr(err, "node id node-b is in use by another running process") ||
        !strstr(err, "give every node its own --node-id"))
        fail_msg("unexpected error: %s", err);
    free(err);
    char *rm = strf("rm -rf '%s'", dir);
    assert_int_equal(system(rm), 0);
    free(rm);
    assert_int_equal(owns(b, a), 0); /* node-b carries on */
    /* node-b stalls past its claim and a new process takes the id over: once node-b wakes up
     * it never owns a workspace again, even when the workspace's owner dies */
    kill(b->pid, SIGSTOP);
    ns->frozen[1] = true;
    t0 = now_ms();
    while (!node_claim_expired("node-b")) {
        if (now_ms() - t0 > 10 * LEASE_MS)
            fail_msg("the claim of the stalled node-b never ran out");
        sleep_ms(20);
    }
    struct server *b2 = node_join(a, 1);
    /* healthy is not claimed: the new process claims the id just after it listens. Were the
     * stalled one woken first, it would renew its own lapsed claim (nobody else held the id) */
    t0 = now_ms();
    while (node_claim_expired("node-b")) { /* node-b is stopped: a live claim is the new one's */
        if (now_ms() - t0 > 10 * LEASE_MS)
            fail_msg("the new node-b never claimed its id");
        sleep_ms(20);
    }
    kill(b->pid, SIGCONT);
    ns->frozen[1] = false;
    server_kill(a);
    /* sampled until some node took it over and for three lease times at least: the replaced
     * node-b never says it owns the workspace */
    int64_t t1 = now_ms();
    bool taken = false;
    while (now_ms() - t1 < 3 * LEASE_MS || (!taken && now_ms() - t1 < LEASE_MS + 10000)) {
        if (owns(b, a) == 1)
            fail_msg("the replaced node-b took the workspace");
        if (owns(ns->n[2], a) == 1 || owns(b2, a) == 1)
            taken = true;
        sleep_ms(20);
    }
    assert_true(taken);
    char *log = server_log(b);
    assert_non_null(strstr(log, "op=node_lost node_id=node-b"));
    free(log);
    server_cleanup(b2);
    free(b2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_exactly_one_node_owns_a_workspace_and_healthz_says_which, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_writes_sent_to_non_owners_are_applied_once_and_seen_from_every_node, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_forwarded_request_that_reaches_a_non_owner_is_not_forwarded_again, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_three_nodes_send_a_campaign_once_per_user_and_deliver_every_event, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_kill_9_of_the_owner_during_imports_loses_no_acknowledged_change, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_owner_frozen_past_its_lease_never_believes_it_still_owns, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_forward_carries_headers_longer_than_192_bytes_whole_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_dashboard_session_works_on_every_node_and_its_logout_ends_it_everywhere, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_second_process_with_a_live_node_id_refuses_to_start_and_a_replaced_one_owns_nothing,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_batch_delivered_after_the_lease_went_does_not_move_the_position, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
