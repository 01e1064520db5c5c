/* sink.c — the test Currents receiver (see sink.h). */
#include "sink.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct sink {
    struct MHD_Daemon *d;
    pthread_mutex_t lock;
    int status, retry_after, max_events;
    int fail_first, fail_status, delay_ms;
    char reject[64];
    char auth[256];
    char fail_path[256]; /* requests to this path get fail_path_status and fail_path_body */
    int fail_path_status;
    char fail_path_body[256];
    struct sink_request reqs[SINK_MAX_REQUESTS];
    size_t n;
    struct sink_request probes[SINK_MAX_PROBES]; /* empty batches: credential probes */
    size_t n_probes;
};

struct upload {
    char *data;
    size_t len;
};

static int batch_has(const json_t *body, const char *id) {
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(body, "events"), i, e) {
        const char *eid = json_string_value(json_object_get(e, "id"));
        const char *name =
            json_string_value(json_object_get(json_object_get(e, "properties"), "name"));
        if ((eid && strcmp(eid, id) == 0) || (name && strcmp(name, id) == 0))
            return 1;
    }
    return 0;
}

static enum MHD_Result keep_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
    (void)kind;
    json_object_set_new(cls, key, json_string(value ? value : ""));
    return MHD_YES;
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls) {
    (void)version;
    struct sink *k = cls;
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
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Braze-Currents-Version");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    json_t *body = u->data ? json_loads(u->data, 0, NULL) : NULL;
    /* {"events":[]} is a Current's credential probe: kept apart, answered at once, and it
     * takes nothing of fail_first */
    const json_t *events = json_object_get(body, "events");
    bool probe = json_is_array(events) && json_array_size(events) == 0;
    pthread_mutex_lock(&k->lock);
    int status = k->status ? k->status : 200;
    int delay_ms = probe ? 0 : k->delay_ms;
    if (k->fail_first > 0 && !probe) {
        k->fail_first--;
        status = k->fail_status;
    }
    if (k->auth[0] && (!auth || strcmp(auth, k->auth) != 0))
        status = 401;
    else if (status == 200 && k->reject[0] && batch_has(body, k->reject))
        status = 400;
    else if (status == 200 && k->max_events &&
             json_array_size(json_object_get(body, "events")) > (size_t)k->max_events)
        status = 413;
    char answer[sizeof k->fail_path_body] = "{}"; /* copied: the settings may change */
    if (k->fail_path[0] && strcmp(url, k->fail_path) == 0 && !probe) {
        status = k->fail_path_status;
        snprintf(answer, sizeof answer, "%s", k->fail_path_body);
    }
    int retry_after = k->retry_after;
    struct sink_request *r =
        probe ? (k->n_probes < SINK_MAX_PROBES ? &k->probes[k->n_probes++] : NULL)
              : (k->n < SINK_MAX_REQUESTS ? &k->reqs[k->n++] : NULL);
    if (r) {
        r->body = body;
        body = NULL;
        snprintf(r->authorization, sizeof r->authorization, "%s", auth ? auth : "");
        snprintf(r->version, sizeof r->version, "%s", ver ? ver : "");
        snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
        r->status = status;
        r->raw = strdup(u->data ? u->data : "");
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        r->query = json_object();
        r->headers = json_object();
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, keep_value, r->query);
        MHD_get_connection_values(c, MHD_HEADER_KIND, keep_value, r->headers);
    }
    pthread_mutex_unlock(&k->lock);
    json_decref(body);
    if (delay_ms) {
        struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(answer), answer, MHD_RESPMEM_MUST_COPY);
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
    }
    *con_cls = NULL;
}

struct sink *sink_start(char *url, size_t url_len) {
    struct sink *k = calloc(1, sizeof *k);
    pthread_mutex_init(&k->lock, NULL);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    k->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_req, k, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, k, MHD_OPTION_END);
    if (!k->d) {
        free(k);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(k->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, url_len, "http://127.0.0.1:%u/ingest?ws=a", (unsigned)info->port);
    return k;
}

