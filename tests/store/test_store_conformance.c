/*
 * test_store_conformance.c — one body of tests over `const struct store_ops`, run against every
 * backend: SQLite (a file in a temporary directory) and PostgreSQL (a fresh database per test
 * on the throwaway server of tests/pg/with-pg.sh, whose URL is COHORTD_TEST_PG_URL). The tests
 * check the promises of docs/internals/store.md — a transaction applies whole or not at all,
 * reads inside it see its writes and nobody else does before the commit, uids are never
 * reused, outbox sequences follow commit order, a checkpoint drops the log rows it covers, an
 * "any time" write inside a transaction fails instead of hanging, a constraint answers
 * CD_E_EXISTS and the transaction goes on — and each op group's round trip, and that what was
 * committed is there after the store is closed and opened again.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

struct fx {
    char url[512];
    char dir[256]; /* SQLite: the temporary directory */
    struct store *s;
    const struct store_ops *ops;
};

static void fx_open(struct fx *f) {
    char msg[512] = "";
    enum cd_err err = store_open(f->url, &f->s, msg, sizeof msg);
    if (err != CD_OK)
        fail_msg("store_open(%s): %s", f->url, msg);
    f->ops = STORE_OPS(f->s);
}

static void fx_reopen(struct fx *f) {
    store_close(f->s);
    f->s = NULL;
    fx_open(f);
}

static int setup_sqlite(void **state) {
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/cohortd-conf.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:%s/store.db", f->dir);
    fx_open(f);
    *state = f;
    return 0;
}

/* A fresh database on the test server for every test. */
static int setup_postgres(void **state) {
    static atomic_int n_db;
    const char *base = getenv("COHORTD_TEST_PG_URL");
    if (!base || !*base)
        fail_msg("COHORTD_TEST_PG_URL is not set: run this test through tests/pg/with-pg.sh");
    struct fx *f = calloc(1, sizeof *f);
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", base, PQerrorMessage(c));
    char name[64], sql[128];
    snprintf(name, sizeof name, "conformance_%d_%d", (int)getpid(), atomic_fetch_add(&n_db, 1));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    const char *slash = strrchr(base, '/');
    assert_non_null(slash);
    snprintf(f->url, sizeof f->url, "%.*s/%s", (int)(slash - base), base, name);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    store_close(f->s);
    if (*f->dir) {
        char path[600];
        const char *names[] = {"store.db", "store.db-wal", "store.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
            unlink(path);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* ---- helpers ---- */

static int64_t make_ws(struct fx *f, const char *name) {
    int64_t id = 0;
    char pub[64];
    snprintf(pub, sizeof pub, "pub-%s", name);
    assert_int_equal(f->ops->admin->workspace_create(f->s, pub, name, 1000, &id), CD_OK);
    assert_true(id > 0);
    return id;
}

static void put_user(struct fx *f, struct store_txn *t, int64_t ws, uint32_t uid, const char *ext) {
    char braze[32];
    snprintf(braze, sizeof braze, "braze-%u", uid);
    struct user_row u = {.uid = uid,
                         .braze_id = braze,
                         .external_id = ext,
                         .attrs = "{}",
                         .created_at = 10,
                         .updated_at = 10};
    assert_int_equal(f->ops->users->insert(t, ws, &u), CD_OK);
}

struct user_copy {
    int n;
    uint32_t uid;
    char braze[64], ext[64], attrs[256];
    bool has_ext, deleted, anon;
    int64_t created_at, updated_at;
};

static void copy_user(void *ctx, const struct user_row *u) {
    struct user_copy *c = ctx;
    c->n++;
    c->uid = u->uid;
    snprintf(c->braze, sizeof c->braze, "%s", u->braze_id);
    c->has_ext = u->external_id != NULL;
    snprintf(c->ext, sizeof c->ext, "%s", u->external_id ? u->external_id : "");
    snprintf(c->attrs, sizeof c->attrs, "%s", u->attrs ? u->attrs : "");
    c->deleted = u->deleted;
    c->anon = u->created_anonymous;
    c->created_at = u->created_at;
    c->updated_at = u->updated_at;
}

static enum cd_err get_user(struct fx *f, struct store_txn *t, int64_t ws, uint32_t uid,
                            struct user_copy *c) {
    memset(c, 0, sizeof *c);
    return f->ops->users->get(f->s, t, ws, uid, copy_user, c);
}

/* "uid:a:b;" for each ident row */
static void append_ident(void *ctx, const struct ident_row *r) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%u:%s:%s;", r->uid, r->a, r->b ? r->b : "-");
}

static void count_row(void *ctx, const void *row) {
    (void)row;
    (*(int *)ctx)++;
}

static void count_ws(void *ctx, const struct workspace_row *r) {
    count_row(ctx, r);
}

/* ---- transactions ---- */

static void test_commit_applies_every_write_and_rollback_none(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 1, "one");
    assert_int_equal(f->ops->users->set_attrs(t, ws, 1, "{\"x\":1}", 20), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);

    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 2, "two");
    assert_int_equal(f->ops->users->set_attrs(t, ws, 1, "{\"x\":2}", 30), CD_OK);
    f->ops->rollback(t);

    struct user_copy c;
    assert_int_equal(get_user(f, NULL, ws, 2, &c), CD_E_NOT_FOUND);
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_OK);
    assert_string_equal(c.attrs, "{\"x\":1}");
    assert_int_equal(c.updated_at, 20);
}

static void test_reads_in_a_transaction_see_its_writes_and_others_do_not(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    struct store_txn *t;
    struct user_copy c;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 1, "one");
    assert_int_equal(get_user(f, t, ws, 1, &c), CD_OK);
    assert_string_equal(c.ext, "one");
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_E_NOT_FOUND);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_OK);
}

static void test_uid_next_never_hands_out_a_committed_uid(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    struct store_txn *t;
    uint32_t uid = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->users->uid_next(t, ws, &uid), CD_OK);
    assert_int_equal(uid, 1);
    put_user(f, t, ws, uid, NULL);
    assert_int_equal(f->ops->users->uid_next(t, ws, &uid), CD_OK);
    assert_int_equal(uid, 2);
    put_user(f, t, ws, uid, NULL);
    assert_int_equal(f->ops->commit(t), CD_OK);

    /* a deleted user keeps its uid */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->users->remove(t, ws, 2, 50), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->users->uid_next(t, ws, &uid), CD_OK);
    assert_int_equal(uid, 3);
    assert_int_equal(f->ops->users->uid_next(t, other, &uid), CD_OK);
    assert_int_equal(uid, 1); /* per workspace */
    f->ops->rollback(t);

    struct user_copy c;
    assert_int_equal(get_user(f, NULL, ws, 2, &c), CD_OK);
    assert_true(c.deleted);
}

static void test_a_constraint_answers_exists_and_leaves_no_write(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t id = 0;
    assert_int_equal(f->ops->admin->workspace_create(f->s, "pub-other", "a", 1, &id), CD_E_EXISTS);
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 1, "one");
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 5, NULL);
    struct user_row dup = {.uid = 6, .braze_id = "b6", .external_id = "one", .attrs = "{}"};
    assert_int_equal(f->ops->users->insert(t, ws, &dup), CD_E_EXISTS);
    f->ops->rollback(t);
    struct user_copy c;
    assert_int_equal(get_user(f, NULL, ws, 5, &c), CD_E_NOT_FOUND);
    int n = 0;
    assert_int_equal(f->ops->admin->workspace_list(f->s, count_ws, &n), CD_OK);
    assert_int_equal(n, 1);
}

static void test_an_any_time_write_inside_a_transaction_fails(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    const struct api_key_row key = {.workspace_id = ws, .key_hash = "hash", .name = "k"};
    assert_int_not_equal(f->ops->admin->api_key_add(f->s, &key, 1), CD_OK);
    struct store_txn *t2 = NULL;
    assert_int_not_equal(f->ops->begin(f->s, &t2), CD_OK);
    f->ops->rollback(t);
    assert_int_equal(f->ops->admin->api_key_add(f->s, &key, 1), CD_OK);
}

static void test_a_ticket_commit_is_applied_and_becomes_durable(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    struct store_txn *t;
    uint64_t ticket = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 1, "one");
    assert_int_equal(f->ops->commit_ticket(t, &ticket), CD_OK);
    assert_true(ticket > 0);
    assert_int_equal(f->ops->durable(f->s, ticket), CD_OK);
    fx_reopen(f);
    struct user_copy c;
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_OK);
    assert_true(f->ops->healthy(f->s));
    assert_false(f->ops->full(f->s));
}

/* Split commit: transactions begin while earlier tickets are not durable yet (more of them
 * than a backend keeps commits in flight), their tickets grow, durable answers for each in any
 * order and more than once, and every change is there for an "any time" read once durable. */
static void test_ticket_commits_in_flight_are_each_seen_once_durable(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    enum { N = 12 };
    uint64_t tickets[N];
    for (uint32_t k = 0; k < N; k++) {
        struct store_txn *t;
        char ext[16];
        snprintf(ext, sizeof ext, "u%u", k + 1);
        assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
        put_user(f, t, ws, k + 1, ext);
        assert_int_equal(f->ops->commit_ticket(t, &tickets[k]), CD_OK);
        assert_true(k == 0 || tickets[k] > tickets[k - 1]);
    }
    for (int k = N - 1; k >= 0; k--)
        assert_int_equal(f->ops->durable(f->s, tickets[k]), CD_OK);
    assert_int_equal(f->ops->durable(f->s, tickets[0]), CD_OK);
    for (uint32_t k = 0; k < N; k++) {
        struct user_copy c;
        char ext[16];
        snprintf(ext, sizeof ext, "u%u", k + 1);
        assert_int_equal(get_user(f, NULL, ws, k + 1, &c), CD_OK);
        assert_string_equal(c.ext, ext);
    }
    assert_true(f->ops->healthy(f->s));
}

/* Makes the next COMMIT fail: on SQLite the fault hook on the next commit (test builds), on
 * PostgreSQL a deferred trigger that refuses, at COMMIT, a user whose external id is
 * "refused". False when this build cannot. */
static bool next_commit_fails(struct fx *f) {
    if (*f->dir) {
#ifdef COHORTD_FAULTS
        setenv("COHORTD_FAULT_STORE_CALL", "1:commit", 1);
        fx_reopen(f);
        unsetenv("COHORTD_FAULT_STORE_CALL");
        store_faults_arm();
        return true;
#else
        return false;
#endif
    }
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r =
        PQexec(c, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$BEGIN RAISE EXCEPTION 'refused at commit'; END$$; "
                  "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON users "
                  "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.external_id = 'refused') "
                  "EXECUTE FUNCTION refuse()");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("deferred trigger: %s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return true;
}

/* A ticketed commit that fails is reported — by commit_ticket, or by durable — and applies
 * nothing; a failure durable reports is final (healthy false, later commits fail), as a failed
 * sync is. */
static void test_a_ticket_commit_that_fails_is_reported_and_applies_nothing(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    if (!next_commit_fails(f))
        skip();
    struct store_txn *t;
    uint64_t ticket = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 1, "refused");
    enum cd_err err = f->ops->commit_ticket(t, &ticket);
    if (err == CD_OK) {
        assert_int_equal(f->ops->durable(f->s, ticket), CD_E_STORE);
        assert_int_equal(f->ops->durable(f->s, ticket), CD_E_STORE);
        assert_false(f->ops->healthy(f->s));
        assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
        put_user(f, t, ws, 2, "two");
        assert_int_equal(f->ops->commit(t), CD_E_STORE);
    } else {
        assert_int_equal(err, CD_E_STORE);
    }
    struct user_copy c;
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_E_NOT_FOUND);
    fx_reopen(f);
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_E_NOT_FOUND);
    assert_int_equal(get_user(f, NULL, ws, 2, &c), CD_E_NOT_FOUND);
    assert_true(f->ops->healthy(f->s));
}

/* ---- outbox ---- */

struct seqs {
    int n;
    int64_t seq[16];
    char type[16][32];
};

static void copy_outbox(void *ctx, const struct outbox_row *r) {
    struct seqs *s = ctx;
    if (s->n < 16) {
        s->seq[s->n] = r->seq;
        snprintf(s->type[s->n], sizeof s->type[0], "%s", r->event_type);
        s->n++;
    }
}

