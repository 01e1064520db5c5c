/*
 * test_load_shedding.c — a workspace's writes are bounded: past --max-queued-writes waiting
 * writes, or after --queue-timeout-ms of waiting, a write is answered at once with 429,
 * Retry-After and the API's error body, and changes nothing; every 2xx write is stored. One
 * tenant's full queue neither refuses nor stalls another workspace's reads and writes, because
 * the refused requests give their HTTP threads back.
 *
 * Commits are made slow with COHORTD_STORE_COMMIT_DELAY_MS (test builds only,
 * docs/internals/faults.md), so the queue fills on purpose.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_BODY                                                                                  \
    "{\"message\":\"Too Many Requests\",\"errors\":[\"too many writes to this workspace are "      \
    "waiting; nothing was changed, retry after the Retry-After delay\"]}"

/* The commit delay of these tests: long enough that a queue forms on a loaded machine. */
#define DELAY_MS 800
/* The longest a 429 may take in the queue-bound test: three requests on one HTTP thread, each
 * waiting out the 1500 ms queue timeout and a commit, plus 2 s for a loaded (sanitized, shared)
 * machine to schedule them (a slowest 429 of 7.2-7.9 s was seen there against 6.9 s) */
#define REFUSAL_BOUND_MS (3 * (1500 + DELAY_MS) + 2000)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One write attempt: the user it tried to create and what it got. */
struct attempt {
    char ext[32];
    long status;
    double ms;
};

#define MAX_ATTEMPTS 64

/* A client that writes one new user per request to workspace s until told to stop (or once,
 * when `once`), honouring Retry-After after a 429 as a well-behaved client does. */
struct client {
    const struct server *s;
    int no;
    bool once;
    atomic_bool *stop;
    pthread_barrier_t *start;
    atomic_int *n_busy;
    atomic_int *n_ok;
    struct attempt at[MAX_ATTEMPTS];
    int n;
    int bad; /* answers other than 201 or the exact 429 */
};

/* Asserts a 429 is the API's exact one; returns false (and prints why) otherwise. */
static bool busy_reply_ok(const struct resp *r) {
    json_t *want = json_loads(BUSY_BODY, 0, NULL);
    bool ok = r->json && json_equal(r->json, want) && strstr(r->headers, "Retry-After: 1\r\n");
    json_decref(want);
    if (!ok)
        print_error("unexpected 429: headers %s body %s\n", r->headers, r->body);
    return ok;
}

static void *client_run(void *arg) {
    struct client *c = arg;
    if (c->start)
        pthread_barrier_wait(c->start);
    while (c->n < MAX_ATTEMPTS && !atomic_load(c->stop)) {
        struct attempt *a = &c->at[c->n++];
        snprintf(a->ext, sizeof a->ext, "a-%d-%d", c->no, c->n);
        char *body = strf("{\"attributes\":[{\"external_id\":\"%s\",\"n\":%d}]}", a->ext, c->n);
        struct resp r;
        double t0 = now_ms();
        http_post_rest(c->s, "/users/track", body, &r);
        a->ms = now_ms() - t0;
        a->status = r.status;
        free(body);
        if (r.status == 201) {
            atomic_fetch_add(c->n_ok, 1);
        } else if (r.status == 429 && busy_reply_ok(&r)) {
            atomic_fetch_add(c->n_busy, 1);
        } else {
            print_error("client %d: status %ld body %s\n", c->no, r.status, r.body);
            c->bad++;
        }
        resp_free(&r);
        if (c->once)
            break;
        if (a->status == 429) /* Retry-After: 1 */
            for (int i = 0; i < 20 && !atomic_load(c->stop); i++)
                sleep_ms(50);
    }
    return NULL;
}

/* A second workspace on the same server: s's fixture with that workspace's REST key. */
static struct server second_workspace(const struct server *s) {
    const char *args[] = {"workspace", "create", "other tenant", "--json", NULL};
    char *out = NULL;
    assert_int_equal(run_cli(s, args, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "rest_api_key")));
    struct server b = *s;
    snprintf(b.rest_key, sizeof b.rest_key, "%s",
             json_string_value(json_object_get(j, "rest_api_key")));
    json_decref(j);
    free(out);
    return b;
}

