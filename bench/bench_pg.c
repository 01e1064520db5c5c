/*
 * bench_pg.c — the baseline a team would otherwise build: a service on PostgreSQL with the
 * straightforward schema (users with indexed identifiers, one membership row per (cohort,
 * user)). Starts a throwaway PostgreSQL (initdb + pg_ctl on a temporary directory and a free
 * loopback port, fsync on), loads the same N users as bench_import, then:
 *  - import: the same kind of 1000-id requests (80 % external ids, 10 % aliases, 10 % device ids
 *    of anonymous users; 10 % removals), each one transaction of identity look-ups and
 *    membership inserts / deletes, at concurrency 1, 2, 4, 8;
 *  - segments: the 20 cohorts and the plan attribute of bench_segments (same generator), the
 *    four segments counted with indexes, in PostgreSQL and in SQLite.
 * Prints one JSON object per result.
 *
 * usage: bench_pg [USERS] [REQUESTS_PER_LEVEL]
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_users.h"

#define IDS 1000
#define N_COHORTS 20
#define RUNS 5

static char dir[256];
static int port;

static int sh(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "bench_pg: failed: %s\n", cmd);
    return rc;
}

static const char *as_pg(void) {
    return getuid() == 0 ? "runuser -u postgres -- " : "";
}

static int pg_start(void) {
    const char *bin = "/usr/lib/postgresql/15/bin";
    char cmd[1024];
    snprintf(dir, sizeof dir, "/tmp/cohortd-pg-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    if (getuid() == 0) {
        snprintf(cmd, sizeof cmd, "chown postgres '%s'", dir);
        if (sh(cmd))
            return -1;
    }
    port = 20000 + (int)(getpid() % 20000);
    snprintf(cmd, sizeof cmd, "%s%s/initdb -D '%s/data' -A trust -U bench >/dev/null", as_pg(), bin,
             dir);
    if (sh(cmd))
        return -1;
    snprintf(cmd, sizeof cmd,
             "%s%s/pg_ctl -D '%s/data' -l '%s/log' -w -o \"-p %d -k %s -c "
             "listen_addresses=127.0.0.1 -c shared_buffers=512MB -c max_connections=20\" start "
             ">/dev/null",
             as_pg(), bin, dir, dir, port, dir);
    return sh(cmd);
}

static void pg_stop(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s/usr/lib/postgresql/15/bin/pg_ctl -D '%s/data' -m fast stop >/dev/null; rm -rf "
             "'%s'",
             as_pg(), dir, dir);
    sh(cmd);
}

static PGconn *connect_pg(void) {
    char info[256];
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=bench dbname=postgres", port);
    PGconn *c = PQconnectdb(info);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_pg: %s", PQerrorMessage(c));
        return NULL;
    }
    return c;
}

static int exec(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench_pg: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

static int copy_rows(PGconn *c, const char *sql, void (*row)(uint32_t i, char *buf, size_t len),
                     uint32_t n) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "bench_pg: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char buf[512];
    for (uint32_t i = 1; i <= n; i++) {
        row(i, buf, sizeof buf);
        if (*buf)
            PQputCopyData(c, buf, (int)strlen(buf));
    }
    PQputCopyEnd(c, NULL);
    r = PQgetResult(c);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static unsigned seg_seed;
static unsigned xs(unsigned *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}
static const char *const plan_names[] = {"free", "trial", "pro"};

/* users: uid, external_id, alias_name, device_id, anonymous, plan (same draws as bench_segments) */
static void user_row(uint32_t i, char *buf, size_t len) {
    enum bench_id_kind k = bench_user_kind(i);
    unsigned s = xs(&seg_seed);
    char alias[64] = "\\N", dev[64] = "\\N", ext[64] = "\\N";
    if (k == BENCH_EXTERNAL)
        snprintf(ext, sizeof ext, "user_%u", i);
    else if (k == BENCH_ALIAS)
        snprintf(alias, sizeof alias, "user_%u@example.com", i);
    else
        snprintf(dev, sizeof dev, "device_%u", i);
    snprintf(buf, len, "%u\t%s\t%s\t%s\t%s\t%s\n", i, ext, alias, dev,
             k == BENCH_DEVICE ? "t" : "f", plan_names[s % 3]);
}