static void test_outbox_sequences_follow_commit_order_and_readers_see_committed_only(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    struct store_txn *t;
    int64_t s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "a.one", 100, "{\"n\":1}", &s1), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, other, "b.one", 100, "{}", &s2), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "a.two", 101, "{\"n\":2}", &s3), CD_OK);
    struct seqs got = {0};
    assert_int_equal(f->ops->currents->outbox_after(f->s, ws, 0, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1); /* the open transaction's event is not seen */
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_true(s1 < s2 && s2 < s3);

    memset(&got, 0, sizeof got);
    assert_int_equal(f->ops->currents->outbox_after(f->s, ws, 0, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.seq[0], s1);
    assert_int_equal(got.seq[1], s3);
    assert_string_equal(got.type[1], "a.two");
    memset(&got, 0, sizeof got);
    assert_int_equal(f->ops->currents->outbox_after(f->s, ws, s1, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.seq[0], s3);

    int64_t n = -1, oldest = -1;
    assert_int_equal(f->ops->currents->pending_after(f->s, ws, 0, "[\"a.two\"]", &n), CD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(f->ops->currents->oldest_after(f->s, ws, 0, "[\"a.two\",\"a.one\"]", &oldest),
                     CD_OK);
    assert_int_equal(oldest, 100);

    /* a rolled-back append is never seen, and the next sequence is still higher */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "a.gone", 102, "{}", &s4), CD_OK);
    f->ops->rollback(t);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "a.three", 103, "{}", &s4), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_true(s4 > s3);
    memset(&got, 0, sizeof got);
    assert_int_equal(f->ops->currents->outbox_after(f->s, ws, s3, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.type[0], "a.three");
}

/* ---- admin ---- */

struct ws_copy {
    int n;
    int64_t id;
    char pub[64], name[64];
};

static void copy_ws(void *ctx, const struct workspace_row *r) {
    struct ws_copy *c = ctx;
    c->n++;
    c->id = r->id;
    snprintf(c->pub, sizeof c->pub, "%s", r->public_id);
    snprintf(c->name, sizeof c->name, "%s", r->name);
}

struct key_copy {
    int n;
    int64_t ws, rate_limit, rate_period_s, created_at;
    char hash[32], name[32], permissions[64];
};

static void copy_key(void *ctx, const struct api_key_row *r) {
    struct key_copy *c = ctx;
    c->n++;
    c->ws = r->workspace_id;
    c->rate_limit = r->rate_limit;
    c->rate_period_s = r->rate_period_s;
    c->created_at = r->created_at;
    snprintf(c->hash, sizeof c->hash, "%s", r->key_hash);
    snprintf(c->name, sizeof c->name, "%s", r->name ? r->name : "-");
    /* the list keeps the last key's permissions, and every key's hash in order */
    snprintf(c->permissions, sizeof c->permissions, "%s", r->permissions ? r->permissions : "*");
}

static void test_admin_round_trip(void **state) {
    struct fx *f = *state;
    int64_t a = make_ws(f, "alpha");
    int64_t b = make_ws(f, "beta");
    struct ws_copy c = {0};
    assert_int_equal(f->ops->admin->workspace_find(f->s, "pub-beta", copy_ws, &c), CD_OK);
    assert_int_equal(c.id, b);
    memset(&c, 0, sizeof c);
    assert_int_equal(f->ops->admin->workspace_find(f->s, "alpha", copy_ws, &c), CD_OK);
    assert_int_equal(c.id, a);
    memset(&c, 0, sizeof c);
    assert_int_equal(f->ops->admin->workspace_find(f->s, NULL, copy_ws, &c), CD_OK);
    assert_int_equal(c.id, a);
    assert_int_equal(f->ops->admin->workspace_find(f->s, "nope", copy_ws, &c), CD_E_NOT_FOUND);
    memset(&c, 0, sizeof c);
    assert_int_equal(f->ops->admin->workspace_get(f->s, b, copy_ws, &c), CD_OK);
    assert_string_equal(c.name, "beta");
    memset(&c, 0, sizeof c);
    assert_int_equal(f->ops->admin->workspace_list(f->s, copy_ws, &c), CD_OK);
    assert_int_equal(c.n, 2);

    int64_t ws = 0;
    const struct api_key_row k1 = {.workspace_id = b, .key_hash = "h1", .name = "k1"};
    struct key_copy kc = {0};
    assert_int_equal(f->ops->admin->api_key_add(f->s, &k1, 5), CD_OK);
    assert_int_equal(f->ops->admin->api_key_lookup(f->s, "h1", copy_key, &kc), CD_OK);
    assert_int_equal(kc.ws, b);
    assert_int_equal(f->ops->admin->api_key_revoke(f->s, "h1", 6), CD_OK);
    assert_int_equal(f->ops->admin->api_key_revoke(f->s, "h1", 7), CD_E_NOT_FOUND);
    assert_int_equal(f->ops->admin->api_key_lookup(f->s, "h1", copy_key, &kc), CD_E_NOT_FOUND);

    enum key_check check = KEY_CHECK_REQUIRED;
    assert_int_equal(f->ops->admin->partner_add(f->s, "heap", KEY_CHECK_OFF, "ph", 1), CD_OK);
    assert_int_equal(f->ops->admin->partner_add(f->s, "heap", KEY_CHECK_OFF, "ph2", 1),
                     CD_E_EXISTS);
    assert_int_equal(f->ops->admin->partner_key_check(f->s, "heap", "ph2"), CD_E_NOT_FOUND);
    assert_int_equal(f->ops->admin->partner_get(f->s, "heap", &check), CD_OK);
    assert_int_equal(check, KEY_CHECK_OFF);
    assert_int_equal(f->ops->admin->partner_key_check(f->s, "heap", "ph"), CD_OK);
    assert_int_equal(f->ops->admin->partner_get(f->s, "other", &check), CD_E_NOT_FOUND);

    char key[64], partner[64];
    enum import_key_state st;
    assert_int_equal(f->ops->admin->import_key_active(f->s, a, "heap", key), CD_E_NOT_FOUND);
    assert_int_equal(f->ops->admin->import_key_replace(f->s, a, "heap", "k1", 1), CD_OK);
    assert_int_equal(f->ops->admin->import_key_replace(f->s, a, "heap", "k2", 2), CD_OK);
    assert_int_equal(f->ops->admin->import_key_active(f->s, a, "heap", key), CD_OK);
    assert_string_equal(key, "k2");
    assert_int_equal(f->ops->admin->import_key_lookup(f->s, "k1", &ws, partner, &st), CD_OK);
    assert_int_equal(ws, a);
    assert_string_equal(partner, "heap");
    assert_int_equal(st, IMPORT_KEY_INVALIDATED);
    assert_int_equal(f->ops->admin->import_key_invalidate(f->s, a, "heap", 3), CD_OK);
    assert_int_equal(f->ops->admin->import_key_invalidate(f->s, a, "heap", 4), CD_E_NOT_FOUND);
    assert_int_equal(f->ops->admin->import_key_lookup(f->s, "k2", &ws, partner, &st), CD_OK);
    assert_int_equal(st, IMPORT_KEY_INVALIDATED);

    /* the partner and the import key in one read */
    bool found = true;
    assert_int_equal(
        f->ops->admin->partner_import_key(f->s, "other", "k2", &check, &found, &ws, partner, &st),
        CD_E_NOT_FOUND);
    assert_int_equal(
        f->ops->admin->partner_import_key(f->s, "heap", "nope", &check, &found, &ws, partner, &st),
        CD_OK);
    assert_int_equal(check, KEY_CHECK_OFF);
    assert_false(found);
    assert_int_equal(f->ops->admin->import_key_replace(f->s, b, "heap", "k3", 5), CD_OK);
    assert_int_equal(f->ops->admin->partner_set_check(f->s, "heap", KEY_CHECK_REQUIRED), CD_OK);
    ws = 0;
    assert_int_equal(
        f->ops->admin->partner_import_key(f->s, "heap", "k3", &check, &found, &ws, partner, &st),
        CD_OK);
    assert_int_equal(check, KEY_CHECK_REQUIRED);
    assert_true(found);
    assert_int_equal(ws, b);
    assert_string_equal(partner, "heap");
    assert_int_equal(st, IMPORT_KEY_ACTIVE);
    assert_int_equal(
        f->ops->admin->partner_import_key(f->s, "heap", "k2", &check, &found, &ws, partner, &st),
        CD_OK);
    assert_true(found);
    assert_int_equal(ws, a);
    assert_int_equal(st, IMPORT_KEY_INVALIDATED);
    /* a key of another partner is found, with that partner */
    assert_int_equal(f->ops->admin->partner_add(f->s, "segment", KEY_CHECK_OFF, "sh", 1), CD_OK);
    assert_int_equal(
        f->ops->admin->partner_import_key(f->s, "segment", "k3", &check, &found, &ws, partner, &st),
        CD_OK);
    assert_int_equal(check, KEY_CHECK_OFF);
    assert_true(found);
    assert_string_equal(partner, "heap");
}

/* ---- users ---- */

struct events_copy {
    int n;
    char text[512];
    size_t recent[8];
};

static void copy_event(void *ctx, const struct event_summary_row *r) {
    struct events_copy *c = ctx;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%d:%s:%lld:%lld:%lld;", (int)r->kind, r->name,
             (long long)r->count, (long long)r->first_at, (long long)r->last_at);
    c->n++;
}

static void copy_loaded_event(void *ctx, uint32_t uid, const struct event_summary_row *r) {
    struct events_copy *c = ctx;
    if (c->n < 8) {
        c->recent[c->n] = r->n_recent;
        int64_t newest = 0;
        for (size_t i = 0; i < r->n_recent; i++)
            newest = r->recent[i] > newest ? r->recent[i] : newest;
        size_t n = strlen(c->text);
        snprintf(c->text + n, sizeof c->text - n, "%u:%s:%lld:%zu:%lld;", uid, r->name,
                 (long long)r->count, r->n_recent, (long long)newest);
    }
    c->n++;
}

static void copy_user_list(void *ctx, const struct user_row *u) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%u:%s;", u->uid, u->external_id ? u->external_id : "-");
}

static void test_users_round_trip(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_user_ops *u = f->ops->users;
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    struct user_row anon = {.uid = 1,
                            .braze_id = "b1",
                            .created_anonymous = true,
                            .attrs = "{\"a\":\"x\\\"y\"}",
                            .created_at = 7,
                            .updated_at = 8};
    assert_int_equal(u->insert(t, ws, &anon), CD_OK);
    put_user(f, t, ws, 2, "two");
    put_user(f, t, ws, 3, "three");
    assert_int_equal(u->set_external_id(t, ws, 1, "one", 9), CD_OK);
    struct ident_row aliases[] = {
        {1, "email", "a@x"}, {2, "email", "b@x"}, {1, "email", "b@x"}, {2, "crm", "q\"uote\\d"}};
    assert_int_equal(u->aliases_put(t, ws, aliases, 4), CD_OK);
    assert_int_equal(u->device_put(t, ws, "dev1", 1), CD_OK);
    assert_int_equal(u->device_put(t, ws, "dev1", 2), CD_OK);
    assert_int_equal(u->device_put(t, ws, "dev2", 1), CD_OK);
    struct event_bump_row ev[] = {{1, EVENT_KIND_CUSTOM, "open", 2, 100},
                                  {1, EVENT_KIND_CUSTOM, "open", 1, 50},
                                  {1, EVENT_KIND_PURCHASE, "sku", 3, 70},
                                  {2, EVENT_KIND_CUSTOM, "open", 60, 200}};
    assert_int_equal(u->events_bump(t, ws, ev, 4), CD_OK);
    char text[512] = "";
    assert_int_equal(u->aliases_of(f->s, t, ws, 1, append_ident, text), CD_OK);
    assert_string_equal(text, "1:email:a@x;1:email:b@x;");
    assert_int_equal(f->ops->commit(t), CD_OK);

    struct user_copy c;
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_OK);
    assert_string_equal(c.braze, "b1");
    assert_string_equal(c.ext, "one");
    assert_string_equal(c.attrs, "{\"a\":\"x\\\"y\"}");
    assert_true(c.anon);
    assert_int_equal(c.created_at, 7);
    assert_int_equal(c.updated_at, 9);
    text[0] = '\0';
    assert_int_equal(u->aliases_of(f->s, NULL, ws, 2, append_ident, text), CD_OK);
    assert_string_equal(text, "2:crm:q\"uote\\d;");
    text[0] = '\0';
    assert_int_equal(u->devices_of(f->s, NULL, ws, 1, append_ident, text), CD_OK);
    assert_string_equal(text, "1:dev2:-;");
    struct events_copy e = {0};
    assert_int_equal(u->events_of(f->s, NULL, ws, 1, copy_event, &e), CD_OK);
    assert_string_equal(e.text, "0:open:3:50:100;1:sku:3:70:70;");

    memset(&e, 0, sizeof e);
    assert_int_equal(u->load_events(f->s, ws, copy_loaded_event, &e), CD_OK);
    assert_int_equal(e.n, 3);
    /* custom events keep min(count, STORE_EVENT_RECENT) times */
    assert_non_null(strstr(e.text, "1:open:3:3:100;"));
    assert_non_null(strstr(e.text, "2:open:60:50:200;"));
    assert_non_null(strstr(e.text, "1:sku:3:0:0;"));

    /* merge 1 into 2: events add up, identifiers move */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(u->merge_into(t, ws, 1, 2), CD_OK);
    assert_int_equal(u->remove(t, ws, 1, 99), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&e, 0, sizeof e);
    assert_int_equal(u->events_of(f->s, NULL, ws, 2, copy_event, &e), CD_OK);
    assert_string_equal(e.text, "0:open:63:50:200;1:sku:3:70:70;");
    memset(&e, 0, sizeof e);
    assert_int_equal(u->load_events(f->s, ws, copy_loaded_event, &e), CD_OK);
    assert_int_equal(e.n, 2);
    assert_non_null(strstr(e.text, "2:open:63:50:200;"));
    text[0] = '\0';
    assert_int_equal(u->load_aliases(f->s, ws, append_ident, text), CD_OK);
    assert_int_equal(strlen(text), strlen("2:email:a@x;2:email:b@x;2:crm:q\"uote\\d;"));
    assert_non_null(strstr(text, "2:email:a@x;"));
    text[0] = '\0';
    assert_int_equal(u->load_devices(f->s, ws, append_ident, text), CD_OK);
    assert_non_null(strstr(text, "2:dev1:-;"));
    assert_non_null(strstr(text, "2:dev2:-;"));
    assert_int_equal(get_user(f, NULL, ws, 1, &c), CD_OK);
    assert_true(c.deleted);
    assert_false(c.has_ext);
    assert_string_equal(c.attrs, "{}");

    text[0] = '\0';
    assert_int_equal(u->range(f->s, ws, 2, 1, copy_user_list, text), CD_OK);
    assert_string_equal(text, "2:two;");
    text[0] = '\0';
    assert_int_equal(u->load_users(f->s, ws, copy_user_list, text), CD_OK);
    assert_string_equal(text, "1:-;2:two;3:three;");
}

/* load_users hands every column as stored, as get does: texts with quotes, backslashes, tabs
 * and non-ASCII, NULL external ids, flags, 64-bit times, uids past 2^31, in uid order. */
static struct user_copy loaded[4];

static void copy_loaded_user(void *ctx, const struct user_row *u) {
    int *n = ctx;
    if (*n < 4)
        copy_user(&loaded[*n], u);
    (*n)++;
}

