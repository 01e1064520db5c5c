/*
 * dispatcher.c — the Currents delivery loop (see dispatcher.h). Runtime retry state (attempts,
 * next attempt time, batch splitting after 400 / 413) lives in memory; positions, counters,
 * states and dead letters live in the store. Touches the store and libcurl only.
 */
#include "workers/dispatcher.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MAX_CURRENTS 256

enum batch_kind { BATCH_NONE, BATCH_OUTBOX, BATCH_REPLAY };

struct event_ref {
    int64_t seq; /* outbox seq, or dead letter id for replays */
    int64_t created_at;
    char *body;
};

struct runtime {
    int64_t id; /* current row id; 0 = free slot */
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    int64_t next_attempt_ms;
    int attempts;
    int64_t split_until; /* while position < split_until, send at most split_limit events */
    int64_t split_limit;
    /* the batch in flight */
    enum batch_kind kind;
    struct event_ref *events;
    size_t n_events, events_cap;
    int64_t last_seq; /* position after this batch */
    char *body;
    char response[256];
    size_t response_len;
    /* the row as read this cycle */
    struct current_row row;
    char *types; /* owned copies of row strings we need */
};

struct currents {
    struct store *store;
    struct currents_config cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    CURLM *multi;
    struct runtime rt[MAX_CURRENTS];
};

static int64_t jitter(int64_t ms, double lo, double hi) {
    uint32_t r = 0;
    crypto_random(&r, sizeof r);
    double f = lo + (hi - lo) * ((double)r / 4294967295.0);
    return (int64_t)((double)ms * f);
}

static void batch_clear(struct runtime *rt) {
    for (size_t i = 0; i < rt->n_events; i++)
        free(rt->events[i].body);
    rt->n_events = 0;
    rt->kind = BATCH_NONE;
    free(rt->body);
    rt->body = NULL;
    rt->response_len = 0;
}

static void runtime_free(struct runtime *rt) {
    batch_clear(rt);
    free(rt->events);
    if (rt->easy)
        curl_easy_cleanup(rt->easy);
    curl_slist_free_all(rt->headers);
    free(rt->url);
    free(rt->types);
    memset(rt, 0, sizeof *rt);
}

static int add_event(struct runtime *rt, int64_t seq, int64_t created_at, const char *body) {
    if (rt->n_events == rt->events_cap) {
        size_t cap = rt->events_cap ? rt->events_cap * 2 : 64;
        struct event_ref *v = realloc(rt->events, cap * sizeof *v);
        if (!v)
            return -1;
        rt->events = v;
        rt->events_cap = cap;
    }
    char *copy = strdup(body);
    if (!copy)
        return -1;
    rt->events[rt->n_events++] = (struct event_ref){seq, created_at, copy};
    return 0;
}

/* ---- reading the Currents and their events ---- */

struct list_ctx {
    struct currents *c;
    bool seen[MAX_CURRENTS];
};

static struct runtime *runtime_for(struct currents *c, int64_t id, bool create) {
    struct runtime *free_slot = NULL;
    for (int i = 0; i < MAX_CURRENTS; i++) {
        if (c->rt[i].id == id)
            return &c->rt[i];
        if (!c->rt[i].id && !free_slot)
            free_slot = &c->rt[i];
    }
    if (!create || !free_slot)
        return NULL;
    free_slot->id = id;
    free_slot->easy = curl_easy_init();
    return free_slot;
}

static void take_current(void *ctx, const struct current_row *r) {
    struct list_ctx *lc = ctx;
    struct runtime *rt = runtime_for(lc->c, r->id, true);
    if (!rt || !rt->easy)
        return;
    lc->seen[rt - lc->c->rt] = true;
    bool changed = !rt->url || strcmp(rt->url, r->endpoint) != 0;
    if (changed) {
        free(rt->url);
        rt->url = strdup(r->endpoint);
    }
    curl_slist_free_all(rt->headers);
    rt->headers = curl_slist_append(NULL, "Content-Type: application/json");
    rt->headers = curl_slist_append(rt->headers, "Braze-Currents-Version: 1");
    if (r->bearer_token && *r->bearer_token) {
        char auth[600];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->bearer_token);
        rt->headers = curl_slist_append(rt->headers, auth);
    }
    free(rt->types);
    rt->types = strdup(r->event_types);
    rt->row = *r;
    rt->row.current_id = rt->row.name = rt->row.type = rt->row.endpoint = NULL;
    rt->row.bearer_token = rt->row.event_types = rt->row.last_error = NULL;
    rt->row.state = strcmp(r->state, "active") == 0   ? "active"
                    : strcmp(r->state, "failed") == 0 ? "failed"
                                                      : "paused";
}

struct pick_ctx {
    struct runtime *rt;
    json_t *types;
    int64_t limit;
    int64_t last_examined;
    bool full;
    int failed;
};

static bool type_wanted(const json_t *types, const char *type) {
    size_t i;
    const json_t *v;
    json_array_foreach(types, i, v) if (strcmp(json_string_value(v), type) == 0) return true;
    return false;
}