/* Every attempt that got 201 is stored and every refused one is not: the API's view and the
 * row count of the file agree. Returns the number stored. */
static long assert_stored_exactly_the_acknowledged(struct server *s, struct client *c, int n_c) {
    long ok = 0;
    for (int i = 0; i < n_c; i++)
        for (int k = 0; k < c[i].n; k++) {
            json_t *u = export_ext(s, c[i].at[k].ext, "[\"external_id\"]");
            if (c[i].at[k].status == 201) {
                ok++;
                if (!u)
                    fail_msg("%s was acknowledged (201) but is not stored", c[i].at[k].ext);
            } else if (u) {
                fail_msg("%s was refused (%ld) but is stored", c[i].at[k].ext, c[i].at[k].status);
            }
            json_decref(u);
        }
    assert_int_equal(sql_count(s, "SELECT count(*) FROM users WHERE external_id LIKE 'a-%'"), ok);
    return ok;
}

static void
test_writes_past_the_queue_bound_get_429_at_once_and_other_tenants_are_served(void **state) {
    (void)state;
#ifndef COHORTD_FAULTS
    skip(); /* COHORTD_STORE_COMMIT_DELAY_MS is compiled in only with -DCOHORTD_FAULTS=ON */
#endif
    struct server s;
    server_init(&s);
    const char *args[] = {"--threads", "4", "--max-queued-writes", "2", "--queue-timeout-ms",
                          "1500",      NULL};
    memcpy(s.extra_args, args, sizeof args);
    char delay[16];
    snprintf(delay, sizeof delay, "%d", DELAY_MS);
    setenv("COHORTD_STORE_COMMIT_DELAY_MS", delay, 1);
    server_start(&s);
    unsetenv("COHORTD_STORE_COMMIT_DELAY_MS");
    struct server b = second_workspace(&s);
    post_expect(&b, "/users/track", "{\"attributes\":[{\"external_id\":\"b-0\"}]}", 201,
                "{\"message\":\"success\",\"attributes_processed\":1}");

    /* 12 clients on workspace A, 4 HTTP threads: without a bound every thread waits on A */
    enum { N_CLIENTS = 12 };
    static struct client c[N_CLIENTS];
    atomic_bool stop = false;
    atomic_int n_busy = 0, n_ok = 0;
    pthread_t th[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        c[i] = (struct client){.s = &s, .no = i, .stop = &stop, .n_busy = &n_busy, .n_ok = &n_ok};
        pthread_create(&th[i], NULL, client_run, &c[i]);
    }
    /* A's queue is full once refusals come back */
    for (int i = 0; i < 600 && atomic_load(&n_busy) < N_CLIENTS / 2; i++)
        sleep_ms(50);
    assert_true(atomic_load(&n_busy) >= N_CLIENTS / 2);

    /* meanwhile workspace B: a read answers without waiting for any of A's writes, a write
     * after at most the one commit of A's that holds the store's writer, plus its own */
    struct resp r;
    double t0 = now_ms();
    http_post_rest(&b, "/users/export/ids",
                   "{\"external_ids\":[\"b-0\"],\"fields_to_export\":[\"external_id\"]}", &r);
    double read_ms = now_ms() - t0;
    assert_resp(&r, 200, "{\"message\":\"success\",\"users\":[{\"external_id\":\"b-0\"}]}");
    resp_free(&r);
    t0 = now_ms();
    http_post_rest(&b, "/users/track", "{\"attributes\":[{\"external_id\":\"b-1\"}]}", &r);
    double write_ms = now_ms() - t0;
    assert_resp(&r, 201, "{\"message\":\"success\",\"attributes_processed\":1}");
    resp_free(&r);
    atomic_store(&stop, true);
    for (int i = 0; i < N_CLIENTS; i++)
        pthread_join(th[i], NULL);
    print_message("workspace B while A sheds: read %.0f ms, write %.0f ms; A: %d ok, %d 429\n",
                  read_ms, write_ms, atomic_load(&n_ok), atomic_load(&n_busy));
    assert_true(read_ms < DELAY_MS / 2.0);
    assert_true(write_ms < 3 * DELAY_MS);

    int bad = 0;
    double worst_refusal = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        bad += c[i].bad;
        for (int k = 0; k < c[i].n; k++)
            if (c[i].at[k].status == 429 && c[i].at[k].ms > worst_refusal)
                worst_refusal = c[i].at[k].ms;
    }
    assert_int_equal(bad, 0);
    assert_true(atomic_load(&n_ok) >= 1);
    /* no request waits unboundedly: a 429 comes at once when the queue is full, or after the
     * timeout (the mutex is not fair: without it a waiter can be overtaken for ever). A
     * connection that sat on an HTTP thread busy with A's writes waits for those requests too,
     * each bounded the same way: at most 3 here (12 clients on 4 threads), plus scheduling */
    print_message("slowest 429: %.0f ms\n", worst_refusal);
    assert_true(worst_refusal < REFUSAL_BOUND_MS);
    assert_int_equal(assert_stored_exactly_the_acknowledged(&s, c, N_CLIENTS), atomic_load(&n_ok));
    json_t *u = export_ext(&b, "b-1", "[\"external_id\"]");
    assert_non_null(u);
    json_decref(u);

    /* the same holds after a restart: what was acknowledged is on disk, nothing else */
    server_stop(&s);
    server_start(&s);
    assert_stored_exactly_the_acknowledged(&s, c, N_CLIENTS);
    server_cleanup(&s);
}