static void test_load_users_gives_every_column_as_stored(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    const struct store_user_ops *u = f->ops->users;
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    struct user_row rows[] = {
        {.uid = 3000000000u,
         .braze_id = "b3",
         .external_id = "tab\there\n\"q\" \xc3\xa9",
         .attrs = "{\"k\":\"a\\\\b\\tc\"}",
         .created_at = 1700000000123,
         .updated_at = 1700000000456},
        {.uid = 2,
         .braze_id = "b2",
         .created_anonymous = true,
         .attrs = "{}",
         .created_at = 5,
         .updated_at = 6},
        {.uid = 7,
         .braze_id = "b7",
         .external_id = "seven",
         .attrs = "{}",
         .created_at = 1,
         .updated_at = 1},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(u->insert(t, ws, &rows[i]), CD_OK);
    put_user(f, t, other, 1, "elsewhere");
    assert_int_equal(u->remove(t, ws, 7, 99), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);

    int n = 0;
    memset(loaded, 0, sizeof loaded);
    assert_int_equal(u->load_users(f->s, ws, copy_loaded_user, &n), CD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(loaded[0].uid, 2);
    assert_string_equal(loaded[0].braze, "b2");
    assert_false(loaded[0].has_ext);
    assert_true(loaded[0].anon);
    assert_false(loaded[0].deleted);
    assert_string_equal(loaded[0].attrs, "{}");
    assert_int_equal(loaded[0].created_at, 5);
    assert_int_equal(loaded[0].updated_at, 6);
    assert_int_equal(loaded[1].uid, 7);
    assert_true(loaded[1].deleted);
    assert_false(loaded[1].has_ext);
    assert_int_equal(loaded[1].updated_at, 99);
    assert_int_equal(loaded[2].uid, 3000000000u);
    assert_string_equal(loaded[2].braze, "b3");
    assert_true(loaded[2].has_ext);
    assert_string_equal(loaded[2].ext, "tab\there\n\"q\" \xc3\xa9");
    assert_string_equal(loaded[2].attrs, "{\"k\":\"a\\\\b\\tc\"}");
    assert_false(loaded[2].anon);
    assert_int_equal(loaded[2].created_at, 1700000000123);
    assert_int_equal(loaded[2].updated_at, 1700000000456);
}

/* ---- cohorts ---- */

/* A blob as text: "-" when NULL, a NUL byte as '~'. */
static void blob_str(char *out, size_t cap, const void *p, size_t len) {
    if (!p) {
        snprintf(out, cap, "-");
        return;
    }
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = ((const char *)p)[i] ? ((const char *)p)[i] : '~';
    out[n] = '\0';
}

struct cohort_copy {
    int n;
    int64_t id, seq[8], checkpoint_seq, n_received, n_matched, n_unmatched, created_at;
    char name[32], blobs[8][32], checkpoint[32];
};

static void copy_cohort(void *ctx, const struct cohort_row *r) {
    struct cohort_copy *c = ctx;
    c->n++;
    c->id = r->id;
    snprintf(c->name, sizeof c->name, "%s", r->name ? r->name : "-");
    blob_str(c->checkpoint, sizeof c->checkpoint, r->checkpoint, r->checkpoint_len);
    c->checkpoint_seq = r->checkpoint_seq;
    c->n_received = r->n_received;
    c->n_matched = r->n_matched;
    c->n_unmatched = r->n_unmatched;
    c->created_at = r->created_at;
}

static void copy_log(void *ctx, const struct cohort_log_row *r) {
    struct cohort_copy *c = ctx;
    if (c->n < 8) {
        c->seq[c->n] = r->seq;
        char adds[16], removes[16];
        blob_str(adds, sizeof adds, r->adds, r->adds_len);
        blob_str(removes, sizeof removes, r->removes, r->removes_len);
        snprintf(c->blobs[c->n], sizeof c->blobs[0], "%s|%s", adds, removes);
    }
    c->n++;
}

static void copy_miss(void *ctx, const struct cohort_miss_row *r) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:%s:%lld;", r->identifier, r->reason, (long long)r->at);
}

static void test_cohort_log_append_and_checkpoint(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_cohort_ops *co = f->ops->cohorts;
    struct store_txn *t;
    int64_t id = 0, id2 = 0, seq[3] = {0};
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(co->upsert(t, ws, "heap", "c1", NULL, 500, &id), CD_OK);
    assert_int_equal(co->upsert(t, ws, "heap", "c1", "First", 400, &id2), CD_OK);
    assert_int_equal(id, id2);
    /* binary blobs with a NUL inside */
    struct cohort_log_row r1 = {.adds = "a\0b", .adds_len = 3};
    struct cohort_log_row r2 = {.adds = "cc", .adds_len = 2, .removes = "d", .removes_len = 1};
    struct cohort_log_row r3 = {.removes = "e", .removes_len = 1};
    assert_int_equal(co->log_append(t, id, &r1, 3, 2, 1, 600, &seq[0]), CD_OK);
    assert_int_equal(co->log_append(t, id, &r2, 2, 2, 0, 601, &seq[1]), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(co->log_append(t, id, &r3, 1, 0, 1, 602, &seq[2]), CD_OK);
    struct cohort_miss_row m[] = {
        {"x1", "unknown", 10}, {"x2", "unknown", 11}, {"x1", "deleted", 12}};
    assert_int_equal(co->misses_add(t, id, m, 3, 2), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_true(seq[0] < seq[1] && seq[1] < seq[2]);

    struct cohort_copy c = {0};
    assert_int_equal(co->load_log(f->s, ws, 0, copy_log, &c), CD_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.seq[0], seq[0]);
    assert_string_equal(c.blobs[0], "a~b|-");
    assert_string_equal(c.blobs[1], "cc|d");
    assert_string_equal(c.blobs[2], "-|e");

    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(co->checkpoint(t, id, "CKPT", 4, seq[1]), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(co->load(f->s, ws, 0, copy_cohort, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.name, "First");
    assert_int_equal(c.created_at, 400);
    assert_string_equal(c.checkpoint, "CKPT");
    assert_int_equal(c.checkpoint_seq, seq[1]);
    assert_int_equal(c.n_received, 6);
    assert_int_equal(c.n_matched, 4);
    assert_int_equal(c.n_unmatched, 2);
    memset(&c, 0, sizeof c);
    assert_int_equal(co->load_log(f->s, ws, 0, copy_log, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.seq[0], seq[2]);

    char text[512] = "";
    assert_int_equal(co->misses_list(f->s, id, copy_miss, text), CD_OK);
    assert_string_equal(text, "x1:deleted:12;x2:unknown:11;");

    fx_reopen(f); /* still there */
    memset(&c, 0, sizeof c);
    assert_int_equal(f->ops->cohorts->load_log(f->s, ws, 0, copy_log, &c), CD_OK);
    assert_int_equal(c.n, 1);
}

struct changed_uids {
    uint32_t uid[16];
    size_t n;
};

static void collect_changed(void *ctx, uint32_t uid) {
    struct changed_uids *c = ctx;
    if (c->n < 16)
        c->uid[c->n] = uid;
    c->n++;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The uids of ws changed after `after`, sorted, as "1;2;" (changed_since gives no order). */
static const char *changed_text(struct fx *f, int64_t ws, int64_t after) {
    static char text[256];
    struct changed_uids c = {0};
    bool supported = false;
    assert_int_equal(f->ops->users->changed_since(f->s, ws, after, collect_changed, &c, &supported),
                     CD_OK);
    assert_true(supported);
    assert_true(c.n <= 16);
    qsort(c.uid, c.n, sizeof c.uid[0], cmp_u32);
    text[0] = '\0';
    for (size_t i = 0; i < c.n; i++) {
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "%u;", c.uid[i]);
    }
    return text;
}

struct loaded_changes {
    char users[512], aliases[512], devices[512];
    struct events_copy events;
};

static void changed_user(void *ctx, const struct user_row *u) {
    copy_user_list(((struct loaded_changes *)ctx)->users, u);
}
static void changed_alias(void *ctx, const struct ident_row *r) {
    append_ident(((struct loaded_changes *)ctx)->aliases, r);
}
static void changed_device(void *ctx, const struct ident_row *r) {
    append_ident(((struct loaded_changes *)ctx)->devices, r);
}
static void changed_event(void *ctx, uint32_t uid, const struct event_summary_row *r) {
    copy_loaded_event(&((struct loaded_changes *)ctx)->events, uid, r);
}

/* The users changed after a position are every user created, changed, deleted, merged away
 * or merged into since, each once (not one untouched), and load_changed gives their rows as
 * the full loads do: their user rows in uid order, aliases, devices, event summaries with
 * times; changes_prune forgets those below a position only. PostgreSQL answers unsupported. */
static void test_changed_since_names_each_user_changed_after_a_position(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_user_ops *uo = f->ops->users;
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    for (uint32_t uid = 1; uid <= 5; uid++) {
        char ext[8];
        snprintf(ext, sizeof ext, "e%u", uid);
        put_user(f, t, ws, uid, ext);
    }
    struct ident_row al = {2, "crm", "two"};
    assert_int_equal(uo->aliases_put(t, ws, &al, 1), CD_OK);
    assert_int_equal(uo->device_put(t, ws, "d2", 2), CD_OK);
    struct event_bump_row ev = {3, EVENT_KIND_CUSTOM, "open", 1, 100};
    assert_int_equal(uo->events_bump(t, ws, &ev, 1), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    struct store_snapshot_mark m;
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m), CD_OK);
    bool supported = true;
    struct changed_uids none = {0};
    assert_int_equal(uo->changed_since(f->s, ws, m.user_seq, collect_changed, &none, &supported),
                     CD_OK);
    if (strcmp(f->ops->name, "sqlite") != 0) {
        assert_false(supported);
        assert_int_equal(none.n, 0);
        struct loaded_changes lc = {0};
        const struct store_user_load fns = {changed_user, changed_alias, changed_device,
                                            changed_event};
        assert_int_equal(uo->load_changed(f->s, ws, 0, &fns, &lc), CD_E_INVALID);
        assert_int_equal(uo->changes_prune(f->s, ws, m.user_seq), CD_OK);
        return;
    }
    assert_int_equal(none.n, 0);
    /* 1: attributes; 2 merged into 3 and deleted; 6: new; 4 and 5 untouched */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(uo->set_attrs(t, ws, 1, "{\"a\":1}", 20), CD_OK);
    struct event_bump_row ev2 = {2, EVENT_KIND_CUSTOM, "open", 1, 150};
    assert_int_equal(uo->events_bump(t, ws, &ev2, 1), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(uo->merge_into(t, ws, 2, 3), CD_OK);
    assert_int_equal(uo->remove(t, ws, 2, 30), CD_OK);
    put_user(f, t, ws, 6, "e6");
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_string_equal(changed_text(f, ws, m.user_seq), "1;2;3;6;");
    struct loaded_changes lc = {0};
    const struct store_user_load fns = {changed_user, changed_alias, changed_device, changed_event};
    assert_int_equal(uo->load_changed(f->s, ws, m.user_seq, &fns, &lc), CD_OK);
    assert_string_equal(lc.users, "1:e1;2:-;3:e3;6:e6;");
    assert_string_equal(lc.aliases, "3:crm:two;");
    assert_string_equal(lc.devices, "3:d2:-;");
    assert_int_equal(lc.events.n, 1);
    assert_string_equal(lc.events.text, "3:open:2:2:150;");
    /* a later position: only what changed after it */
    struct store_snapshot_mark m2;
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m2), CD_OK);
    assert_string_equal(changed_text(f, ws, m2.user_seq), "");
    memset(&lc, 0, sizeof lc);
    assert_int_equal(uo->load_changed(f->s, ws, m2.user_seq, &fns, &lc), CD_OK);
    assert_string_equal(lc.users, "");
    assert_int_equal(lc.events.n, 0);
    /* pruned below m (a snapshot at m was written): what is after m stays, and the positions
     * keep growing */
    assert_int_equal(uo->changes_prune(f->s, ws, m.user_seq), CD_OK);
    assert_string_equal(changed_text(f, ws, m.user_seq), "1;2;3;6;");
    assert_string_equal(changed_text(f, ws, 0), "1;2;3;6;"); /* 3: the row at m itself */
    /* past the last position: that one stays (6, the last user put), seq never goes back */
    assert_int_equal(uo->changes_prune(f->s, ws, m2.user_seq + 1), CD_OK);
    assert_string_equal(changed_text(f, ws, 0), "6;");
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 7, "e7");
    assert_int_equal(f->ops->commit(t), CD_OK);
    struct store_snapshot_mark m3;
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m3), CD_OK);
    assert_true(m3.user_seq > m2.user_seq);
    assert_string_equal(changed_text(f, ws, m2.user_seq), "7;");
}

/* A start-up snapshot's positions: on SQLite the user change position moves with every change
 * to a user, alias, device or event (of any workspace: it is the store's), and the changes
 * after it name only the users of that workspace changed since (not another workspace's, not
 * a cohort import); the log position moves with every log row; the cohort load after a
 * position returns only the checkpoints and log rows past it. PostgreSQL has no positions. */
static void test_snapshot_positions_move_with_user_changes_and_the_log(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a"), other = make_ws(f, "b");
    const struct store_user_ops *uo = f->ops->users;
    const struct store_cohort_ops *co = f->ops->cohorts;
    struct store_snapshot_mark m0, m1, m2, m3;
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m0), CD_OK);
    if (strcmp(f->ops->name, "sqlite") != 0) {
        assert_false(m0.supported);
        return;
    }
    assert_true(m0.supported);
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, ws, 1, "e1");
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m1), CD_OK);
    assert_memory_equal(m0.store_id, m1.store_id, sizeof m0.store_id);
    assert_true(m1.user_seq > m0.user_seq);
    assert_int_equal(m1.log_seq, m0.log_seq);
    /* another workspace's user, then a cohort import: no change of ws after m1 */
    int64_t id = 0, seq = 0, seq2 = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    put_user(f, t, other, 1, "o1");
    assert_int_equal(co->upsert(t, ws, "heap", "c1", NULL, 500, &id), CD_OK);
    struct cohort_log_row r1 = {.adds = "a", .adds_len = 1};
    assert_int_equal(co->log_append(t, id, &r1, 1, 1, 0, 600, &seq), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m2), CD_OK);
    assert_true(m2.user_seq > m1.user_seq);
    assert_string_equal(changed_text(f, ws, m1.user_seq), "");
    assert_string_equal(changed_text(f, other, m1.user_seq), "1;");
    assert_int_equal(m2.log_seq, seq);
    /* a device: the generation moves */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(uo->device_put(t, ws, "d1", 1), CD_OK);
    struct cohort_log_row r2 = {.adds = "b", .adds_len = 1};
    assert_int_equal(co->log_append(t, id, &r2, 1, 1, 0, 601, &seq2), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(uo->snapshot_mark(f->s, ws, &m3), CD_OK);
    assert_true(m3.user_seq > m2.user_seq);
    assert_string_equal(changed_text(f, ws, m2.user_seq), "1;");
    /* after seq: only the second row, and the checkpoint only once it is past seq */
    struct cohort_copy c = {0};
    assert_int_equal(co->load_log(f->s, ws, seq, copy_log, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.seq[0], seq2);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(co->checkpoint(t, id, "CKPT", 4, seq), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(co->load(f->s, ws, seq, copy_cohort, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.checkpoint, "-");
    memset(&c, 0, sizeof c);
    assert_int_equal(co->load(f->s, ws, seq - 1, copy_cohort, &c), CD_OK);
    assert_string_equal(c.checkpoint, "CKPT");
    memset(&c, 0, sizeof c);
    assert_int_equal(co->load_log(f->s, ws, seq - 1, copy_log, &c), CD_OK);
    assert_int_equal(c.n, 1); /* past the checkpoint */
    assert_int_equal(c.seq[0], seq2);
}

/* Imports of one cohort, each its own ticketed commit, the next begun before the previous one
 * is durable, the last with a checkpoint of the first two: every request is counted once and
 * only the row after the checkpoint is replayed. */
static void test_imports_of_one_cohort_commit_while_the_previous_is_in_flight(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_cohort_ops *co = f->ops->cohorts;
    struct store_txn *t;
    int64_t id = 0, seq[3] = {0};
    uint64_t tickets[3];
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(co->upsert(t, ws, "heap", "c1", NULL, 500, &id), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    struct cohort_log_row row = {.adds = "a", .adds_len = 1};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
        assert_int_equal(co->log_append(t, id, &row, 10, 7, 3, 600 + k, &seq[k]), CD_OK);
        if (k == 2)
            assert_int_equal(co->checkpoint(t, id, "CKPT", 4, seq[1]), CD_OK);
        assert_int_equal(f->ops->commit_ticket(t, &tickets[k]), CD_OK);
    }
    for (int k = 0; k < 3; k++)
        assert_int_equal(f->ops->durable(f->s, tickets[k]), CD_OK);
    for (int pass = 0; pass < 2; pass++) {
        struct cohort_copy c = {0};
        assert_int_equal(co->load(f->s, ws, 0, copy_cohort, &c), CD_OK);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.n_received, 30);
        assert_int_equal(c.n_matched, 21);
        assert_int_equal(c.n_unmatched, 9);
        assert_int_equal(c.checkpoint_seq, seq[1]);
        memset(&c, 0, sizeof c);
        assert_int_equal(co->load_log(f->s, ws, 0, copy_log, &c), CD_OK);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.seq[0], seq[2]);
        fx_reopen(f);
    }
}

/* ---- segments ---- */

static void copy_segment(void *ctx, const struct segment_row *r) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:%s:%s:%s;", r->segment_id, r->name,
             r->description ? r->description : "-", r->filter);
}