/* seg_membership: the cohorts of bench_segments for user i (redrawn with its generator). */
static unsigned mem_seed;
static void membership_rows(uint32_t i, char *buf, size_t len) {
    unsigned s = xs(&mem_seed);
    size_t off = 0;
    buf[0] = '\0';
    for (int k = 0; k < N_COHORTS; k++)
        if ((s >> (k % 8)) % (unsigned)(k + 2) == 0)
            off += (size_t)snprintf(buf + off, len - off, "c%d\t%u\n", k, i);
}

struct worker {
    uint32_t n_users;
    int n_requests;
    unsigned seed;
    double *lat;
    int failures;
};

static const char *add_sql =
    "INSERT INTO membership(cohort, uid) SELECT $1, uid FROM users WHERE external_id = "
    "ANY($2::text[]) OR (alias_label = 'email' AND alias_name = ANY($3::text[])) OR "
    "(device_id = ANY($4::text[]) AND anonymous) ON CONFLICT DO NOTHING";
static const char *del_sql =
    "DELETE FROM membership WHERE cohort = $1 AND uid IN (SELECT uid FROM users WHERE "
    "external_id = ANY($2::text[]) OR (alias_label = 'email' AND alias_name = ANY($3::text[])) "
    "OR (device_id = ANY($4::text[]) AND anonymous))";

/* Appends ids of n random users as three Postgres array literals. */
static void draw(struct worker *w, int n, char *ext, char *ali, char *dev, size_t cap) {
    size_t e = 1, a = 1, d = 1;
    ext[0] = ali[0] = dev[0] = '{';
    for (int k = 0; k < n; k++) {
        uint32_t u = xs(&w->seed) % w->n_users + 1;
        enum bench_id_kind kind = bench_user_kind(u);
        if (kind == BENCH_EXTERNAL)
            e += (size_t)snprintf(ext + e, cap - e, "%suser_%u", e > 1 ? "," : "", u);
        else if (kind == BENCH_ALIAS)
            a += (size_t)snprintf(ali + a, cap - a, "%suser_%u@example.com", a > 1 ? "," : "", u);
        else
            d += (size_t)snprintf(dev + d, cap - d, "%sdevice_%u", d > 1 ? "," : "", u);
    }
    snprintf(ext + e, cap - e, "}");
    snprintf(ali + a, cap - a, "}");
    snprintf(dev + d, cap - d, "}");
}

