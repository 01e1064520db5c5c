/*
 * bench_currents.c — Currents delivery throughput: a real cohortd, a Current with batch size
 * 1000 pointing at a counting receiver in this process (bench_receiver). Prints one JSON object
 * with two measurements of E custom events each:
 *
 *  1. While serving: this program writes E events into the outbox (10 000 per transaction) while
 *     the server delivers. write_s is the time of those writes; events_per_s is E divided by the
 *     time from the first write until the receiver has every event. This is the earlier figure,
 *     kept under its name so old and new runs compare like with like; it is mostly bounded by
 *     this program's own SQLite writes (write_s), not by delivery.
 *  2. From the store: the server is stopped, E more events are written, and the server is
 *     started again. delivery_events_per_s is E divided by the time from starting the server
 *     (start-up included: delivery_startup_s) until the receiver has them all: the delivery rate
 *     once the events are all in the store.
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

/* Writes events from..from+n-1 into the outbox, 10 000 per transaction; returns 0 or -1. */
static int write_events(struct store *s, const struct admin_workspace *ws, long from, long n) {
    const struct store_ops *ops = STORE_OPS(s);
    for (long done = from; done < from + n;) {
        struct store_txn *t;
        if (ops->begin(s, &t) != CD_OK)
            return -1;
        for (int k = 0; k < 10000 && done < from + n; k++, done++) {
            char ev[512];
            snprintf(ev, sizeof ev,
                     "{\"event_type\":\"users.behaviors.CustomEvent\",\"id\":\"%08lx-0000-4000-"
                     "8000-000000000000\",\"time\":1714637700,\"user\":{\"user_id\":"
                     "\"65f0c0ffee0123456789abcd\",\"external_user_id\":\"user_%ld\"},"
                     "\"properties\":{\"app_group_id\":\"%s\",\"name\":\"viewed\","
                     "\"custom_properties\":{\"step\":%ld}}}",
                     done, done, ws->public_id, done);
            ops->outbox->append(t, ws->id, "users.behaviors.CustomEvent", 0, ev, NULL);
        }
        if (ops->commit(t) != CD_OK)
            return -1;
    }
    return 0;
}

/* Waits (at most 120 s) until the receiver has want events; returns the time then. */
static double wait_for(struct bench_receiver *rcv, long want) {
    double from = bench_now();
    while (bench_receiver_events(rcv) < want && bench_now() - from < 120) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return bench_now();
}

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
    double t0 = bench_now();
    if (write_events(s, &ws, 0, n) != 0)
        return 1;
    double written = bench_now();
    double end = wait_for(rcv, n);
    long delivered = bench_receiver_events(rcv);
    /* 2: every event in the store before the server starts */
    bench_stop(&b);
    double w1 = bench_now();
    if (write_events(s, &ws, n, n) != 0)
        return 1;
    double w2 = bench_now();
    double start = bench_now();
    if (bench_start(&b, argv[1]) != 0) {
        fprintf(stderr, "bench_currents: cannot start cohortd again\n");
        return 1;
    }
    double end2 = wait_for(rcv, 2 * n);
    long delivered2 = bench_receiver_events(rcv) - delivered;
    printf("{\"scenario\":\"currents\",\"events\":%ld,\"delivered\":%ld,\"batch_size\":1000,"
           "\"write_s\":%.2f,\"events_per_s\":%.0f,\"delivery_write_s\":%.2f,"
           "\"delivery_startup_s\":%.3f,\"delivery_s\":%.3f,\"delivered_from_store\":%ld,"
           "\"delivery_events_per_s\":%.0f}\n",
           n, delivered, written - t0, (double)n / (end - t0), w2 - w1, b.startup_s, end2 - start,
           delivered2, (double)n / (end2 - start));
    store_close(s);
    bench_cleanup(&b);
    bench_receiver_stop(rcv);
    curl_global_cleanup();
    return delivered >= n && delivered2 >= n ? 0 : 1;
}