static void test_segments_round_trip(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_segment_ops *sg = f->ops->segments;
    struct segment_row a = {"s1", "One", NULL, "{}", 1, 1};
    struct segment_row b = {"s2", "Two", "d", "[]", 2, 2};
    assert_int_equal(sg->create(f->s, ws, &a), CD_OK);
    assert_int_equal(sg->create(f->s, ws, &b), CD_OK);
    assert_int_equal(sg->create(f->s, ws, &b), CD_E_EXISTS);
    assert_int_equal(sg->update(f->s, ws, "s1", NULL, "desc", NULL, 5), CD_OK);
    assert_int_equal(sg->update(f->s, ws, "zz", "x", NULL, NULL, 5), CD_E_NOT_FOUND);
    char text[512] = "";
    assert_int_equal(sg->get(f->s, ws, "s1", copy_segment, text), CD_OK);
    assert_string_equal(text, "s1:One:desc:{};");
    text[0] = '\0';
    assert_int_equal(sg->list(f->s, ws, false, 0, 10, copy_segment, text), CD_OK);
    assert_string_equal(text, "s2:Two:d:[];s1:One:desc:{};");
    text[0] = '\0';
    assert_int_equal(sg->list(f->s, ws, true, 1, 1, copy_segment, text), CD_OK);
    assert_string_equal(text, "s2:Two:d:[];");
    assert_int_equal(sg->remove(f->s, ws, "s2", 9), CD_OK);
    assert_int_equal(sg->remove(f->s, ws, "s2", 9), CD_E_NOT_FOUND);
    assert_int_equal(sg->get(f->s, ws, "s2", copy_segment, text), CD_E_NOT_FOUND);
}

/* ---- Currents ---- */

struct current_copy {
    int n;
    int64_t id, position, delivered, retried, dead;
    char state[16], last_error[32];
};

static void copy_current(void *ctx, const struct current_row *r) {
    struct current_copy *c = ctx;
    c->n++;
    c->id = r->id;
    c->position = r->position;
    c->delivered = r->n_delivered;
    c->retried = r->n_retried;
    c->dead = r->n_dead;
    snprintf(c->state, sizeof c->state, "%s", r->state);
    snprintf(c->last_error, sizeof c->last_error, "%s", r->last_error ? r->last_error : "-");
}

static void test_currents_round_trip(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_currents_ops *cu = f->ops->currents;
    struct store_txn *t;
    int64_t seq = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "e", 1, "{}", &seq), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    struct current_row row = {.workspace_id = ws,
                              .current_id = "cur1",
                              .name = "C",
                              .type = "custom_http",
                              .endpoint = "http://x",
                              .event_types = "[]",
                              .batch_size = 10,
                              .created_at = 5};
    assert_int_equal(cu->create(f->s, &row), CD_OK);
    struct current_copy c = {0};
    assert_int_equal(cu->get(f->s, ws, "cur1", copy_current, &c), CD_OK);
    assert_int_equal(c.position, seq); /* after the newest event */
    assert_string_equal(c.state, "active");
    assert_int_equal(cu->set_state(f->s, c.id, "paused", "boom"), CD_OK);
    assert_int_equal(cu->set_state(f->s, 9999, "paused", NULL), CD_E_NOT_FOUND);

    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(cu->advance(t, c.id, seq + 5, 3, 1, 1, NULL), CD_OK);
    assert_int_equal(cu->advance(t, c.id, seq + 2, 1, 0, 0, "late"), CD_OK);
    assert_int_equal(cu->dead_letter(t, c.id, seq, "{\"b\":1}", "400", 6), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    int64_t id = c.id;
    memset(&c, 0, sizeof c);
    assert_int_equal(cu->list(f->s, 0, copy_current, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.position, seq + 5); /* never moves back */
    assert_int_equal(c.delivered, 4);
    assert_int_equal(c.dead, 1);
    assert_string_equal(c.state, "paused");
    assert_string_equal(c.last_error, "late");

    int64_t n = 0;
    assert_int_equal(cu->replay(f->s, id, &n), CD_OK);
    assert_int_equal(n, 1);
    struct seqs got = {0};
    assert_int_equal(cu->replays(f->s, id, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.type[0], "replay");
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(cu->replayed(t, id, got.seq[0]), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&got, 0, sizeof got);
    assert_int_equal(cu->replays(f->s, id, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 0);
    assert_int_equal(cu->remove(f->s, ws, "cur1", 7), CD_OK);
    assert_int_equal(cu->get(f->s, ws, "cur1", copy_current, &c), CD_E_NOT_FOUND);
}

/* ---- Heap ---- */

struct heap_copy {
    int n;
    int64_t id, pages, ignored;
    char secret[32];
};

static void copy_heap(void *ctx, const struct heap_integration_row *r) {
    struct heap_copy *c = ctx;
    c->n++;
    c->id = r->id;
    c->pages = r->n_pages;
    c->ignored = r->n_ignored;
    snprintf(c->secret, sizeof c->secret, "%s", r->secret);
}

static void copy_sync(void *ctx, const struct heap_sync_row *r) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:%s:%lld/%lld:%lld:+%lld-%lld;", r->sync_task_id, r->cohort_id,
             (long long)r->pages_seen, (long long)r->total_pages, (long long)r->completed_at,
             (long long)r->n_added, (long long)r->n_removed);
}

#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_heap_round_trip(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_heap_ops *h = f->ops->heap;
    struct heap_integration_row row = {.workspace_id = ws,
                                       .integration_id = "hi1",
                                       .name = "H",
                                       .mapping = HEAP_MAP_ALIAS,
                                       .alias_label = "email",
                                       .secret = "s1",
                                       .created_at = 1};
    int64_t id = 0;
    assert_int_equal(h->create(f->s, &row, &id), CD_OK);
    assert_true(id > 0);
    assert_int_equal(h->set_secret(f->s, ws, "hi1", "s2"), CD_OK);
    assert_int_equal(h->count_ignored(f->s, id), CD_OK);
    struct store_txn *t;
    bool seen = true;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(h->page_record(t, id, "sync1", "c1", 1, 2, 5, 1, DIGEST_A, 100, &seen), CD_OK);
    assert_false(seen);
    assert_int_equal(h->page_record(t, id, "sync1", "c1", 1, 2, 5, 1, DIGEST_A, 101, &seen), CD_OK);
    assert_true(seen);
    assert_int_equal(h->page_record(t, id, "sync1", "c1", 2, 2, 3, 0, DIGEST_A, 102, &seen), CD_OK);
    assert_false(seen);
    assert_int_equal(f->ops->commit(t), CD_OK);
    char text[512] = "";
    assert_int_equal(h->syncs_of_cohort(f->s, ws, "c1", 5, copy_sync, text), CD_OK);
    assert_string_equal(text, "sync1:c1:2/2:102:+8-1;");
    struct heap_copy c = {0};
    assert_int_equal(h->get(f->s, "hi1", copy_heap, &c), CD_OK);
    assert_int_equal(c.pages, 2);
    assert_int_equal(c.ignored, 1);
    assert_string_equal(c.secret, "s2");
    memset(&c, 0, sizeof c);
    assert_int_equal(h->list(f->s, ws, copy_heap, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(h->remove(f->s, ws, "hi1", 5), CD_OK);
    assert_int_equal(h->get(f->s, "hi1", copy_heap, &c), CD_E_NOT_FOUND);
}

/* ---- campaigns ---- */

struct campaign_copy {
    int n;
    int64_t id, entered, sent, failed, archived_at;
    char name[32];
};

static void copy_campaign(void *ctx, const struct campaign_row *r) {
    struct campaign_copy *c = ctx;
    c->n++;
    c->id = r->id;
    c->entered = r->n_entered;
    c->sent = r->n_sent;
    c->failed = r->n_failed;
    c->archived_at = r->archived_at;
    snprintf(c->name, sizeof c->name, "%s", r->name);
}

struct dispatch_copy {
    int n;
    int64_t id, step, due_at;
    char audience[16], targets[16];
};

static void copy_dispatch(void *ctx, const struct dispatch_row *r) {
    struct dispatch_copy *c = ctx;
    c->n++;
    c->id = r->id;
    c->step = r->step;
    c->due_at = r->due_at;
    blob_str(c->audience, sizeof c->audience, r->audience, r->audience_len);
    blob_str(c->targets, sizeof c->targets, r->targets, r->targets_len);
}

static void add_uid(void *ctx, uint32_t uid) {
    *(int64_t *)ctx += uid;
}

/* A campaign or Canvas on segment s1 with an empty definition. */
static struct campaign_row campaign_on_s1(int64_t ws, enum campaign_kind kind,
                                          const char *public_id, const char *name,
                                          const char *schedule_type, int64_t created_at) {
    return (struct campaign_row){.workspace_id = ws,
                                 .kind = kind,
                                 .public_id = public_id,
                                 .name = name,
                                 .segment_id = "s1",
                                 .definition = "{}",
                                 .schedule_type = schedule_type,
                                 .created_at = created_at};
}

static void test_campaigns_round_trip(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_campaign_ops *ca = f->ops->campaigns;
    struct campaign_row row =
        campaign_on_s1(ws, CAMPAIGN_KIND_CANVAS, "cv1", "Canvas", "cohort_entry", 3);
    row.entry_partner = "heap";
    row.entry_cohort = "c1";
    struct store_txn *t;
    int64_t id = 0, other = 0, d = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->create(t, &row, &id), CD_OK);
    /* a taken id answers CD_E_EXISTS and the transaction goes on */
    assert_int_equal(ca->create(t, &row, &other), CD_E_EXISTS);
    assert_int_equal(ca->count_entered(t, id, 4), CD_OK);
    struct dispatch_row dr = {.workspace_id = ws,
                              .campaign = id,
                              .dispatch_id = "d1",
                              .step = 0,
                              .due_at = 50,
                              .audience = "AUD",
                              .audience_len = 3,
                              .created_at = 4};
    assert_int_equal(ca->dispatch_add(t, &dr, &d), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);

    struct campaign_copy c = {0};
    assert_int_equal(ca->get(f->s, ws, CAMPAIGN_KIND_CANVAS, "cv1", 0, copy_campaign, &c), CD_OK);
    assert_int_equal(c.id, id);
    assert_int_equal(c.entered, 4);
    assert_int_equal(ca->get(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, "cv1", 0, copy_campaign, &c),
                     CD_E_NOT_FOUND);
    memset(&c, 0, sizeof c);
    assert_int_equal(ca->on_cohort(f->s, ws, "heap", "c1", copy_campaign, &c), CD_OK);
    assert_int_equal(c.n, 1);

    struct dispatch_copy dc = {0};
    assert_int_equal(ca->dispatches_due(f->s, 49, 10, copy_dispatch, &dc), CD_OK);
    assert_int_equal(dc.n, 0);
    assert_int_equal(ca->dispatches_due(f->s, 50, 10, copy_dispatch, &dc), CD_OK);
    assert_int_equal(dc.n, 1);
    assert_string_equal(dc.audience, "AUD");
    assert_string_equal(dc.targets, "-");

    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->dispatch_start(t, d, "TGT", 3), CD_OK);
    assert_int_equal(ca->delivery_record(t, d, 0, 7, DELIVERY_SENT, 1, 60, NULL), CD_OK);
    assert_int_equal(ca->delivery_record(t, d, 0, 7, DELIVERY_FAILED, 2, 61, NULL), CD_E_EXISTS);
    assert_int_equal(ca->delivery_record(t, d, 0, 9, DELIVERY_FAILED, 2, 61, NULL), CD_OK);
    assert_int_equal(ca->count_outcomes(t, id, 1, 1), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&dc, 0, sizeof dc);
    assert_int_equal(ca->dispatches_due(f->s, 50, 10, copy_dispatch, &dc), CD_OK);
    assert_string_equal(dc.targets, "TGT");
    int64_t sum = 0;
    assert_int_equal(ca->deliveries(f->s, d, 0, add_uid, &sum), CD_OK);
    assert_int_equal(sum, 16);

    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->dispatch_next(t, d, 1, 80, "A2", 2), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&dc, 0, sizeof dc);
    assert_int_equal(ca->dispatches_due(f->s, 80, 10, copy_dispatch, &dc), CD_OK);
    assert_int_equal(dc.step, 1);
    assert_string_equal(dc.audience, "A2");
    assert_string_equal(dc.targets, "-");
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->dispatch_finish(t, d, 90), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&dc, 0, sizeof dc);
    assert_int_equal(ca->dispatches_due(f->s, 1000, 10, copy_dispatch, &dc), CD_OK);
    assert_int_equal(dc.n, 0);

    assert_int_equal(ca->archive(f->s, ws, CAMPAIGN_KIND_CANVAS, "cv1", 95), CD_OK);
    assert_int_equal(ca->archive(f->s, ws, CAMPAIGN_KIND_CANVAS, "cv1", 96), CD_E_NOT_FOUND);
    memset(&c, 0, sizeof c);
    const struct campaign_list_query all = {
        .include_archived = true, .edited_after = INT64_MIN, .limit = INT64_MAX};
    assert_int_equal(ca->list(f->s, ws, CAMPAIGN_KIND_CANVAS, &all, copy_campaign, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.sent, 1);
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.archived_at, 95);
}

