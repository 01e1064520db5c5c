/*
 * pg_fresh.h — a fresh database on the throwaway server of tests/pg/with-pg.sh for each test:
 * its URL goes to COHORTD_STORE, which `cohortd init` and `cohortd serve` read.
 */
#ifndef COHORTD_TESTS_PG_PG_FRESH_H
#define COHORTD_TESTS_PG_PG_FRESH_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void use_fresh_database(const char *prefix) {
    static int n_db;
    const char *base = getenv("COHORTD_TEST_PG_URL");
    if (!base || !*base)
        fail_msg("COHORTD_TEST_PG_URL is not set: run this test through tests/pg/with-pg.sh");
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", base, PQerrorMessage(c));
    char name[64], sql[128], url[512];
    snprintf(name, sizeof name, "%s_%d_%d", prefix, (int)getpid(), n_db++);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    const char *slash = strrchr(base, '/');
    snprintf(url, sizeof url, "%.*s/%s", (int)(slash - base), base, name);
    setenv("COHORTD_STORE", url, 1);
}

#endif