struct sink *sink_start_webhook(char *base, size_t base_len) {
    struct sink *k = sink_start(base, base_len);
    char *path = strstr(base, "/ingest");
    if (path)
        *path = '\0';
    return k;
}

void sink_stop(struct sink *k) {
    if (!k)
        return;
    MHD_stop_daemon(k->d);
    for (size_t i = 0; i < k->n + k->n_probes; i++) {
        struct sink_request *r = i < k->n ? &k->reqs[i] : &k->probes[i - k->n];
        json_decref(r->body);
        json_decref(r->query);
        json_decref(r->headers);
        free(r->raw);
    }
    pthread_mutex_destroy(&k->lock);
    free(k);
}

void sink_answer(struct sink *k, int status, int retry_after) {
    pthread_mutex_lock(&k->lock);
    k->status = status;
    k->retry_after = retry_after;
    pthread_mutex_unlock(&k->lock);
}

void sink_reject_event(struct sink *k, const char *event_id) {
    pthread_mutex_lock(&k->lock);
    snprintf(k->reject, sizeof k->reject, "%s", event_id ? event_id : "");
    pthread_mutex_unlock(&k->lock);
}

void sink_max_events(struct sink *k, int n) {
    pthread_mutex_lock(&k->lock);
    k->max_events = n;
    pthread_mutex_unlock(&k->lock);
}

void sink_require_auth(struct sink *k, const char *value) {
    pthread_mutex_lock(&k->lock);
    snprintf(k->auth, sizeof k->auth, "%s", value ? value : "");
    pthread_mutex_unlock(&k->lock);
}

void sink_fail_first(struct sink *k, int n, int status) {
    pthread_mutex_lock(&k->lock);
    k->fail_first = n;
    k->fail_status = status;
    pthread_mutex_unlock(&k->lock);
}

void sink_fail_path(struct sink *k, const char *path, int status, const char *body) {
    pthread_mutex_lock(&k->lock);
    snprintf(k->fail_path, sizeof k->fail_path, "%s", path ? path : "");
    snprintf(k->fail_path_body, sizeof k->fail_path_body, "%s", body ? body : "");
    k->fail_path_status = status;
    pthread_mutex_unlock(&k->lock);
}

void sink_delay(struct sink *k, int ms) {
    pthread_mutex_lock(&k->lock);
    k->delay_ms = ms;
    pthread_mutex_unlock(&k->lock);
}

size_t sink_wait_requests(struct sink *k, size_t n, int ms) {
    size_t have = 0;
    for (int waited = 0; waited <= ms; waited += 20) {
        have = sink_count(k);
        if (have >= n)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return have;
}

size_t sink_count(struct sink *k) {
    pthread_mutex_lock(&k->lock);
    size_t n = k->n;
    pthread_mutex_unlock(&k->lock);
    return n;
}

const struct sink_request *sink_get(struct sink *k, size_t i) {
    pthread_mutex_lock(&k->lock);
    const struct sink_request *r = i < k->n ? &k->reqs[i] : NULL;
    pthread_mutex_unlock(&k->lock);
    return r;
}

size_t sink_probe_count(struct sink *k) {
    pthread_mutex_lock(&k->lock);
    size_t n = k->n_probes;
    pthread_mutex_unlock(&k->lock);
    return n;
}

const struct sink_request *sink_probe_get(struct sink *k, size_t i) {
    pthread_mutex_lock(&k->lock);
    const struct sink_request *r = i < k->n_probes ? &k->probes[i] : NULL;
    pthread_mutex_unlock(&k->lock);
    return r;
}

json_t *sink_accepted_events(struct sink *k) {
    json_t *all = json_array();
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n; i++)
        if (k->reqs[i].status / 100 == 2)
            json_array_extend(all, json_object_get(k->reqs[i].body, "events"));
    pthread_mutex_unlock(&k->lock);
    return all;
}

size_t sink_wait_events(struct sink *k, size_t n, int ms) {
    size_t have = 0;
    for (int waited = 0; waited <= ms; waited += 20) {
        json_t *all = sink_accepted_events(k);
        have = json_array_size(all);
        json_decref(all);
        if (have >= n)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return have;
}