/* on_cohort answers the live campaigns on a cohort as committed, whatever it answered before:
 * none before a campaign's commit, the campaign after it (a ticketed commit too), and after a
 * lease is taken, one that another handle on the same store committed meanwhile. */
static int on_cohort_count(struct fx *f, int64_t ws, const char *cohort) {
    struct campaign_copy c = {0};
    assert_int_equal(f->ops->campaigns->on_cohort(f->s, ws, "heap", cohort, copy_campaign, &c),
                     CD_OK);
    return c.n;
}

static void create_entry_campaign(struct fx *f, int64_t ws, const char *public_id,
                                  const char *cohort, bool ticketed) {
    struct campaign_row row =
        campaign_on_s1(ws, CAMPAIGN_KIND_CAMPAIGN, public_id, "C", "cohort_entry", 3);
    row.entry_partner = "heap";
    row.entry_cohort = cohort;
    struct store_txn *t;
    int64_t id = 0;
    uint64_t ticket = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->campaigns->create(t, &row, &id), CD_OK);
    assert_int_equal(on_cohort_count(f, ws, cohort), 0); /* not committed yet */
    if (ticketed) {
        assert_int_equal(f->ops->commit_ticket(t, &ticket), CD_OK);
        assert_int_equal(f->ops->durable(f->s, ticket), CD_OK);
    } else {
        assert_int_equal(f->ops->commit(t), CD_OK);
    }
}

static void test_on_cohort_answers_campaigns_committed_since_its_last_answer(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    assert_int_equal(on_cohort_count(f, ws, "c1"), 0);
    assert_int_equal(on_cohort_count(f, ws, "c2"), 0);
    create_entry_campaign(f, ws, "ca1", "c1", false);
    assert_int_equal(on_cohort_count(f, ws, "c1"), 1);
    assert_int_equal(on_cohort_count(f, ws, "c2"), 0);
    create_entry_campaign(f, ws, "ca2", "c2", true);
    assert_int_equal(on_cohort_count(f, ws, "c2"), 1);
    assert_int_equal(f->ops->campaigns->archive(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, "ca1", 9), CD_OK);
    assert_int_equal(on_cohort_count(f, ws, "c1"), 0);

    /* another process writes the workspace while this one does not hold its lease */
    const struct store_lease_ops *l = f->ops->leases;
    int64_t epoch = 0;
    assert_int_equal(l->node_claim(f->s, "node-a", "ia", NULL, "http://a:1", 60000, NULL), CD_OK);
    assert_int_equal(on_cohort_count(f, ws, "c3"), 0);
    struct fx other = *f;
    fx_open(&other);
    create_entry_campaign(&other, ws, "ca3", "c3", false);
    store_close(other.s);
    assert_int_equal(l->acquire(f->s, ws, "node-a", "ia", "http://a:1", 60000, &epoch, NULL),
                     CD_OK);
    assert_int_equal(on_cohort_count(f, ws, "c3"), 1);
}

/* ---- retention ---- */