static void pick_event(void *ctx, const struct outbox_row *r) {
    struct pick_ctx *pc = ctx;
    if (pc->full)
        return;
    if (type_wanted(pc->types, r->event_type)) {
        if (add_event(pc->rt, r->seq, r->created_at, r->body) != 0)
            pc->failed = 1;
        if ((int64_t)pc->rt->n_events >= pc->limit)
            pc->full = true;
    }
    pc->last_examined = r->seq;
}

static void pick_replay(void *ctx, const struct outbox_row *r) {
    struct pick_ctx *pc = ctx;
    if (add_event(pc->rt, r->seq, r->created_at, r->body) != 0)
        pc->failed = 1;
    pc->last_examined = r->seq;
}

/* Fills rt's batch; returns whether there is something to send. */
static bool build_batch(struct currents *c, struct runtime *rt) {
    const struct store_currents_ops *co = STORE_OPS(c->store)->currents;
    int64_t limit = rt->row.batch_size;
    if (rt->row.position < rt->split_until && rt->split_limit < limit)
        limit = rt->split_limit;
    json_t *types = json_loads(rt->types ? rt->types : "[]", 0, NULL);
    struct pick_ctx pc = {rt, types, limit, 0, false, 0};
    batch_clear(rt);
    enum cd_err err = co->replays(c->store, rt->id, limit, pick_replay, &pc);
    if (err == CD_OK && rt->n_events) {
        rt->kind = BATCH_REPLAY;
        rt->last_seq = pc.last_examined;
    } else if (err == CD_OK) {
        int64_t after = rt->row.position;
        /* read in pages until the batch is full or the outbox is exhausted */
        for (int pages = 0; pages < 16 && !pc.full; pages++) {
            int64_t before = pc.last_examined;
            err = co->outbox_after(c->store, rt->row.workspace_id, after, 1000, pick_event, &pc);
            if (err != CD_OK || pc.last_examined == before)
                break;
            after = pc.last_examined;
        }
        rt->kind = rt->n_events ? BATCH_OUTBOX : BATCH_NONE;
        rt->last_seq = pc.last_examined;
        if (!rt->n_events && pc.last_examined > rt->row.position)
            co->advance(c->store, rt->id, pc.last_examined, 0, 0, 0, NULL);
    }
    json_decref(types);
    if (err != CD_OK || pc.failed) {
        batch_clear(rt);
        return false;
    }
    if (rt->kind == BATCH_NONE)
        return false;
    size_t len = 16;
    for (size_t i = 0; i < rt->n_events; i++)
        len += strlen(rt->events[i].body) + 1;
    rt->body = malloc(len);
    if (!rt->body) {
        batch_clear(rt);
        return false;
    }
    size_t off = (size_t)snprintf(rt->body, len, "{\"events\":[");
    for (size_t i = 0; i < rt->n_events; i++)
        off +=
            (size_t)snprintf(rt->body + off, len - off, "%s%s", i ? "," : "", rt->events[i].body);
    snprintf(rt->body + off, len - off, "]}");
    return true;
}

/* ---- sending ---- */

static size_t keep_response(char *ptr, size_t size, size_t nmemb, void *ud) {
    struct runtime *rt = ud;
    size_t n = size * nmemb, room = sizeof rt->response - 1 - rt->response_len;
    memcpy(rt->response + rt->response_len, ptr, n < room ? n : room);
    rt->response_len += n < room ? n : room;
    rt->response[rt->response_len] = '\0';
    return n;
}

static void prepare(struct currents *c, struct runtime *rt) {
    CURL *e = rt->easy;
    curl_easy_setopt(e, CURLOPT_URL, rt->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, rt->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, rt->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(rt->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rt);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, rt);
    curl_multi_add_handle(c->multi, e);
}

/* ---- results ---- */

static void dead_letter_all(struct currents *c, struct runtime *rt, const char *reason) {
    const struct store_currents_ops *co = STORE_OPS(c->store)->currents;
    int64_t now = time_now_ms();
    for (size_t i = 0; i < rt->n_events; i++)
        co->dead_letter(c->store, rt->id, rt->events[i].seq, rt->events[i].body, reason, now);
    co->advance(c->store, rt->id, rt->last_seq, 0, 0, (int64_t)rt->n_events, reason);
    log_warn("currents", "current=%lld dead_lettered=%zu reason=\"%s\"", (long long)rt->id,
             rt->n_events, reason);
}

