/*
 * bench_currents.c — Currents delivery throughput: a real cohortd, a Current with batch size
 * 1000 pointing at a counting receiver in this process (bench_receiver), and E custom events
 * written to the outbox; measures the time until the receiver has every event. Prints one JSON
 * object.
 *
 * usage: bench_currents COHORTD_BIN [EVENTS]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_users.h"
#include "core/workspace/admin.h"
#include "store/store.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_currents COHORTD_BIN [EVENTS]\n");
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    unsigned port = 0;
    struct bench_receiver *rcv = bench_receiver_start(&port);
    struct bench_server b;
    if (!rcv || bench_prepare(&b, argv[1], 1) != 0 || bench_start(&b, argv[1]) != 0) {
        fprintf(stderr, "bench_currents: cannot start cohortd\n");
        return 1;
    }
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"bench\",\"type\":\"custom_http\",\"endpoint\":\"http://127.0.0.1:%u/"
             "in\",\"event_types\":[\"users.behaviors.CustomEvent\"],\"batch_size\":1000}",
             port);
    int status = bench_post_rest(&b, "/currents/create", body, NULL, 0);
    if (status != 201) {
        fprintf(stderr, "bench_currents: cannot create the Current (%d)\n", status);
        return 1;
    }
    /* events straight into the outbox, as a burst of tracked events would leave them */
    char dburl[512], msg[256];
    snprintf(dburl, sizeof dburl, "sqlite:%s/cohortd.db", b.data);
    struct store *s = NULL;
    struct admin_workspace ws;
    if (store_open(dburl, &s, msg, sizeof msg) != CD_OK ||
        admin_workspace_find(s, NULL, &ws) != CD_OK)
        return 1;
    const struct store_ops *ops = STORE_OPS(s);
    double t0 = bench_now();
    for (long done = 0; done < n;) {
        struct store_txn *t;
        if (ops->begin(s, &t) != CD_OK)
            return 1;
        for (int k = 0; k < 10000 && done < n; k++, done++) {
            char ev[512];
            snprintf(ev, sizeof ev,
                     "{\"event_type\":\"users.behaviors.CustomEvent\",\"id\":\"%08lx-0000-4000-"
                     "8000-000000000000\",\"time\":1714637700,\"user\":{\"user_id\":"
                     "\"65f0c0ffee0123456789abcd\",\"external_user_id\":\"user_%ld\"},"
                     "\"properties\":{\"app_group_id\":\"%s\",\"name\":\"viewed\","
                     "\"custom_properties\":{\"step\":%ld}}}",
                     done, done, ws.public_id, done);
            ops->outbox->append(t, ws.id, "users.behaviors.CustomEvent", 0, ev, NULL);
        }
        if (ops->commit(t) != CD_OK)
            return 1;
    }
    double written = bench_now();
    while (bench_receiver_events(rcv) < n && bench_now() - written < 120) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double end = bench_now();
    printf("{\"scenario\":\"currents\",\"events\":%ld,\"delivered\":%ld,\"batch_size\":1000,"
           "\"write_s\":%.2f,\"events_per_s\":%.0f}\n",
           n, bench_receiver_events(rcv), written - t0, (double)n / (end - t0));
    store_close(s);
    bench_cleanup(&b);
    bench_receiver_stop(rcv);
    curl_global_cleanup();
    return bench_receiver_events(rcv) >= n ? 0 : 1;
}