static void test_retention_keeps_what_a_reader_needs(void **state) {
    struct fx *f = *state;
    int64_t idle = make_ws(f, "idle");
    int64_t ws = make_ws(f, "followed");
    struct store_txn *t;
    int64_t seq[4];
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, idle, "e", 10, "{}", &seq[0]), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "e", 10, "{}", &seq[1]), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    struct current_row row = {.workspace_id = ws,
                              .current_id = "cur1",
                              .name = "C",
                              .type = "custom_http",
                              .endpoint = "http://x",
                              .event_types = "[]",
                              .batch_size = 10,
                              .created_at = 5};
    assert_int_equal(f->ops->currents->create(f->s, &row), CD_OK); /* position: seq[1] */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, ws, "e", 11, "{}", &seq[2]), CD_OK);
    assert_int_equal(f->ops->outbox->append(t, idle, "e", 11, "{}", &seq[3]), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);

    struct store_prune_rule rule = {.before = 100, .idle_before = 11, .keep = 1};
    int64_t n = 0;
    assert_int_equal(f->ops->retention->prune(f->s, STORE_PRUNE_OUTBOX, &rule, 100, &n), CD_OK);
    assert_int_equal(n, 2); /* idle's older one; followed's up to the Current's position */
    struct seqs got = {0};
    assert_int_equal(f->ops->currents->outbox_after(f->s, ws, 0, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.seq[0], seq[2]);
    memset(&got, 0, sizeof got);
    assert_int_equal(f->ops->currents->outbox_after(f->s, idle, 0, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.seq[0], seq[3]);
    assert_int_equal(f->ops->retention->prune(f->s, STORE_PRUNE_OUTBOX, &rule, 100, &n), CD_OK);
    assert_int_equal(n, 0);

    /* dead letters queued for replay stay */
    struct current_copy c = {0};
    assert_int_equal(f->ops->currents->get(f->s, ws, "cur1", copy_current, &c), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->currents->dead_letter(t, c.id, seq[1], "{}", "x", 20), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    int64_t queued = 0;
    assert_int_equal(f->ops->currents->replay(f->s, c.id, &queued), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->currents->dead_letter(t, c.id, seq[2], "{}", "y", 21), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->retention->prune(f->s, STORE_PRUNE_DEAD_LETTERS, &rule, 100, &n),
                     CD_OK);
    assert_int_equal(n, 1);
    memset(&got, 0, sizeof got);
    assert_int_equal(f->ops->currents->replays(f->s, c.id, 10, copy_outbox, &got), CD_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(f->ops->retention->prune(f->s, STORE_PRUNE_OUTBOX, &rule, 0, &n),
                     CD_E_INVALID);
}

/* ---- what main added since: grants, partners, dashboard users, probes, digests, schedules,
 * history ---- */

/* Every op of a table of function pointers is set (the table holds nothing else). */
static void assert_every_op_set(const void *ops, size_t size) {
    typedef void (*any_fn)(void);
    for (size_t at = 0; at + sizeof(any_fn) <= size; at += sizeof(any_fn)) {
        any_fn fn;
        memcpy(&fn, (const char *)ops + at, sizeof fn);
        assert_non_null(fn);
    }
}

#define ASSERT_OPS_SET(p) (assert_non_null(p), assert_every_op_set((p), sizeof *(p)))

static void test_the_backend_implements_every_op(void **state) {
    struct fx *f = *state;
    const struct store_ops *o = f->ops;
    assert_non_null(o->open);
    assert_non_null(o->close);
    assert_non_null(o->healthy);
    assert_non_null(o->full);
    assert_non_null(o->begin);
    assert_non_null(o->commit);
    assert_non_null(o->commit_ticket);
    assert_non_null(o->durable);
    assert_non_null(o->rollback);
    ASSERT_OPS_SET(o->admin);
    ASSERT_OPS_SET(o->dashboard);
    ASSERT_OPS_SET(o->users);
    ASSERT_OPS_SET(o->outbox);
    ASSERT_OPS_SET(o->heap);
    ASSERT_OPS_SET(o->cohorts);
    ASSERT_OPS_SET(o->segments);
    ASSERT_OPS_SET(o->currents);
    ASSERT_OPS_SET(o->campaigns);
    ASSERT_OPS_SET(o->retention);
    ASSERT_OPS_SET(o->history);
    ASSERT_OPS_SET(o->leases);
    if (o->files) /* NULL for a backend with its own tools */
        ASSERT_OPS_SET(o->files);
}

struct key_list {
    int n;
    char order[128];
    struct key_copy last;
};

static void list_key(void *ctx, const struct api_key_row *r) {
    struct key_list *l = ctx;
    l->n++;
    size_t n = strlen(l->order);
    snprintf(l->order + n, sizeof l->order - n, "%s;", r->key_hash);
    copy_key(&l->last, r);
}

static void test_api_keys_keep_their_grants_and_revoke_by_id(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    const struct store_admin_ops *ad = f->ops->admin;
    const struct api_key_row limited = {.workspace_id = ws,
                                        .key_hash = "abc111",
                                        .name = "export only",
                                        .permissions = "users.export.ids,segments.list",
                                        .rate_limit = 100,
                                        .rate_period_s = 3600};
    const struct api_key_row full = {.workspace_id = ws, .key_hash = "abc222", .name = "all"};
    const struct api_key_row elsewhere = {.workspace_id = other, .key_hash = "abc333", .name = "o"};
    assert_int_equal(ad->api_key_add(f->s, &limited, 10), CD_OK);
    assert_int_equal(ad->api_key_add(f->s, &full, 20), CD_OK);
    assert_int_equal(ad->api_key_add(f->s, &elsewhere, 30), CD_OK);
    assert_int_equal(ad->api_key_add(f->s, &full, 40), CD_E_EXISTS);

    struct key_copy c = {0};
    assert_int_equal(ad->api_key_lookup(f->s, "abc111", copy_key, &c), CD_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.ws, ws);
    assert_string_equal(c.name, "export only");
    assert_string_equal(c.permissions, "users.export.ids,segments.list");
    assert_int_equal(c.rate_limit, 100);
    assert_int_equal(c.rate_period_s, 3600);
    assert_int_equal(c.created_at, 10);
    memset(&c, 0, sizeof c);
    assert_int_equal(ad->api_key_lookup(f->s, "abc222", copy_key, &c), CD_OK);
    assert_string_equal(c.permissions, "*"); /* NULL: every permission */
    assert_int_equal(c.rate_limit, 0);

    struct key_list l = {0};
    assert_int_equal(ad->api_key_list(f->s, ws, list_key, &l), CD_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.order, "abc111;abc222;"); /* oldest first, this workspace only */

    /* an id is a prefix of the hash; only the workspace's own active key is revoked */
    assert_int_equal(ad->api_key_revoke_prefix(f->s, other, "abc1", 50), CD_E_NOT_FOUND);
    assert_int_equal(ad->api_key_revoke_prefix(f->s, ws, "abc1", 50), CD_OK);
    assert_int_equal(ad->api_key_revoke_prefix(f->s, ws, "abc1", 51), CD_E_NOT_FOUND);
    assert_int_equal(ad->api_key_lookup(f->s, "abc111", copy_key, &c), CD_E_NOT_FOUND);
    memset(&l, 0, sizeof l);
    assert_int_equal(ad->api_key_list(f->s, ws, list_key, &l), CD_OK);
    assert_string_equal(l.order, "abc222;");
    assert_int_equal(ad->api_key_lookup(f->s, "abc333", copy_key, &c), CD_OK);
}

static void list_partner(void *ctx, const char *name, enum key_check check) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 128 - n, "%s=%s;", name, check == KEY_CHECK_OFF ? "off" : "required");
}

static void test_partners_list_by_name_and_change_their_key_check(void **state) {
    struct fx *f = *state;
    const struct store_admin_ops *ad = f->ops->admin;
    char text[128] = "";
    assert_int_equal(ad->partner_list(f->s, list_partner, text), CD_OK);
    assert_string_equal(text, "");
    assert_int_equal(ad->partner_add(f->s, "zeta", KEY_CHECK_REQUIRED, "zk", 1), CD_OK);
    assert_int_equal(ad->partner_add(f->s, "heap", KEY_CHECK_OFF, "hk", 2), CD_OK);
    assert_int_equal(ad->partner_list(f->s, list_partner, text), CD_OK);
    assert_string_equal(text, "heap=off;zeta=required;");
    assert_int_equal(ad->partner_set_check(f->s, "heap", KEY_CHECK_REQUIRED), CD_OK);
    assert_int_equal(ad->partner_set_check(f->s, "nope", KEY_CHECK_OFF), CD_E_NOT_FOUND);
    enum key_check check = KEY_CHECK_OFF;
    assert_int_equal(ad->partner_get(f->s, "heap", &check), CD_OK);
    assert_int_equal(check, KEY_CHECK_REQUIRED);
    assert_int_equal(ad->partner_key_check(f->s, "heap", "hk"), CD_OK); /* its keys are kept */
}

struct dash_copy {
    int n;
    int64_t id, password_set_at, created_at;
    char email[64], role[16], hash[32], order[128];
};

static void copy_dash(void *ctx, const struct dash_user_row *r) {
    struct dash_copy *c = ctx;
    c->n++;
    c->id = r->id;
    c->password_set_at = r->password_set_at;
    c->created_at = r->created_at;
    snprintf(c->email, sizeof c->email, "%s", r->email);
    snprintf(c->role, sizeof c->role, "%s", r->role);
    snprintf(c->hash, sizeof c->hash, "%s", r->password_hash);
    size_t n = strlen(c->order);
    snprintf(c->order + n, sizeof c->order - n, "%s;", r->email);
}

static void test_dashboard_users_round_trip(void **state) {
    struct fx *f = *state;
    const struct store_dashboard_ops *d = f->ops->dashboard;
    int64_t ann = 0, bob = 0, again = 0;
    assert_int_equal(d->user_add(f->s, "ann@example.com", "admin", "$argon2id$a", 10, &ann), CD_OK);
    assert_int_equal(d->user_add(f->s, "bob@example.com", "member", "$argon2id$b", 20, &bob),
                     CD_OK);
    assert_true(ann > 0 && bob > ann);
    assert_int_equal(d->user_add(f->s, "ann@example.com", "member", "x", 30, &again), CD_E_EXISTS);

    struct dash_copy c = {0};
    assert_int_equal(d->user_get(f->s, "bob@example.com", 0, copy_dash, &c), CD_OK);
    assert_int_equal(c.id, bob);
    assert_string_equal(c.role, "member");
    assert_string_equal(c.hash, "$argon2id$b");
    assert_int_equal(c.password_set_at, 20);
    assert_int_equal(c.created_at, 20);
    memset(&c, 0, sizeof c);
    assert_int_equal(d->user_get(f->s, NULL, ann, copy_dash, &c), CD_OK);
    assert_string_equal(c.email, "ann@example.com");
    assert_int_equal(d->user_get(f->s, "nobody@example.com", 0, copy_dash, &c), CD_E_NOT_FOUND);

    assert_int_equal(d->user_set_password(f->s, "ann@example.com", "$argon2id$new", 40), CD_OK);
    assert_int_equal(d->user_set_password(f->s, "nobody@example.com", "x", 40), CD_E_NOT_FOUND);
    memset(&c, 0, sizeof c);
    assert_int_equal(d->user_get(f->s, "ann@example.com", 0, copy_dash, &c), CD_OK);
    assert_string_equal(c.hash, "$argon2id$new");
    assert_int_equal(c.password_set_at, 40);
    assert_int_equal(c.created_at, 10);

    memset(&c, 0, sizeof c);
    assert_int_equal(d->user_list(f->s, copy_dash, &c), CD_OK);
    assert_string_equal(c.order, "ann@example.com;bob@example.com;");
    assert_int_equal(d->user_delete(f->s, "ann@example.com"), CD_OK);
    assert_int_equal(d->user_delete(f->s, "ann@example.com"), CD_E_NOT_FOUND);
    memset(&c, 0, sizeof c);
    assert_int_equal(d->user_list(f->s, copy_dash, &c), CD_OK);
    assert_string_equal(c.order, "bob@example.com;");
}

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HASH_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* Dashboard sessions: a row by hash, its last use and workspace updated, ended one at a time,
 * by user, all at once, and pruned (expired first, then the least recently used beyond keep). */
static void test_dashboard_sessions_round_trip_and_prune(void **state) {
    struct fx *f = *state;
    const struct store_dashboard_ops *d = f->ops->dashboard;
    struct dash_session_row a = {HASH_A, 7, 100, 1, 1000, 1000};
    struct dash_session_row b = {HASH_B, 8, 200, 2, 2000, 2500};
    struct dash_session_row c = {HASH_C, 7, 100, 1, 3000, 3000};
    assert_int_equal(d->session_add(f->s, &a), CD_OK);
    assert_int_equal(d->session_add(f->s, &b), CD_OK);
    assert_int_equal(d->session_add(f->s, &c), CD_OK);
    assert_int_equal(d->session_add(f->s, &a), CD_E_EXISTS);
    struct dash_session_row got;
    memset(&got, 0, sizeof got);
    assert_int_equal(d->session_get(f->s, HASH_B, &got), CD_OK);
    assert_null(got.hash);
    assert_int_equal(got.user_id, 8);
    assert_int_equal(got.password_set_at, 200);
    assert_int_equal(got.ws_id, 2);
    assert_int_equal(got.created_at, 2000);
    assert_int_equal(got.used_at, 2500);
    assert_int_equal(d->session_get(f->s, "dd", &got), CD_E_NOT_FOUND);

    assert_int_equal(d->session_touch(f->s, HASH_A, 4000), CD_OK);
    assert_int_equal(d->session_set_workspace(f->s, HASH_A, 9), CD_OK);
    assert_int_equal(d->session_touch(f->s, "dd", 4000), CD_E_NOT_FOUND);
    assert_int_equal(d->session_set_workspace(f->s, "dd", 9), CD_E_NOT_FOUND);
    assert_int_equal(d->session_get(f->s, HASH_A, &got), CD_OK);
    assert_int_equal(got.used_at, 4000);
    assert_int_equal(got.ws_id, 9);
    assert_int_equal(got.created_at, 1000);

    /* expired: b (last used 2500 < 2600); then at most 1 kept: a (used 4000) stays, c goes */
    assert_int_equal(d->session_prune(f->s, 2600, 0, 2), CD_OK);
    assert_int_equal(d->session_get(f->s, HASH_B, &got), CD_E_NOT_FOUND);
    assert_int_equal(d->session_get(f->s, HASH_C, &got), CD_OK);
    assert_int_equal(d->session_prune(f->s, 0, 0, 1), CD_OK);
    assert_int_equal(d->session_get(f->s, HASH_C, &got), CD_E_NOT_FOUND);
    assert_int_equal(d->session_get(f->s, HASH_A, &got), CD_OK);
    /* created before: a (created 1000) */
    assert_int_equal(d->session_prune(f->s, 0, 1001, 10), CD_OK);
    assert_int_equal(d->session_get(f->s, HASH_A, &got), CD_E_NOT_FOUND);

    /* ended one by one (twice is fine), by user, and all at once */
    assert_int_equal(d->session_add(f->s, &a), CD_OK);
    assert_int_equal(d->session_add(f->s, &b), CD_OK);
    assert_int_equal(d->session_add(f->s, &c), CD_OK);
    assert_int_equal(d->session_end(f->s, HASH_B), CD_OK);
    assert_int_equal(d->session_end(f->s, HASH_B), CD_OK);
    assert_int_equal(d->session_get(f->s, HASH_B, &got), CD_E_NOT_FOUND);
    assert_int_equal(d->session_add(f->s, &b), CD_OK);
    assert_int_equal(d->session_end_user(f->s, 7), CD_OK);
    assert_int_equal(d->session_get(f->s, HASH_A, &got), CD_E_NOT_FOUND);
    assert_int_equal(d->session_get(f->s, HASH_C, &got), CD_E_NOT_FOUND);
    assert_int_equal(d->session_get(f->s, HASH_B, &got), CD_OK);
    assert_int_equal(d->session_add(f->s, &a), CD_OK);
    assert_int_equal(d->session_end_user(f->s, 0), CD_OK);
    assert_int_equal(d->session_get(f->s, HASH_A, &got), CD_E_NOT_FOUND);
    assert_int_equal(d->session_get(f->s, HASH_B, &got), CD_E_NOT_FOUND);
}

static void copy_history(void *ctx, const struct history_row *r) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%lld:%lld/%lld/%lld/%lld;", (long long)r->day, (long long)r->size,
             (long long)r->entered, (long long)r->sent, (long long)r->failed);
}

static void copy_send_day(void *ctx, const struct send_day *d) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%lld:%lld/%lld/%lld;", (long long)d->day, (long long)d->sent,
             (long long)d->failed, (long long)d->users);
}

static void test_daily_history_adds_a_canvas_steps_counts_of_the_day(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    const struct store_history_ops *h = f->ops->history;
    struct history_row r = {
        .kind = HISTORY_CANVAS_STEP, .object_id = "cv1/st1", .day = 50, .sent = 2, .failed = 1};
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(h->add(t, ws, &r), CD_OK);
    r.sent = 3; /* the same day again: added to it */
    r.failed = 0;
    assert_int_equal(h->add(t, ws, &r), CD_OK);
    r.day = 51;
    r.sent = 1;
    r.failed = 4;
    assert_int_equal(h->add(t, ws, &r), CD_OK);
    r.day = 50;
    assert_int_equal(h->add(t, other, &r), CD_OK); /* another workspace's */
    assert_int_equal(f->ops->commit(t), CD_OK);
    /* a rolled back add leaves nothing */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    r.day = 52;
    assert_int_equal(h->add(t, ws, &r), CD_OK);
    f->ops->rollback(t);

    char text[256] = "";
    assert_int_equal(
        h->series(f->s, ws, HISTORY_CANVAS_STEP, "cv1/st1", 50, 60, copy_history, text), CD_OK);
    assert_string_equal(text, "50:0/0/5/1;51:0/0/1/4;");
    text[0] = '\0';
    assert_int_equal(
        h->series(f->s, other, HISTORY_CANVAS_STEP, "cv1/st1", 50, 60, copy_history, text), CD_OK);
    assert_string_equal(text, "50:0/0/1/4;");
    text[0] = '\0';
    assert_int_equal(h->series(f->s, ws, HISTORY_CANVAS, "cv1/st1", 50, 60, copy_history, text),
                     CD_OK); /* another kind */
    assert_string_equal(text, "");
}

static void test_daily_history_keeps_the_last_sample_of_each_day(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    const struct store_history_ops *h = f->ops->history;
    struct history_row r = {.kind = HISTORY_SEGMENT, .object_id = "seg1", .day = 100, .size = 5};
    assert_int_equal(h->record(f->s, ws, &r), CD_OK);
    r.day = 102;
    r.size = 7;
    assert_int_equal(h->record(f->s, ws, &r), CD_OK);
    r.size = 8; /* a later sample of day 102 replaces the earlier one */
    assert_int_equal(h->record(f->s, ws, &r), CD_OK);
    r.day = 103;
    r.size = 9;
    assert_int_equal(h->record(f->s, other, &r), CD_OK); /* another workspace's */
    struct history_row camp = {.kind = HISTORY_CAMPAIGN,
                               .object_id = "seg1",
                               .day = 102,
                               .entered = 3,
                               .sent = 2,
                               .failed = 1};
    assert_int_equal(h->record(f->s, ws, &camp), CD_OK); /* another kind, the same id */

    char text[256] = "";
    assert_int_equal(h->series(f->s, ws, HISTORY_SEGMENT, "seg1", 101, 110, copy_history, text),
                     CD_OK);
    assert_string_equal(text, "100:5/0/0/0;102:8/0/0/0;"); /* the row before `from` first */
    text[0] = '\0';
    assert_int_equal(h->series(f->s, ws, HISTORY_SEGMENT, "seg1", 90, 99, copy_history, text),
                     CD_OK);
    assert_string_equal(text, "");
    assert_int_equal(h->series(f->s, ws, HISTORY_CAMPAIGN, "seg1", 102, 102, copy_history, text),
                     CD_OK);
    assert_string_equal(text, "102:0/3/2/1;");

    /* per-day outcomes of one send_id, from the deliveries */
    const struct store_campaign_ops *ca = f->ops->campaigns;
    struct campaign_row row = campaign_on_s1(ws, CAMPAIGN_KIND_CAMPAIGN, "cmp1", "C", "api", 1);
    struct store_txn *t;
    int64_t id = 0, d1 = 0, d2 = 0;
    const int64_t day = 86400000;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->create(t, &row, &id), CD_OK);
    struct dispatch_row dr = {
        .workspace_id = ws, .campaign = id, .dispatch_id = "d1", .send_id = "s-a", .created_at = 1};
    assert_int_equal(ca->dispatch_add(t, &dr, &d1), CD_OK);
    dr.dispatch_id = "d2";
    dr.send_id = "s-b";
    assert_int_equal(ca->dispatch_add(t, &dr, &d2), CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 0, 1, DELIVERY_SENT, 1, 5 * day + 1, NULL), CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 0, 2, DELIVERY_FAILED, 3, 5 * day + 2, NULL),
                     CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 1, 1, DELIVERY_SENT, 1, 5 * day + 3, NULL), CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 0, 3, DELIVERY_ABORTED, 1, 5 * day + 4, NULL),
                     CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 0, 4, DELIVERY_SENT, 1, 7 * day, NULL), CD_OK);
    assert_int_equal(ca->delivery_record(t, d2, 0, 9, DELIVERY_SENT, 1, 5 * day, NULL), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    text[0] = '\0';
    assert_int_equal(h->send_days(f->s, ws, "cmp1", "s-a", 0, 10 * day, copy_send_day, text),
                     CD_OK);
    assert_string_equal(text, "5:2/1/2;7:1/0/1;");
    text[0] = '\0';
    assert_int_equal(h->send_days(f->s, ws, "cmp1", "s-a", 6 * day, 7 * day, copy_send_day, text),
                     CD_OK);
    assert_string_equal(text, "");
    assert_int_equal(h->send_days(f->s, other, "cmp1", "s-a", 0, 10 * day, copy_send_day, text),
                     CD_OK);
    assert_string_equal(text, "");
}