static void *work(void *arg) {
    struct worker *w = arg;
    PGconn *c = connect_pg();
    if (!c)
        return NULL;
    size_t cap = 40 * IDS;
    char *ext = malloc(cap), *ali = malloc(cap), *dev = malloc(cap), cohort[16];
    for (int i = 0; i < w->n_requests; i++) {
        snprintf(cohort, sizeof cohort, "k%u", xs(&w->seed) % N_COHORTS);
        double t0 = bench_now();
        int ok = exec(c, "BEGIN") == 0;
        for (int part = 0; part < 2 && ok; part++) {
            draw(w, part ? IDS / 10 : IDS * 9 / 10, ext, ali, dev, cap);
            const char *params[] = {cohort, ext, ali, dev};
            PGresult *r = PQexecParams(c, part ? del_sql : add_sql, 4, NULL, params, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        ok = ok && exec(c, "COMMIT") == 0;
        w->failures += !ok;
        w->lat[i] = (bench_now() - t0) * 1000;
    }
    free(ext);
    free(ali);
    free(dev);
    PQfinish(c);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double time_count(PGconn *c, const char *sql, long long *count) {
    double best = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now();
        PGresult *res = PQexec(c, sql);
        double ms = (bench_now() - t0) * 1000;
        *count =
            PQresultStatus(res) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
        PQclear(res);
        best = ms < best ? ms : best;
    }
    return best;
}

int main(int argc, char **argv) {
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
    int per_level = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 400;
    if (pg_start() != 0)
        return 1;
    PGconn *c = connect_pg();
    if (!c) {
        pg_stop();
        return 1;
    }
    double t0 = bench_now();
    seg_seed = 88172645u;
    mem_seed = 88172645u;
    int rc = exec(c, "CREATE TABLE users (uid int PRIMARY KEY, external_id text UNIQUE, alias_name "
                     "text, device_id text UNIQUE, anonymous bool NOT NULL, plan text, alias_label "
                     "text DEFAULT 'email')") ||
             copy_rows(c,
                       "COPY users(uid, external_id, alias_name, device_id, anonymous, plan) "
                       "FROM STDIN",
                       user_row, n) ||
             exec(c, "UPDATE users SET alias_label = NULL WHERE alias_name IS NULL") ||
             exec(c, "CREATE UNIQUE INDEX users_alias ON users(alias_label, alias_name)") ||
             exec(c, "CREATE TABLE membership (cohort text, uid int, PRIMARY KEY (cohort, uid))") ||
             exec(c, "CREATE TABLE seg_membership (cohort text, uid int)") ||
             copy_rows(c, "COPY seg_membership FROM STDIN", membership_rows, n) ||
             exec(c, "CREATE INDEX seg_membership_idx ON seg_membership(cohort, uid)") ||
             exec(c, "CREATE INDEX users_plan ON users(plan, uid)") || exec(c, "ANALYZE");
    if (rc) {
        pg_stop();
        return 1;
    }
    printf("{\"scenario\":\"postgres_load\",\"users\":%u,\"load_s\":%.1f}\n", n, bench_now() - t0);
    fflush(stdout);
    double best = 0;
    int best_c = 0;
    static const int levels[] = {1, 2, 4, 8};
    for (size_t l = 0; l < 4; l++) {
        int conc = levels[l], per = per_level / conc;
        struct worker w[8];
        pthread_t th[8];
        for (int i = 0; i < conc; i++)
            w[i] = (struct worker){n, per, 2463534242u + (unsigned)(i * 7919 + conc),
                                   calloc((size_t)per, sizeof(double)), 0};
        double s0 = bench_now();
        for (int i = 0; i < conc; i++)
            pthread_create(&th[i], NULL, work, &w[i]);
        for (int i = 0; i < conc; i++)
            pthread_join(th[i], NULL);
        double wall = bench_now() - s0;
        int total = per * conc, fails = 0;
        double *all = calloc((size_t)total, sizeof(double));
        for (int i = 0; i < conc; i++) {
            memcpy(all + (size_t)i * (size_t)per, w[i].lat, (size_t)per * sizeof(double));
            fails += w[i].failures;
            free(w[i].lat);
        }
        qsort(all, (size_t)total, sizeof(double), cmp);
        double ids_s = (double)total * IDS / wall;
        printf("{\"scenario\":\"postgres_import\",\"concurrency\":%d,\"requests\":%d,"
               "\"failures\":%d,\"ids_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
               conc, total, fails, ids_s, all[total / 2], all[(size_t)(total * 0.99)]);
        fflush(stdout);
        if (ids_s > best && !fails) {
            best = ids_s;
            best_c = conc;
        }
        free(all);
    }
    printf(
        "{\"scenario\":\"postgres_import_best\",\"postgres_ids_per_s\":%.0f,\"concurrency\":%d}\n",
        best, best_c);
    static const struct {
        const char *name, *pg;
    } segs[] = {
        {"one cohort", "SELECT count(*) FROM seg_membership WHERE cohort = 'c3'"},
        {"cohort and not cohort",
         "SELECT count(*) FROM seg_membership a WHERE a.cohort = 'c0' AND NOT EXISTS (SELECT 1 "
         "FROM seg_membership b WHERE b.cohort = 'c1' AND b.uid = a.uid)"},
        {"3 filters with an attribute",
         "SELECT count(*) FROM seg_membership a JOIN users u ON u.uid = a.uid WHERE a.cohort = "
         "'c2' AND u.plan = 'trial' AND NOT EXISTS (SELECT 1 FROM seg_membership b WHERE "
         "b.cohort = 'c5' AND b.uid = a.uid)"},
        {"or of 5 cohorts",
         "SELECT count(DISTINCT uid) FROM seg_membership WHERE cohort IN ('c6','c7','c8','c9',"
         "'c10')"},
    };
    for (size_t i = 0; i < 4; i++) {
        long long count;
        double ms = time_count(c, segs[i].pg, &count);
        printf("{\"scenario\":\"postgres_segment\",\"name\":\"%s\",\"postgres_ms\":%.1f,"
               "\"size\":%lld}\n",
               segs[i].name, ms, count);
        fflush(stdout);
    }
    /* the same counts in SQLite, with indexes */
    char path[300];
    snprintf(path, sizeof path, "%s/seg.db", dir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; CREATE TABLE m(cohort TEXT, "
                 "uid INTEGER); CREATE TABLE u(uid INTEGER PRIMARY KEY, plan TEXT); BEGIN;",
                 NULL, NULL, NULL);
    sqlite3_stmt *im, *iu;
    sqlite3_prepare_v2(db, "INSERT INTO m VALUES (?, ?)", -1, &im, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO u VALUES (?, ?)", -1, &iu, NULL);
    unsigned s1 = 88172645u;
    for (uint32_t u = 1; u <= n; u++) {
        unsigned s = xs(&s1);
        sqlite3_bind_int64(iu, 1, u);
        sqlite3_bind_text(iu, 2, plan_names[s % 3], -1, SQLITE_STATIC);
        sqlite3_step(iu);
        sqlite3_reset(iu);
        for (int k = 0; k < N_COHORTS; k++) {
            if ((s >> (k % 8)) % (unsigned)(k + 2))
                continue;
            char co[8];
            snprintf(co, sizeof co, "c%d", k);
            sqlite3_bind_text(im, 1, co, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(im, 2, u);
            sqlite3_step(im);
            sqlite3_reset(im);
        }
    }
    sqlite3_finalize(im);
    sqlite3_finalize(iu);
    sqlite3_exec(db, "COMMIT; CREATE INDEX mi ON m(cohort, uid); CREATE INDEX up ON u(plan, uid);",
                 NULL, NULL, NULL);
    for (size_t i = 0; i < 4; i++) {
        char sql[600];
        snprintf(sql, sizeof sql, "%s", segs[i].pg);
        /* same SQL with the SQLite table names */
        char *p;
        while ((p = strstr(sql, "seg_membership")))
            memmove(p + 1, p + 14, strlen(p + 14) + 1), *p = 'm';
        while ((p = strstr(sql, "users u")))
            *p = 'u', memmove(p + 1, p + 5, strlen(p + 5) + 1);
        double bestms = 1e9;
        long long count = -1;
        for (int r = 0; r < RUNS; r++) {
            sqlite3_stmt *st;
            double t1 = bench_now();
            if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW)
                count = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
            double ms = (bench_now() - t1) * 1000;
            bestms = ms < bestms ? ms : bestms;
        }
        printf("{\"scenario\":\"sqlite_segment\",\"name\":\"%s\",\"sqlite_ms\":%.1f,\"size\":%lld}"
               "\n",
               segs[i].name, bestms, count);
        fflush(stdout);
    }
    sqlite3_close(db);
    PQfinish(c);
    pg_stop();
    return 0;
}
