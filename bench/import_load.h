/*
 * import_load.h — one level of import load: `conc` clients posting 1000-id Heap cohort imports
 * (bench_import_body_new) to one server, as fast as it answers, timed as a whole and per request.
 */
#ifndef COHORTD_BENCH_IMPORT_LOAD_H
#define COHORTD_BENCH_IMPORT_LOAD_H

#include <stdint.h>

#include "bench_users.h"

#define BENCH_MAX_CLIENTS 32

struct bench_level {
    int requests; /* sent: total rounded down to a multiple of the clients */
    int failures; /* answers other than 201 and 429 (and no answer) */
    int shed;     /* 429: the workspace's write queue was full; nothing applied */
    double wall_s;
    double ids_per_s;      /* ids of applied imports per second of wall time */
    double requests_per_s; /* every answer, shed ones included */
    double p50_ms, p99_ms;
    double server_cpu_s; /* CPU time `to`'s process spent during the level */
};

/* Sends `total` requests from `conc` (1..BENCH_MAX_CLIENTS) clients, each with its own bodies
 * drawn from seed + its index; the bodies are built before the clock starts. */
void bench_import_level(const struct bench_server *to, uint32_t n_users, int total, int conc,
                        unsigned seed, struct bench_level *out);

#endif