struct probe_copy {
    int64_t at, status;
    char error[32];
};

static void copy_probe(void *ctx, const struct current_row *r) {
    struct probe_copy *c = ctx;
    c->at = r->probe_at;
    c->status = r->probe_status;
    snprintf(c->error, sizeof c->error, "%s", r->probe_error ? r->probe_error : "-");
}

static void test_a_currents_probe_is_kept_and_replaced(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    int64_t other = make_ws(f, "b");
    const struct store_currents_ops *cu = f->ops->currents;
    struct current_row row = {.workspace_id = ws,
                              .current_id = "cur1",
                              .name = "C",
                              .type = "custom_http",
                              .endpoint = "http://x",
                              .event_types = "[]",
                              .batch_size = 10,
                              .created_at = 5};
    assert_int_equal(cu->create(f->s, &row), CD_OK);
    struct probe_copy c = {0};
    assert_int_equal(cu->get(f->s, ws, "cur1", copy_probe, &c), CD_OK);
    assert_int_equal(c.at, 0); /* none recorded */
    assert_int_equal(c.status, 0);
    assert_string_equal(c.error, "-");
    assert_int_equal(cu->probe_set(f->s, ws, "cur1", 6, 401, "unauthorized"), CD_OK);
    assert_int_equal(cu->get(f->s, ws, "cur1", copy_probe, &c), CD_OK);
    assert_int_equal(c.at, 6);
    assert_int_equal(c.status, 401);
    assert_string_equal(c.error, "unauthorized");
    assert_int_equal(cu->probe_set(f->s, ws, "cur1", 7, 204, NULL), CD_OK);
    assert_int_equal(cu->list(f->s, ws, copy_probe, &c), CD_OK);
    assert_int_equal(c.at, 7);
    assert_int_equal(c.status, 204);
    assert_string_equal(c.error, "-");
    assert_int_equal(cu->probe_set(f->s, other, "cur1", 8, 500, "x"), CD_E_NOT_FOUND);
    assert_int_equal(cu->probe_set(f->s, ws, "nope", 8, 500, "x"), CD_E_NOT_FOUND);
    assert_int_equal(cu->remove(f->s, ws, "cur1", 9), CD_OK);
    assert_int_equal(cu->probe_set(f->s, ws, "cur1", 10, 204, NULL), CD_E_NOT_FOUND);
}

static void test_a_heap_page_seen_again_with_new_content_is_applied(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_heap_ops *h = f->ops->heap;
    struct heap_integration_row row = {.workspace_id = ws,
                                       .integration_id = "hi1",
                                       .name = "H",
                                       .mapping = HEAP_MAP_ALIAS,
                                       .alias_label = "email",
                                       .secret = "s1",
                                       .created_at = 1};
    int64_t id = 0;
    assert_int_equal(h->create(f->s, &row, &id), CD_OK);
    struct store_txn *t;
    bool seen = true;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(h->page_record(t, id, "sync1", "c1", 1, 2, 5, 1, DIGEST_A, 100, &seen), CD_OK);
    assert_false(seen);
    assert_int_equal(h->page_record(t, id, "sync1", "c1", 1, 2, 4, 2, DIGEST_B, 101, &seen), CD_OK);
    assert_false(seen); /* other content: applied, its ids counted, pages_seen unchanged */
    assert_int_equal(h->page_record(t, id, "sync1", "c1", 1, 2, 4, 2, DIGEST_B, 102, &seen), CD_OK);
    assert_true(seen); /* the same content again: a duplicate */
    assert_int_equal(f->ops->commit(t), CD_OK);
    char text[512] = "";
    assert_int_equal(h->syncs_of_cohort(f->s, ws, "c1", 5, copy_sync, text), CD_OK);
    assert_string_equal(text, "sync1:c1:1/2:0:+9-3;");
}

struct sched_copy {
    int n;
    char text[256];
};

static void copy_sched(void *ctx, const struct scheduled_row *r) {
    struct sched_copy *c = ctx;
    c->n++;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s/%s/%s@%lld;", r->dispatch_id,
             r->schedule_id ? r->schedule_id : "-", r->public_id, (long long)r->due_at);
}

static void test_trigger_schedules_change_only_before_they_start(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_campaign_ops *ca = f->ops->campaigns;
    struct campaign_row row = campaign_on_s1(ws, CAMPAIGN_KIND_CAMPAIGN, "cmp1", "C", "api", 1);
    struct store_txn *t;
    int64_t id = 0, d1 = 0, d2 = 0, d3 = 0;
    bool found = false;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->create(t, &row, &id), CD_OK);
    struct dispatch_row dr = {.workspace_id = ws,
                              .campaign = id,
                              .dispatch_id = "d1",
                              .due_at = 500,
                              .created_at = 1,
                              .schedule_id = "sch1"};
    assert_int_equal(ca->dispatch_add(t, &dr, &d1), CD_OK);
    dr.dispatch_id = "d2";
    dr.due_at = 300;
    dr.schedule_id = "sch2";
    assert_int_equal(ca->dispatch_add(t, &dr, &d2), CD_OK);
    dr.dispatch_id = "d3";
    dr.due_at = 400;
    dr.schedule_id = NULL; /* the campaign's own schedule */
    assert_int_equal(ca->dispatch_add(t, &dr, &d3), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    dr.dispatch_id = "d4";
    dr.schedule_id = "sch1"; /* one schedule id per campaign */
    assert_int_equal(ca->dispatch_add(t, &dr, NULL), CD_E_EXISTS);
    f->ops->rollback(t);

    struct sched_copy c = {0};
    assert_int_equal(ca->scheduled(f->s, ws, 100, 1000, copy_sched, &c), CD_OK);
    assert_string_equal(c.text, "d2/sch2/cmp1@300;d3/-/cmp1@400;d1/sch1/cmp1@500;");
    memset(&c, 0, sizeof c);
    assert_int_equal(ca->scheduled(f->s, ws, 300, 450, copy_sched, &c), CD_OK);
    assert_string_equal(c.text, "d3/-/cmp1@400;"); /* due in (now, until] */

    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->schedule_change(t, id, "sch1", 100, false, 600, &found), CD_OK);
    assert_true(found);
    assert_int_equal(ca->schedule_change(t, id, "sch2", 100, true, 0, &found), CD_OK);
    assert_true(found);
    assert_int_equal(ca->schedule_change(t, id, "sch2", 100, false, 700, &found), CD_OK);
    assert_false(found); /* cancelled: finished */
    assert_int_equal(ca->schedule_change(t, id, "nope", 100, false, 700, &found), CD_OK);
    assert_false(found);
    assert_int_equal(ca->schedule_change(t, id, "sch1", 600, false, 900, &found), CD_OK);
    assert_false(found); /* due: no longer after now */
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(ca->scheduled(f->s, ws, 100, 1000, copy_sched, &c), CD_OK);
    assert_string_equal(c.text, "d3/-/cmp1@400;d1/sch1/cmp1@600;");

    /* a started dispatch does not move */
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(ca->dispatch_start(t, d1, "TGT", 3), CD_OK);
    assert_int_equal(ca->schedule_change(t, id, "sch1", 100, false, 800, &found), CD_OK);
    assert_false(found);
    assert_int_equal(f->ops->commit(t), CD_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(ca->scheduled(f->s, ws, 100, 1000, copy_sched, &c), CD_OK);
    assert_string_equal(c.text, "d3/-/cmp1@400;");
    /* an archived campaign's dispatches are not listed */
    assert_int_equal(ca->archive(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, "cmp1", 150), CD_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(ca->scheduled(f->s, ws, 100, 1000, copy_sched, &c), CD_OK);
    assert_int_equal(c.n, 0);
}

static void list_campaign_ids(void *ctx, const struct campaign_row *r) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 128 - n, "%s;", r->public_id);
}

static void test_a_campaign_list_filters_orders_and_pages(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_campaign_ops *ca = f->ops->campaigns;
    const char *ids[] = {"c1", "c2", "c3", "c4"};
    const int64_t created[] = {10, 20, 20, 40};
    struct store_txn *t;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    for (int i = 0; i < 4; i++) {
        struct campaign_row row =
            campaign_on_s1(ws, CAMPAIGN_KIND_CAMPAIGN, ids[i], ids[i], "api", created[i]);
        int64_t id = 0;
        assert_int_equal(ca->create(t, &row, &id), CD_OK);
    }
    assert_int_equal(f->ops->commit(t), CD_OK);
    assert_int_equal(ca->archive(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, "c1", 50), CD_OK);

    struct campaign_list_query q = {.edited_after = INT64_MIN, .limit = INT64_MAX};
    char text[128] = "";
    assert_int_equal(ca->list(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, &q, list_campaign_ids, text),
                     CD_OK);
    assert_string_equal(text, "c2;c3;c4;"); /* archived ones left out */
    q.include_archived = true;
    q.newest_first = true;
    text[0] = '\0';
    assert_int_equal(ca->list(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, &q, list_campaign_ids, text),
                     CD_OK);
    assert_string_equal(text, "c4;c3;c2;c1;");
    q.offset = 1;
    q.limit = 2;
    text[0] = '\0';
    assert_int_equal(ca->list(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, &q, list_campaign_ids, text),
                     CD_OK);
    assert_string_equal(text, "c3;c2;");
    /* edited after 30: created after it, or archived after it */
    q = (struct campaign_list_query){
        .include_archived = true, .edited_after = 30, .limit = INT64_MAX};
    text[0] = '\0';
    assert_int_equal(ca->list(f->s, ws, CAMPAIGN_KIND_CAMPAIGN, &q, list_campaign_ids, text),
                     CD_OK);
    assert_string_equal(text, "c1;c4;");
    text[0] = '\0';
    assert_int_equal(ca->list(f->s, ws, CAMPAIGN_KIND_CANVAS, &q, list_campaign_ids, text), CD_OK);
    assert_string_equal(text, "");
}

struct failure_text {
    char text[512];
};

static void list_failure(void *ctx, const struct delivery_failure_row *r) {
    struct failure_text *ft = ctx;
    size_t n = strlen(ft->text);
    snprintf(ft->text + n, sizeof ft->text - n, "%lld/%lld/%u/%lld/%lld/%s;",
             (long long)r->dispatch, (long long)r->step, r->uid, (long long)r->attempts,
             (long long)r->at, r->reason);
}

static void
test_the_last_failures_are_the_newest_failed_deliveries_with_their_reason(void **state) {
    struct fx *f = *state;
    int64_t ws = make_ws(f, "a");
    const struct store_campaign_ops *ca = f->ops->campaigns;
    struct store_txn *t;
    int64_t c1 = 0, c2 = 0, d1 = 0, d2 = 0, d3 = 0;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    struct campaign_row row =
        campaign_on_s1(ws, CAMPAIGN_KIND_CANVAS, "cv1", "Canvas", "immediate", 1);
    assert_int_equal(ca->create(t, &row, &c1), CD_OK);
    row.public_id = "cv2";
    assert_int_equal(ca->create(t, &row, &c2), CD_OK);
    struct dispatch_row dr = {
        .workspace_id = ws, .campaign = c1, .dispatch_id = "d1", .due_at = 2, .created_at = 2};
    assert_int_equal(ca->dispatch_add(t, &dr, &d1), CD_OK);
    dr.dispatch_id = "d2";
    assert_int_equal(ca->dispatch_add(t, &dr, &d2), CD_OK);
    dr.dispatch_id = "d3";
    dr.campaign = c2;
    assert_int_equal(ca->dispatch_add(t, &dr, &d3), CD_OK);
    /* sent and aborted ones are not failures; another campaign's are not this one's */
    assert_int_equal(ca->delivery_record(t, d1, 0, 1, DELIVERY_SENT, 1, 10, NULL), CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 0, 2, DELIVERY_FAILED, 3, 11, "HTTP 500: boom"),
                     CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 0, 3, DELIVERY_ABORTED, 1, 12, "aborted: no"),
                     CD_OK);
    assert_int_equal(ca->delivery_record(t, d1, 1, 2, DELIVERY_FAILED, 1, 13, NULL), CD_OK);
    assert_int_equal(
        ca->delivery_record(t, d2, 0, 4, DELIVERY_FAILED, 2, 13, "no response: refused"), CD_OK);
    assert_int_equal(ca->delivery_record(t, d3, 0, 5, DELIVERY_FAILED, 1, 99, "HTTP 404"), CD_OK);
    assert_int_equal(f->ops->commit(t), CD_OK);

    struct failure_text ft = {""};
    assert_int_equal(ca->failures(f->s, c1, 10, list_failure, &ft), CD_OK);
    char want[256];
    /* newest first; at a tie, the later dispatch, step and uid first */
    snprintf(want, sizeof want,
             "%lld/0/4/2/13/no response: refused;%lld/1/2/1/13/;%lld/0/2/3/11/HTTP 500: boom;",
             (long long)d2, (long long)d1, (long long)d1);
    assert_string_equal(ft.text, want);
    /* the newest `limit` of them */
    ft.text[0] = '\0';
    assert_int_equal(ca->failures(f->s, c1, 1, list_failure, &ft), CD_OK);
    snprintf(want, sizeof want, "%lld/0/4/2/13/no response: refused;", (long long)d2);
    assert_string_equal(ft.text, want);
    ft.text[0] = '\0';
    assert_int_equal(ca->failures(f->s, c2 + 1000, 10, list_failure, &ft), CD_OK);
    assert_string_equal(ft.text, "");
}

/* ---- leases ---- */

static enum cd_err checked_txn(struct fx *f, int64_t ws, const char *node, int64_t epoch) {
    struct store_txn *t = NULL;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    enum cd_err err = f->ops->leases->check(t, ws, node, epoch);
    if (err == CD_OK)
        return f->ops->commit(t);
    f->ops->rollback(t);
    return err;
}

