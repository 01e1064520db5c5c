/*
 * bench_ceiling.c — the in-process ceiling of partner cohort import: the same users and the
 * same kind of 1000-id changes as bench_import, applied through the core API (cohort_apply:
 * identity look-ups, bitmaps, one durable log row and commit per request) with no HTTP and no
 * JSON, on one thread. Prints one JSON object.
 *
 * usage: bench_ceiling COHORTD_BIN [USERS] [REQUESTS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_users.h"
#include "core/workspace/admin.h"
#include "core/cohorts/cohort_import.h"

#define IDS 1000

static unsigned xs(unsigned *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ceiling COHORTD_BIN [USERS] [REQUESTS]\n");
        return 2;
    }
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    int requests = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 2000;
    struct bench_server b;
    if (bench_prepare(&b, argv[1], n) != 0)
        return 1;
    char url[512], msg[256];
    snprintf(url, sizeof url, "sqlite:%s/cohortd.db", b.data);
    struct store *s = NULL;
    struct app *app = NULL;
    struct admin_workspace aw;
    struct workspace *ws = NULL;
    if (store_open(url, &s, msg, sizeof msg) != CD_OK || app_new(s, &app) != CD_OK ||
        admin_workspace_find(s, NULL, &aw) != CD_OK || app_workspace(app, aw.id, &ws) != CD_OK)
        return 1;
    /* the identifiers as strings, built before timing */
    char(*texts)[48] = malloc((size_t)IDS * 48);
    struct cohort_ident *ids = malloc(IDS * sizeof *ids);
    unsigned seed = 2463534242u;
    double busy = 0;
    for (int r = 0; r < requests; r++) {
        for (int k = 0; k < IDS; k++) {
            uint32_t u = xs(&seed) % n + 1;
            switch (bench_user_kind(u)) {
            case BENCH_EXTERNAL:
                snprintf(texts[k], 48, "user_%u", u);
                ids[k] = (struct cohort_ident){COHORT_ID_EXTERNAL_OR_DEVICE, texts[k], NULL};
                break;
            case BENCH_ALIAS:
                snprintf(texts[k], 48, "user_%u@example.com", u);
                ids[k] = (struct cohort_ident){COHORT_ID_ALIAS, "email", texts[k]};
                break;
            case BENCH_DEVICE:
                snprintf(texts[k], 48, "device_%u", u);
                ids[k] = (struct cohort_ident){COHORT_ID_DEVICE, texts[k], NULL};
                break;
            }
        }
        struct cohort_change ch[2] = {{false, ids, IDS * 9 / 10},
                                      {true, ids + IDS * 9 / 10, IDS / 10}};
        char cohort[16];
        snprintf(cohort, sizeof cohort, "cohort_%u", xs(&seed) % 20);
        struct cohort_apply_result res;
        double t0 = bench_now();
        if (cohort_apply(app, ws, "heap", cohort, ch, 2, &res) != CD_OK)
            return 1;
        busy += bench_now() - t0;
    }
    printf("{\"scenario\":\"ceiling\",\"users\":%u,\"requests\":%d,\"ceiling_ids_per_s\":%.0f,"
           "\"ms_per_request\":%.3f}\n",
           n, requests, (double)requests * IDS / busy, busy * 1000 / requests);
    free(texts);
    free(ids);
    app_free(app);
    store_close(s);
    bench_cleanup(&b);
    return 0;
}