static void on_result(struct currents *c, struct runtime *rt, CURLcode rc) {
    const struct store_currents_ops *co = STORE_OPS(c->store)->currents;
    long status = 0;
    curl_off_t retry_after = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(rt->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(rt->easy, CURLINFO_RETRY_AFTER, &retry_after);
    }
    int64_t now = time_now_ms();
    char error[160];
    if (rc != CURLE_OK)
        snprintf(error, sizeof error, "network: %s", curl_easy_strerror(rc));
    else
        snprintf(error, sizeof error, "HTTP %ld", status);
    size_t n = rt->n_events;
    if (status >= 200 && status < 300) {
        if (rt->kind == BATCH_REPLAY) {
            co->replayed(c->store, rt->id, rt->last_seq);
            co->advance(c->store, rt->id, 0, (int64_t)n, 0, 0, NULL);
        } else {
            co->advance(c->store, rt->id, rt->last_seq, (int64_t)n, 0, 0, NULL);
        }
        if (strcmp(rt->row.state, "failed") == 0)
            co->set_state(c->store, rt->id, "active", NULL);
        rt->attempts = 0;
        rt->next_attempt_ms = 0;
        log_debug("currents", "current=%lld delivered=%zu status=%ld", (long long)rt->id, n,
                  status);
        return;
    }
    bool auth = status == 401 || status == 403;
    if (rt->kind == BATCH_OUTBOX && (status == 400 || status == 413)) {
        if (n == 1) {
            dead_letter_all(c, rt,
                            status == 400 ? "HTTP 400 for a single event"
                                          : "HTTP 413 for a single event");
        } else {
            rt->split_until = rt->last_seq;
            rt->split_limit = status == 400 ? 1 : (int64_t)(n / 2);
            rt->next_attempt_ms = 0;
        }
        return;
    }
    int64_t oldest = now;
    for (size_t i = 0; i < n; i++)
        if (rt->events[i].created_at < oldest)
            oldest = rt->events[i].created_at;
    int64_t horizon = auth ? c->cfg.auth_horizon_ms : c->cfg.horizon_ms;
    if (rt->kind == BATCH_OUTBOX && now - oldest > horizon) {
        char reason[200];
        snprintf(reason, sizeof reason, "undeliverable past the horizon (%s)", error);
        dead_letter_all(c, rt, reason);
        rt->attempts = 0;
        return;
    }
    co->advance(c->store, rt->id, 0, 0, 1, 0, error);
    if (auth) {
        co->set_state(c->store, rt->id, "failed", error);
        rt->next_attempt_ms = now + jitter(c->cfg.auth_retry_ms, 1.0, 2.5);
    } else {
        int64_t delay = c->cfg.retry_base_ms << (rt->attempts < 20 ? rt->attempts : 20);
        if (delay > c->cfg.retry_max_ms || delay <= 0)
            delay = c->cfg.retry_max_ms;
        delay = jitter(delay, 0.5, 1.5);
        if (retry_after > 0 && retry_after * 1000 > delay)
            delay = (int64_t)retry_after * 1000;
        rt->next_attempt_ms = now + delay;
    }
    rt->attempts++;
    log_info("currents", "current=%lld events=%zu result=retry error=\"%s\" attempt=%d",
             (long long)rt->id, n, error, rt->attempts);
}

/* ---- the loop ---- */

/* One pass over every due Current; returns how many delivered a full batch (more may wait). */
static int cycle(struct currents *c) {
    struct list_ctx lc = {.c = c};
    int full = 0;
    if (STORE_OPS(c->store)->currents->list(c->store, 0, take_current, &lc) != CD_OK)
        return 0;
    for (int i = 0; i < MAX_CURRENTS; i++)
        if (c->rt[i].id && !lc.seen[i])
            runtime_free(&c->rt[i]); /* deleted */
    int64_t now = time_now_ms();
    int running = 0;
    for (int i = 0; i < MAX_CURRENTS; i++) {
        struct runtime *rt = &c->rt[i];
        if (!rt->id || strcmp(rt->row.state, "paused") == 0 || now < rt->next_attempt_ms)
            continue;
        if (build_batch(c, rt)) {
            prepare(c, rt);
            running++;
        }
    }
    while (running) {
        int still = 0;
        curl_multi_perform(c->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct runtime *rt = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&rt);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(c->multi, m->easy_handle);
            long status = 0;
            curl_easy_getinfo(rt->easy, CURLINFO_RESPONSE_CODE, &status);
            full +=
                rc == CURLE_OK && status / 100 == 2 && (int64_t)rt->n_events >= rt->row.batch_size;
            on_result(c, rt, rc);
            batch_clear(rt);
            running--;
        }
        if (running)
            curl_multi_poll(c->multi, NULL, 0, 100, NULL);
    }
    return full;
}

static void *run(void *arg) {
    struct currents *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        pthread_mutex_unlock(&c->lock);
        int more = cycle(c);
        pthread_mutex_lock(&c->lock);
        if (c->stopping || more)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (c->cfg.poll_ms % 1000) * 1000000;
        ts.tv_sec += c->cfg.poll_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&c->wake, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

struct currents *currents_start(struct store *s, const struct currents_config *cfg) {
    struct currents *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->store = s;
    c->cfg = *cfg;
    c->multi = curl_multi_init();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (!c->multi || pthread_create(&c->thread, NULL, run, c) != 0) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c);
        return NULL;
    }
    return c;
}

void currents_stop(struct currents *c) {
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    for (int i = 0; i < MAX_CURRENTS; i++)
        if (c->rt[i].id)
            runtime_free(&c->rt[i]);
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    free(c);
}