/* A transaction checked with check_with_next that then appends an event: what the append
 * answered (commit's answer when CD_OK). A refused append must leave a transaction that
 * commit refuses and that wrote nothing (the events of ws are counted before and after). */
static enum cd_err checked_next_txn(struct fx *f, int64_t ws, const char *node, int64_t epoch) {
    int64_t before = -1, after = -1, seq = 0;
    assert_int_equal(f->ops->currents->pending_after(f->s, ws, 0, "[\"lease.e\"]", &before), CD_OK);
    struct store_txn *t = NULL;
    assert_int_equal(f->ops->begin(f->s, &t), CD_OK);
    assert_int_equal(f->ops->leases->check_with_next(t, ws, node, epoch), CD_OK);
    enum cd_err err = f->ops->outbox->append(t, ws, "lease.e", 10, "{}", &seq);
    if (err == CD_OK)
        return f->ops->commit(t);
    assert_int_equal(f->ops->commit(t), CD_E_STORE);
    assert_int_equal(f->ops->currents->pending_after(f->s, ws, 0, "[\"lease.e\"]", &after), CD_OK);
    assert_int_equal(after, before);
    return err;
}

/* PostgreSQL: a node id is claimed by one process (instance) at a time; a second instance is
 * refused while the claim is live and gets it once it ran out; the instance that lost its id
 * can neither renew the claim nor take a lease, even one still recorded under the id. SQLite:
 * one process per file, every claim succeeds. */
static void test_a_node_id_has_one_live_instance_and_a_replaced_one_takes_no_lease(void **state) {
    struct fx *f = *state;
    const struct store_lease_ops *l = f->ops->leases;
    int64_t ws = make_ws(f, "a");
    struct store_lease other;
    int64_t e1 = 0, e2 = 0;
    assert_int_equal(l->node_claim(f->s, "node-a", "first", NULL, "http://a:1", 60000, NULL),
                     CD_OK);
    assert_int_equal(l->node_claim(f->s, "node-a", "first", NULL, "http://a:1", 60000, NULL),
                     CD_OK);
    assert_int_equal(l->node_renew(f->s, "node-a", "first", 60000), CD_OK);
    if (strcmp(f->ops->name, "sqlite") == 0) {
        assert_int_equal(l->node_claim(f->s, "node-a", "second", NULL, "http://a:2", 60000, NULL),
                         CD_OK);
        assert_int_equal(l->node_release(f->s, "node-a", "first"), CD_OK);
        return;
    }
    memset(&other, 0, sizeof other);
    assert_int_equal(l->node_claim(f->s, "node-a", "second", NULL, "http://a:2", 60000, &other),
                     CD_E_EXISTS);
    assert_string_equal(other.holder, "first");
    assert_string_equal(other.address, "http://a:1");
    assert_true(other.remaining_ms > 0 && other.remaining_ms <= 60000);
    assert_int_equal(l->node_renew(f->s, "node-a", "second", 60000), CD_E_NOT_FOUND);
    /* the second instance takes nothing under the id it does not hold */
    assert_int_equal(l->acquire(f->s, ws, "node-a", "second", "http://a:2", 60000, &e1, NULL),
                     CD_E_FORBIDDEN);
    assert_int_equal(l->owner(f->s, ws, &other), CD_E_NOT_FOUND);
    assert_int_equal(l->acquire(f->s, ws, "node-a", "first", "http://a:1", 60000, &e1, NULL),
                     CD_OK);
    /* the first one's claim runs out (stalled): the second gets the id, and the first can
     * neither renew it nor take its own lease back under it */
    assert_int_equal(l->node_renew(f->s, "node-a", "first", 0), CD_OK);
    assert_int_equal(l->node_claim(f->s, "node-a", "second", NULL, "http://a:2", 60000, NULL),
                     CD_OK);
    assert_int_equal(l->node_renew(f->s, "node-a", "first", 60000), CD_E_NOT_FOUND);
    assert_int_equal(l->acquire(f->s, ws, "node-a", "first", "http://a:1", 60000, &e2, NULL),
                     CD_E_FORBIDDEN);
    assert_int_equal(l->acquire(f->s, ws, "node-a", "second", "http://a:2", 60000, &e2, NULL),
                     CD_OK);
    assert_int_equal(e2, e1 + 1); /* the first one's transactions fail the check from now */
    assert_int_equal(checked_txn(f, ws, "node-a", e1), CD_E_STORE);
    /* a release by the replaced instance changes nothing; by the holder, frees the id */
    assert_int_equal(l->node_release(f->s, "node-a", "first"), CD_OK);
    assert_int_equal(l->node_claim(f->s, "node-a", "third", NULL, "http://a:3", 60000, NULL),
                     CD_E_EXISTS);
    assert_int_equal(l->node_release(f->s, "node-a", "second"), CD_OK);
    assert_int_equal(l->node_claim(f->s, "node-a", "third", NULL, "http://a:3", 60000, NULL),
                     CD_OK);
    /* the next process of the same data directory replaces its dead predecessor at once */
    assert_int_equal(l->node_claim(f->s, "node-a", "fourth", "other", "http://a:4", 60000, NULL),
                     CD_E_EXISTS);
    assert_int_equal(l->node_claim(f->s, "node-a", "fourth", "third", "http://a:4", 60000, NULL),
                     CD_OK);
    assert_int_equal(l->node_renew(f->s, "node-a", "third", 60000), CD_E_NOT_FOUND);
    assert_int_equal(l->node_renew(f->s, "node-a", "fourth", 60000), CD_OK);
}

/* PostgreSQL: one live holder at a time, a new epoch at each acquire, and a node whose lease
 * expired or was taken can neither renew nor pass the check of a write transaction. SQLite:
 * the process owns every workspace. */
static void test_a_lease_has_one_live_holder_and_a_lost_one_cannot_write(void **state) {
    struct fx *f = *state;
    const struct store_lease_ops *l = f->ops->leases;
    int64_t ws = make_ws(f, "a");
    struct store_lease who;
    int64_t e1 = 0, e2 = 0, e3 = 0;
    assert_int_equal(l->node_claim(f->s, "node-a", "ia", NULL, "http://a:1", 60000, NULL), CD_OK);
    assert_int_equal(l->node_claim(f->s, "node-b", "ib", NULL, "http://b:1", 60000, NULL), CD_OK);
    assert_int_equal(l->acquire(f->s, ws, "node-a", "ia", "http://a:1", 60000, &e1, &who), CD_OK);
    assert_true(e1 >= 1);
    assert_int_equal(checked_txn(f, ws, "node-a", e1), CD_OK);
    assert_int_equal(checked_next_txn(f, ws, "node-a", e1), CD_OK);
    assert_int_equal(l->renew(f->s, ws, "node-a", e1, 60000), CD_OK);
    if (strcmp(f->ops->name, "sqlite") == 0) {
        assert_int_equal(l->acquire(f->s, ws, "node-b", "ib", "http://b:1", 60000, &e2, &who),
                         CD_OK);
        assert_int_equal(l->owner(f->s, ws, &who), CD_E_NOT_FOUND);
        assert_int_equal(l->release(f->s, ws, "node-a", e1), CD_OK);
        return;
    }
    memset(&who, 0, sizeof who);
    assert_int_equal(l->acquire(f->s, ws, "node-b", "ib", "http://b:1", 60000, &e2, &who),
                     CD_E_EXISTS);
    assert_string_equal(who.holder, "node-a");
    assert_string_equal(who.address, "http://a:1");
    assert_int_equal(who.epoch, e1);
    assert_true(who.remaining_ms > 0 && who.remaining_ms <= 60000);
    assert_int_equal(checked_txn(f, ws, "node-b", e1), CD_E_STORE);
    assert_int_equal(checked_txn(f, ws, "node-a", e1 + 1), CD_E_STORE);
    assert_int_equal(checked_next_txn(f, ws, "node-b", e1), CD_E_MOVED);
    assert_int_equal(checked_next_txn(f, ws, "node-a", e1 + 1), CD_E_MOVED);

    /* a renewal to 0 ms lets the lease expire at once: it is then nobody's */
    assert_int_equal(l->renew(f->s, ws, "node-a", e1, 0), CD_OK);
    assert_int_equal(l->renew(f->s, ws, "node-a", e1, 60000), CD_E_NOT_FOUND);
    assert_int_equal(checked_txn(f, ws, "node-a", e1), CD_E_STORE);
    assert_int_equal(checked_next_txn(f, ws, "node-a", e1), CD_E_MOVED);
    assert_int_equal(l->owner(f->s, ws, &who), CD_OK);
    assert_true(who.remaining_ms <= 0);

    assert_int_equal(l->acquire(f->s, ws, "node-b", "ib", "http://b:1", 60000, &e2, &who), CD_OK);
    assert_int_equal(e2, e1 + 1);
    assert_int_equal(checked_txn(f, ws, "node-b", e2), CD_OK);
    assert_int_equal(checked_next_txn(f, ws, "node-b", e2), CD_OK);
    assert_int_equal(checked_txn(f, ws, "node-a", e1), CD_E_STORE);
    assert_int_equal(checked_next_txn(f, ws, "node-a", e1), CD_E_MOVED);
    assert_int_equal(l->renew(f->s, ws, "node-a", e1, 60000), CD_E_NOT_FOUND);
    /* a release by the old holder changes nothing */
    assert_int_equal(l->release(f->s, ws, "node-a", e1), CD_OK);
    assert_int_equal(checked_txn(f, ws, "node-b", e2), CD_OK);

    /* released: taken at once by another node, with the next epoch */
    assert_int_equal(l->release(f->s, ws, "node-b", e2), CD_OK);
    assert_int_equal(l->acquire(f->s, ws, "node-a", "ia", "http://a:2", 60000, &e3, &who), CD_OK);
    assert_int_equal(e3, e2 + 1);
    assert_int_equal(l->owner(f->s, ws, &who), CD_OK);
    assert_string_equal(who.holder, "node-a");
    assert_string_equal(who.address, "http://a:2");
    assert_int_equal(who.epoch, e3);

    /* the lease outlives the connection */
    fx_reopen(f);
    assert_int_equal(f->ops->leases->owner(f->s, ws, &who), CD_OK);
    assert_string_equal(who.holder, "node-a");
    assert_int_equal(checked_txn(f, ws, "node-a", e3), CD_OK);
}

#define CONFORMANCE_TESTS(setup)                                                                   \
    cmocka_unit_test_setup_teardown(test_commit_applies_every_write_and_rollback_none, setup,      \
                                    teardown),                                                     \
        cmocka_unit_test_setup_teardown(                                                           \
            test_reads_in_a_transaction_see_its_writes_and_others_do_not, setup, teardown),        \
        cmocka_unit_test_setup_teardown(test_uid_next_never_hands_out_a_committed_uid, setup,      \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_a_constraint_answers_exists_and_leaves_no_write,      \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_an_any_time_write_inside_a_transaction_fails, setup,  \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_a_ticket_commit_is_applied_and_becomes_durable,       \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_ticket_commits_in_flight_are_each_seen_once_durable,  \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(                                                           \
            test_a_ticket_commit_that_fails_is_reported_and_applies_nothing, setup, teardown),     \
        cmocka_unit_test_setup_teardown(                                                           \
            test_outbox_sequences_follow_commit_order_and_readers_see_committed_only, setup,       \
            teardown),                                                                             \
        cmocka_unit_test_setup_teardown(test_admin_round_trip, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_users_round_trip, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_load_users_gives_every_column_as_stored, setup,       \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_cohort_log_append_and_checkpoint, setup, teardown),   \
        cmocka_unit_test_setup_teardown(                                                           \
            test_imports_of_one_cohort_commit_while_the_previous_is_in_flight, setup, teardown),   \
        cmocka_unit_test_setup_teardown(test_segments_round_trip, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_currents_round_trip, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_heap_round_trip, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_campaigns_round_trip, setup, teardown),               \
        cmocka_unit_test_setup_teardown(                                                           \
            test_on_cohort_answers_campaigns_committed_since_its_last_answer, setup, teardown),    \
        cmocka_unit_test_setup_teardown(test_retention_keeps_what_a_reader_needs, setup,           \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_the_backend_implements_every_op, setup, teardown),    \
        cmocka_unit_test_setup_teardown(test_api_keys_keep_their_grants_and_revoke_by_id, setup,   \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_partners_list_by_name_and_change_their_key_check,     \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_dashboard_users_round_trip, setup, teardown),         \
        cmocka_unit_test_setup_teardown(test_dashboard_sessions_round_trip_and_prune, setup,       \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_daily_history_keeps_the_last_sample_of_each_day,      \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_daily_history_adds_a_canvas_steps_counts_of_the_day,  \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_a_currents_probe_is_kept_and_replaced, setup,         \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_a_heap_page_seen_again_with_new_content_is_applied,   \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_trigger_schedules_change_only_before_they_start,      \
                                        setup, teardown),                                          \
        cmocka_unit_test_setup_teardown(test_a_campaign_list_filters_orders_and_pages, setup,      \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(                                                           \
            test_the_last_failures_are_the_newest_failed_deliveries_with_their_reason, setup,      \
            teardown),                                                                             \
        cmocka_unit_test_setup_teardown(                                                           \
            test_a_lease_has_one_live_holder_and_a_lost_one_cannot_write, setup, teardown),        \
        cmocka_unit_test_setup_teardown(                                                           \
            test_snapshot_positions_move_with_user_changes_and_the_log, setup, teardown),          \
        cmocka_unit_test_setup_teardown(                                                           \
            test_changed_since_names_each_user_changed_after_a_position, setup, teardown),         \
        cmocka_unit_test_setup_teardown(                                                           \
            test_a_node_id_has_one_live_instance_and_a_replaced_one_takes_no_lease, setup,         \
            teardown)

int main(void) {
    const struct CMUnitTest sqlite_tests[] = {CONFORMANCE_TESTS(setup_sqlite)};
    const struct CMUnitTest postgres_tests[] = {CONFORMANCE_TESTS(setup_postgres)};
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("postgresql", postgres_tests, NULL, NULL);
    return failed;
}