static void
test_a_write_that_waits_past_the_queue_timeout_gets_429_and_changes_nothing(void **state) {
    (void)state;
#ifndef COHORTD_FAULTS
    skip();
#endif
    struct server s;
    server_init(&s);
    const char *args[] = {"--max-queued-writes", "100", "--queue-timeout-ms", "300", NULL};
    memcpy(s.extra_args, args, sizeof args);
    char delay[16];
    snprintf(delay, sizeof delay, "%d", DELAY_MS);
    setenv("COHORTD_STORE_COMMIT_DELAY_MS", delay, 1);
    server_start(&s);
    unsetenv("COHORTD_STORE_COMMIT_DELAY_MS");

    /* 4 writes at once: one commits (DELAY_MS), the others wait for it; 300 ms is too long.
     * "At once" is the clients' doing, not the server's: libmicrohttpd may hand all four
     * connections to one HTTP thread, which then serves them one after another (seen under
     * TSan on a loaded machine), so a round in which no write met another is sent again. */
    enum { N_CLIENTS = 4, MAX_ROUNDS = 3 };
    static struct client c[MAX_ROUNDS][N_CLIENTS];
    atomic_bool stop = false;
    atomic_int n_busy = 0, n_ok = 0;
    int rounds = 0;
    int bad = 0;
    while (rounds < MAX_ROUNDS && atomic_load(&n_busy) == 0) {
        struct client *round = c[rounds++];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N_CLIENTS);
        pthread_t th[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) {
            round[i] = (struct client){.s = &s,
                                       .no = (rounds - 1) * N_CLIENTS + i,
                                       .once = true,
                                       .stop = &stop,
                                       .start = &start,
                                       .n_busy = &n_busy,
                                       .n_ok = &n_ok};
            pthread_create(&th[i], NULL, client_run, &round[i]);
        }
        for (int i = 0; i < N_CLIENTS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < N_CLIENTS; i++) {
            bad += round[i].bad;
            if (round[i].at[0].status == 429) {
                /* after the timeout, not after the writes ahead of it (2 or 3 × DELAY_MS) */
                print_message("429 after %.0f ms\n", round[i].at[0].ms);
                assert_true(round[i].at[0].ms >= 300);
                assert_true(round[i].at[0].ms < 1.5 * DELAY_MS);
            }
        }
    }
    print_message("rounds: %d\n", rounds);
    assert_int_equal(bad, 0);
    assert_true(atomic_load(&n_ok) >= 1);
    assert_true(atomic_load(&n_busy) >= 1);
    assert_int_equal(assert_stored_exactly_the_acknowledged(&s, c[0], rounds * N_CLIENTS),
                     atomic_load(&n_ok));
    server_cleanup(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_writes_past_the_queue_bound_get_429_at_once_and_other_tenants_are_served),
        cmocka_unit_test(
            test_a_write_that_waits_past_the_queue_timeout_gets_429_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
