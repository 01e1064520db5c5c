/*
 * bench_currents.c — Currents delivery throughput: a real cohortd, a Current with batch size
 * 1000 pointing at a minimal HTTP sink in this process (libmicrohttpd, answers 200 and counts
 * events), and E custom events written to the outbox; measures the time until the sink has
 * every event (the sink counts events without parsing them). Prints one JSON object.
 *
 * usage: bench_currents COHORTD_BIN [EVENTS]
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_users.h"
#include "core/admin.h"
#include "store/store.h"

static atomic_long received;

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls) {
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    struct upload *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*size) {
        u->data = realloc(u->data, u->len + *size + 1);
        memcpy(u->data + u->len, data, *size);
        u->len += *size;
        u->data[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    /* count events without parsing: the sink should cost as little as possible */
    long events = 0;
    for (const char *p = u->data; p && (p = strstr(p, "\"event_type\"")); p++)
        events++;
    atomic_fetch_add(&received, events);
    free(u->data);
    u->data = NULL;
    u->len = 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u)
        free(u->data);
    free(u);
    *con_cls = NULL;
}

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_currents COHORTD_BIN [EVENTS]\n");
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, on_req, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    unsigned port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    struct bench_server b;
    if (bench_prepare(&b, argv[1], 1) != 0 || bench_start(&b, argv[1]) != 0) {
        fprintf(stderr, "bench_currents: cannot start cohortd\n");
        return 1;
    }
    char body[512], url[128], auth[128];
    snprintf(body, sizeof body,
             "{\"name\":\"bench\",\"type\":\"custom_http\",\"endpoint\":\"http://127.0.0.1:%u/"
             "in\",\"event_types\":[\"users.behaviors.CustomEvent\"],\"batch_size\":1000}",
             port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/currents/create", b.port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", b.rest_key);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) != CURLE_OK ||
        (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 201)) {
        fprintf(stderr, "bench_currents: cannot create the Current (%ld)\n", status);
        return 1;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
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
        ops->begin(s);
        for (int k = 0; k < 10000 && done < n; k++, done++) {
            char ev[512];
            snprintf(ev, sizeof ev,
                     "{\"event_type\":\"users.behaviors.CustomEvent\",\"id\":\"%08lx-0000-4000-"
                     "8000-000000000000\",\"time\":1714637700,\"user\":{\"user_id\":"
                     "\"65f0c0ffee0123456789abcd\",\"external_user_id\":\"user_%ld\"},"
                     "\"properties\":{\"app_group_id\":\"%s\",\"name\":\"viewed\","
                     "\"custom_properties\":{\"step\":%ld}}}",
                     done, done, ws.public_id, done);
            ops->outbox->append(s, ws.id, "users.behaviors.CustomEvent", 0, ev, NULL);
        }
        ops->commit(s);
    }
    double written = bench_now();
    while (atomic_load(&received) < n && bench_now() - written < 120) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double end = bench_now();
    printf("{\"scenario\":\"currents\",\"events\":%ld,\"delivered\":%ld,\"batch_size\":1000,"
           "\"write_s\":%.2f,\"events_per_s\":%.0f}\n",
           n, atomic_load(&received), written - t0, (double)n / (end - t0));
    store_close(s);
    bench_cleanup(&b);
    MHD_stop_daemon(d);
    curl_global_cleanup();
    return atomic_load(&received) >= n ? 0 : 1;
}
