/*
 * dispatcher.c — the Currents delivery loop (see dispatcher.h). Touches the store and libcurl
 * only.
 *
 * One thread runs one loop over a libcurl multi handle. Every Current has its own runtime
 * record (a growable table sorted by the Current's row id, so any number of Currents is
 * served and a deleted or new Current is found by id) and its own schedule: a Current whose
 * request is answered gets its next batch at once (full batch, split batch) or after the poll
 * interval, while the others' requests stay in flight. Nothing waits for the slowest endpoint;
 * the loop sleeps in curl_multi_poll until a socket is ready or the next Current is due.
 *
 * Invariants: a Current's position (in the store and in its runtime) moves only after a 2xx
 * was recorded or after the events became dead letters, and dead letters and the position move
 * in one store transaction. When the store fails, nothing moves: the batch is sent again
 * later (at-least-once), with a log line. A delivery is recorded with a split commit: applied at
 * once, and made durable after the next requests went out (the sync overlaps their round trip);
 * a crash of the machine before that sync can only make a batch go again, never lose one. Runtime
 * retry state (attempts, next attempt time, batch splitting after 400 / 413) lives in memory;
 * positions, counters, states and dead letters live in the store.
 *
 * Costs: each due Current reads its replays and the outbox after its position (two indexed
 * reads) at most once per poll interval while idle; the Currents list is read once per poll
 * interval.
 * A batch's request body is built while its events are read, into one buffer per Current kept
 * from batch to batch: no allocation per event.
 *
 * Metrics: the loop counts delivered events and failed requests per Current; a collector
 * registered at start reads, at each scrape and on the scraping thread, every Current's backlog,
 * the age of its oldest undelivered event and its dead letters from the store (the store is
 * safe to read from any thread; the loop's own state is not touched).
 */
#include "workers/dispatcher.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/messaging/currents_config.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

enum batch_kind { BATCH_NONE, BATCH_OUTBOX, BATCH_REPLAY };
enum current_state { STATE_ACTIVE, STATE_PAUSED, STATE_FAILED };

struct event_ref {
    int64_t seq; /* outbox seq, or dead letter id for replays */
    int64_t created_at;
    size_t off, len; /* the event's JSON text inside the runtime's request body */
};

struct runtime {
    int64_t id;      /* the Current's row id: the table's key */
    char *public_id; /* current_id, for logs */
    CURL *easy;      /* one per Current: its connection is reused */
    struct curl_slist *headers;
    char *url;
    char *token;
    json_t *types; /* event types it wants (array of strings) */
    int64_t workspace_id;
    int64_t batch_size;
    int64_t position; /* last outbox seq delivered or dead-lettered, as recorded in the store */
    enum current_state state;
    bool seen; /* listed by the last refresh */
    bool in_flight;
    int64_t next_attempt_ms; /* no batch before this time (poll interval or backoff) */
    int attempts;
    int64_t split_until; /* while position < split_until, send at most split_limit events */
    int64_t split_limit;
    /* the batch in flight */
    enum batch_kind kind;
    struct event_ref *events;
    size_t n_events, events_cap;
    int64_t limit;    /* most events this batch could hold: a full batch means more may wait */
    int64_t last_seq; /* position after this batch */
    /* the request body, built while the events are read: {"events":[e1,e2,…]}; the buffer is
     * kept (and grows) from batch to batch, so a batch allocates nothing per event */
    char *body;
    size_t body_len, body_cap;
    /* the last recorded delivery, committed but maybe not yet durable (0: none) */
    uint64_t ticket;
    char response[256];
    size_t response_len;
};

struct currents {
    struct store *store;
    struct currents_config cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    bool stopping; /* under lock */
    CURLM *multi;
    struct runtime **rt; /* sorted by id; each allocated on its own (CURLOPT_PRIVATE points in) */
    size_t n_rt, rt_cap;
    int64_t next_list_ms;
};

static int64_t jitter(int64_t ms, double lo, double hi) {
    uint32_t r = 0;
    crypto_random(&r, sizeof r);
    double f = lo + (hi - lo) * ((double)r / 4294967295.0);
    return (int64_t)((double)ms * f);
}

/* Exponential backoff with jitter for the attempt number attempts. */
static int64_t backoff(const struct currents *c, int attempts) {
    int64_t delay = c->cfg.retry_base_ms << (attempts < 20 ? attempts : 20);
    if (delay > c->cfg.retry_max_ms || delay <= 0)
        delay = c->cfg.retry_max_ms;
    return jitter(delay, 0.5, 1.5);
}

static const char *state_name(enum current_state s) {
    return s == STATE_ACTIVE ? "active" : s == STATE_FAILED ? "failed" : "paused";
}

static void batch_clear(struct runtime *rt) {
    rt->n_events = 0;
    rt->kind = BATCH_NONE;
    rt->body_len = 0;
    rt->response_len = 0;
}

/* Appends n bytes to rt's request body; returns 0 or -1 (out of memory: body unchanged). */
static int body_put(struct runtime *rt, const char *p, size_t n) {
    if (rt->body_len + n + 1 > rt->body_cap) {
        size_t cap = rt->body_cap ? rt->body_cap : 4096;
        while (cap < rt->body_len + n + 1)
            cap *= 2;
        char *v = realloc(rt->body, cap);
        if (!v)
            return -1;
        rt->body = v;
        rt->body_cap = cap;
    }
    memcpy(rt->body + rt->body_len, p, n);
    rt->body_len += n;
    rt->body[rt->body_len] = '\0';
    return 0;
}

/* Event i's JSON text as a C string in buf (cap bytes) or, when longer, in a new allocation
 * (*heap then holds it: free it); NULL without memory. For the rare paths (dead letters). */
static const char *event_text(const struct runtime *rt, size_t i, char *buf, size_t cap,
                              char **heap) {
    const struct event_ref *e = &rt->events[i];
    char *out = buf;
    *heap = NULL;
    if (e->len + 1 > cap) {
        out = *heap = malloc(e->len + 1);
        if (!out)
            return NULL;
    }
    memcpy(out, rt->body + e->off, e->len);
    out[e->len] = '\0';
    return out;
}

/* Frees rt, first taking its request (if any) out of the multi handle. */
static void runtime_free(struct currents *c, struct runtime *rt) {
    if (!rt)
        return;
    if (rt->in_flight)
        curl_multi_remove_handle(c->multi, rt->easy);
    batch_clear(rt);
    free(rt->body);
    free(rt->events);
    if (rt->easy)
        curl_easy_cleanup(rt->easy);
    curl_slist_free_all(rt->headers);
    free(rt->url);
    free(rt->token);
    free(rt->public_id);
    json_decref(rt->types);
    free(rt);
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
    size_t len = strlen(body);
    if (body_put(rt, rt->n_events ? "," : "{\"events\":[", rt->n_events ? 1 : 11) != 0)
        return -1;
    size_t off = rt->body_len;
    if (body_put(rt, body, len) != 0)
        return -1;
    rt->events[rt->n_events++] = (struct event_ref){seq, created_at, off, len};
    return 0;
}

/* ---- the table of Currents ---- */

/* Index of the first runtime whose id is >= id. */
static size_t runtime_pos(const struct currents *c, int64_t id) {
    size_t lo = 0, hi = c->n_rt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->rt[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The runtime of Current id, created (in its sorted place) when new; NULL without memory. */
static struct runtime *runtime_get(struct currents *c, int64_t id) {
    size_t at = runtime_pos(c, id);
    if (at < c->n_rt && c->rt[at]->id == id)
        return c->rt[at];
    if (c->n_rt == c->rt_cap) {
        size_t cap = c->rt_cap ? c->rt_cap * 2 : 64;
        struct runtime **v = realloc(c->rt, cap * sizeof(struct runtime *));
        if (!v)
            return NULL;
        c->rt = v;
        c->rt_cap = cap;
    }
    struct runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->id = id;
    rt->easy = curl_easy_init();
    if (!rt->easy) {
        free(rt);
        return NULL;
    }
    memmove(&c->rt[at + 1], &c->rt[at], (c->n_rt - at) * sizeof(struct runtime *));
    c->rt[at] = rt;
    c->n_rt++;
    return rt;
}

static bool same(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* (Re)builds url, headers, types from the row; returns 0 or -1 (out of memory: rt unchanged). */
static int runtime_configure(struct runtime *rt, const struct current_row *r) {
    const char *token = r->bearer_token && *r->bearer_token ? r->bearer_token : NULL;
    char *url = strdup(r->endpoint);
    char *tok = token ? strdup(token) : NULL;
    char *id = strdup(r->current_id);
    char *auth = NULL;
    json_t *types = json_loads(r->event_types, 0, NULL);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Braze-Currents-Version: 1") : NULL;
    if (!url || (token && !tok) || !id || !json_is_array(types) || !h2)
        goto fail;
    if (token) {
        size_t len = strlen(token) + sizeof "Authorization: Bearer ";
        auth = malloc(len);
        if (!auth)
            goto fail;
        snprintf(auth, len, "Authorization: Bearer %s", token);
        if (!curl_slist_append(h2, auth))
            goto fail;
        free(auth);
    }
    free(rt->url);
    free(rt->token);
    free(rt->public_id);
    json_decref(rt->types);
    curl_slist_free_all(rt->headers);
    rt->url = url;
    rt->token = tok;
    rt->public_id = id;
    rt->types = types;
    rt->headers = h2;
    return 0;
fail:
    free(auth);
    free(url);
    free(tok);
    free(id);
    json_decref(types);
    curl_slist_free_all(h);
    return -1;
}

struct list_ctx {
    struct currents *c;
    int failed; /* rows that could not be taken (out of memory) */
};

static void take_current(void *ctx, const struct current_row *r) {
    struct list_ctx *lc = ctx;
    const struct currents_config *cfg = &lc->c->cfg;
    if (cfg->owns && !cfg->owns(cfg->owns_ctx, r->workspace_id))
        return; /* another node's: not seen, so its runtime (if any) goes */
    struct runtime *rt = runtime_get(lc->c, r->id);
    if (!rt) {
        lc->failed++;
        return;
    }
    rt->seen = true;
    rt->state = strcmp(r->state, "active") == 0   ? STATE_ACTIVE
                : strcmp(r->state, "failed") == 0 ? STATE_FAILED
                                                  : STATE_PAUSED;
    /* the request in flight uses url, headers and its batch: those change only between batches
     * (a later refresh takes the change) */
    if (rt->in_flight)
        return;
    rt->workspace_id = r->workspace_id;
    rt->batch_size = r->batch_size;
    /* positions only grow (the store keeps the greatest): a refresh that read the row before
     * this node's last recorded delivery was visible (a ticketed commit still in flight on
     * PostgreSQL) must not move it back, or that batch would be sent again */
    if (r->position > rt->position)
        rt->position = r->position;
    bool changed = !rt->url || strcmp(rt->url, r->endpoint) != 0 ||
                   !same(rt->token, r->bearer_token && *r->bearer_token ? r->bearer_token : NULL);
    if ((changed || !rt->types) && runtime_configure(rt, r) != 0)
        lc->failed++;
}

/* Reads the Currents: new ones get a runtime, deleted ones lose theirs (a request in flight
 * for a deleted Current is abandoned: there is nothing left to record it in). */
static void refresh(struct currents *c) {
    for (size_t i = 0; i < c->n_rt; i++)
        c->rt[i]->seen = false;
    struct list_ctx lc = {.c = c};
    enum cd_err err = STORE_OPS(c->store)->currents->list(c->store, 0, take_current, &lc);
    if (err != CD_OK) {
        log_error("currents", "op=list error=%s result=retry", cd_err_name(err));
        return; /* keep every runtime as it is; the next refresh tries again */
    }
    if (lc.failed)
        log_error("currents", "op=list error=out_of_memory currents_skipped=%d result=retry",
                  lc.failed);
    size_t kept = 0;
    for (size_t i = 0; i < c->n_rt; i++) {
        if (c->rt[i]->seen) {
            c->rt[kept++] = c->rt[i];
            continue;
        }
        if (c->rt[i]->in_flight) /* its answer is never recorded: the position stays */
            log_warn("currents",
                     "current_id=%s op=abandon events=%zu result=\"deleted, or its workspace's "
                     "lease went: the owner sends the batch again\"",
                     c->rt[i]->public_id, c->rt[i]->n_events);
        runtime_free(c, c->rt[i]);
    }
    c->n_rt = kept;
}

/* ---- reading a Current's events ---- */

struct pick_ctx {
    struct runtime *rt;
    int64_t limit;
    int64_t last_examined;
    bool full;
    int failed;
};

static bool type_wanted(const json_t *types, const char *type) {
    size_t i;
    const json_t *v;
    json_array_foreach(types, i, v) {
        const char *t = json_string_value(v);
        if (t && strcmp(t, type) == 0)
            return true;
    }
    return false;
}

static void pick_event(void *ctx, const struct outbox_row *r) {
    struct pick_ctx *pc = ctx;
    if (pc->full)
        return;
    if (type_wanted(pc->rt->types, r->event_type)) {
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

/* Logs a store failure of Current rt and schedules its next attempt: nothing was recorded, so
 * the same events are read (and sent) again then. */
static void store_failed(struct currents *c, struct runtime *rt, const char *op, enum cd_err err) {
    int64_t delay = backoff(c, rt->attempts);
    rt->next_attempt_ms = time_now_ms() + delay;
    log_error("currents", "current_id=%s op=%s error=%s result=retry retry_in_ms=%lld",
              rt->public_id, op, cd_err_name(err), (long long)delay);
}

/* Fills rt's batch (replays first, then the outbox after its position); returns whether there
 * is something to send. */
/* Records progress that is not a delivery, in its own transaction: the position moved past
 * events the Current does not export, or a retry counted with its error. */
/* Opens a transaction that moves rt's position or counters, lease-checked on several nodes
 * (a node that lost the workspace's lease commits nothing: CD_E_MOVED). */
static enum cd_err begin_for(struct currents *c, const struct runtime *rt, struct store_txn **t) {
    const struct store_ops *ops = STORE_OPS(c->store);
    enum cd_err err = ops->begin(c->store, t);
    if (err != CD_OK || !c->cfg.check_lease)
        return err;
    err = c->cfg.check_lease(c->cfg.owns_ctx, *t, rt->workspace_id);
    if (err != CD_OK) {
        ops->rollback(*t);
        *t = NULL;
        c->next_list_ms = 0; /* the next pass drops the Currents of workspaces not owned */
        return CD_E_MOVED;
    }
    return CD_OK;
}

static enum cd_err advance_only(struct currents *c, const struct runtime *rt, int64_t position,
                                int64_t retried, const char *last_error) {
    const struct store_ops *ops = STORE_OPS(c->store);
    struct store_txn *t;
    enum cd_err err = begin_for(c, rt, &t);
    if (err != CD_OK)
        return err;
    err = ops->currents->advance(t, rt->id, position, 0, retried, 0, last_error);
    if (err != CD_OK) {
        ops->rollback(t);
        return err;
    }
    return ops->commit(t);
}

static bool build_batch(struct currents *c, struct runtime *rt) {
    const struct store_currents_ops *co = STORE_OPS(c->store)->currents;
    int64_t limit = rt->batch_size;
    if (rt->position < rt->split_until && rt->split_limit < limit)
        limit = rt->split_limit;
    struct pick_ctx pc = {rt, limit, 0, false, 0};
    const char *op = "replays";
    batch_clear(rt);
    rt->limit = limit;
    enum cd_err err = co->replays(c->store, rt->id, limit, pick_replay, &pc);
    if (err == CD_OK && !pc.failed && rt->n_events) {
        rt->kind = BATCH_REPLAY;
        rt->last_seq = pc.last_examined;
    } else if (err == CD_OK && !pc.failed) {
        op = "outbox_after";
        int64_t after = rt->position;
        /* read in pages until the batch is full or the outbox is exhausted */
        for (int pages = 0; pages < 16 && !pc.full && !pc.failed; pages++) {
            int64_t before = pc.last_examined;
            err = co->outbox_after(c->store, rt->workspace_id, after, 1000, pick_event, &pc);
            if (err != CD_OK || pc.last_examined == before)
                break;
            after = pc.last_examined;
        }
        rt->kind = rt->n_events ? BATCH_OUTBOX : BATCH_NONE;
        rt->last_seq = pc.last_examined;
        if (err == CD_OK && !pc.failed && !rt->n_events && pc.last_examined > rt->position) {
            /* only events of other types: move past them */
            op = "advance";
            err = advance_only(c, rt, pc.last_examined, 0, NULL);
            if (err == CD_OK)
                rt->position = pc.last_examined;
        }
    }
    if (err == CD_OK && pc.failed)
        err = CD_E_NOMEM;
    if (err != CD_OK) {
        batch_clear(rt);
        store_failed(c, rt, op, err);
        return false;
    }
    if (rt->kind == BATCH_NONE)
        return false;
    if (body_put(rt, "]}", 2) != 0) {
        batch_clear(rt);
        store_failed(c, rt, "batch", CD_E_NOMEM);
        return false;
    }
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

/* Hands rt's batch to the multi handle; returns 0 or -1. */
static int send_batch(struct currents *c, struct runtime *rt) {
    CURL *e = rt->easy;
    curl_easy_setopt(e, CURLOPT_URL, rt->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, rt->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, rt->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)rt->body_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rt);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, rt);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return -1;
    rt->in_flight = true;
    return 0;
}

/* ---- results ---- */

/* Records a 2xx: the position (or the replayed letters) and the counters, in one transaction. */
static enum cd_err record_delivery(struct currents *c, struct runtime *rt) {
    const struct store_ops *ops = STORE_OPS(c->store);
    int64_t n = (int64_t)rt->n_events;
    struct store_txn *t;
    enum cd_err err = begin_for(c, rt, &t);
    if (err != CD_OK)
        return err;
    if (rt->kind == BATCH_REPLAY) {
        err = ops->currents->replayed(t, rt->id, rt->last_seq);
        if (err == CD_OK)
            err = ops->currents->advance(t, rt->id, 0, n, 0, 0, NULL);
    } else {
        err = ops->currents->advance(t, rt->id, rt->last_seq, n, 0, 0, NULL);
    }
    if (err != CD_OK)
        goto fail;
    /* committed (applied, ordered) now; durable later, while the next batch is on the wire
     * (settle_tickets): until then a crash of the machine can only move the position back, so
     * the batch would be sent again (at-least-once), never lost */
    return ops->commit_ticket(t, &rt->ticket);
fail:
    ops->rollback(t);
    return err;
}

/* Waits until every recorded delivery is durable. Runs after the next requests went out, so
 * the sync overlaps their round trip instead of delaying them. */
static void settle_tickets(struct currents *c) {
    const struct store_ops *ops = STORE_OPS(c->store);
    for (size_t i = 0; i < c->n_rt; i++) {
        struct runtime *rt = c->rt[i];
        if (!rt->ticket)
            continue;
        enum cd_err err = ops->durable(c->store, rt->ticket);
        rt->ticket = 0;
        if (err != CD_OK)
            log_error("currents",
                      "current_id=%s op=durable error=%s result=\"sent again after "
                      "restart\"",
                      rt->public_id, cd_err_name(err));
    }
}

/* Turns the whole batch into dead letters and moves the position past it, in one transaction:
 * either every event is a dead letter and the position moved, or nothing changed. */
static enum cd_err dead_letter_all(struct currents *c, struct runtime *rt, const char *reason) {
    const struct store_ops *ops = STORE_OPS(c->store);
    int64_t now = time_now_ms();
    struct store_txn *t;
    enum cd_err err = begin_for(c, rt, &t);
    if (err != CD_OK)
        goto out;
    for (size_t i = 0; i < rt->n_events && err == CD_OK; i++) {
        char buf[4096], *heap;
        const char *body = event_text(rt, i, buf, sizeof buf, &heap);
        err = body ? ops->currents->dead_letter(t, rt->id, rt->events[i].seq, body, reason, now)
                   : CD_E_NOMEM;
        free(heap);
    }
    if (err == CD_OK)
        err = ops->currents->advance(t, rt->id, rt->last_seq, 0, 0, (int64_t)rt->n_events, reason);
    if (err != CD_OK) {
        ops->rollback(t);
        goto out;
    }
    err = ops->commit(t);
out:
    if (err != CD_OK) {
        store_failed(c, rt, "dead_letter", err);
        return err;
    }
    if (rt->last_seq > rt->position)
        rt->position = rt->last_seq;
    log_warn("currents", "current_id=%s dead_lettered=%zu reason=\"%s\"", rt->public_id,
             rt->n_events, reason);
    return CD_OK;
}

/* counter name{current_id="…"} += v */
static void count(const struct runtime *rt, const char *name, double v) {
    char id[160], labels[192];
    snprintf(labels, sizeof labels, "current_id=\"%s\"",
             metrics_label(id, sizeof id, rt->public_id));
    metrics_add(name, labels, v);
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
    enum cd_err err;
    if (status >= 200 && status < 300) {
        err = record_delivery(c, rt);
        if (err == CD_E_MOVED) {
            /* delivered while the lease changed hands: the new owner reads the position this
             * node could not move, and sends the batch again (at-least-once) */
            log_warn("currents",
                     "current_id=%s op=record_delivery events=%zu result=\"lease lost: the new "
                     "owner sends this batch again\"",
                     rt->public_id, n);
            rt->next_attempt_ms = now + c->cfg.poll_ms;
            return;
        }
        if (err != CD_OK) {
            /* delivered but not recorded: the batch goes again (at-least-once) */
            store_failed(c, rt, "record_delivery", err);
            return;
        }
        if (rt->kind == BATCH_OUTBOX && rt->last_seq > rt->position)
            rt->position = rt->last_seq;
        if (rt->state == STATE_FAILED) {
            err = co->set_state(c->store, rt->id, "active", NULL);
            if (err == CD_OK)
                rt->state = STATE_ACTIVE;
            else
                log_error("currents", "current_id=%s op=set_state state=active error=%s",
                          rt->public_id, cd_err_name(err));
        }
        count(rt, "cohortd_current_delivered_events_total", (double)n);
        rt->attempts = 0;
        /* a full batch means more may wait: go on at once; otherwise look again after a poll */
        rt->next_attempt_ms = (int64_t)n >= rt->limit ? 0 : now + c->cfg.poll_ms;
        log_debug("currents", "current_id=%s delivered=%zu status=%ld", rt->public_id, n, status);
        return;
    }
    count(rt, "cohortd_current_failed_requests_total", 1);
    bool auth = currents_status_is_credential(status);
    if (rt->kind == BATCH_OUTBOX && (status == 400 || status == 413)) {
        if (n == 1) {
            if (dead_letter_all(c, rt,
                                status == 400 ? "HTTP 400 for a single event"
                                              : "HTTP 413 for a single event") == CD_OK)
                rt->next_attempt_ms = 0;
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
        if (dead_letter_all(c, rt, reason) == CD_OK) {
            rt->attempts = 0;
            rt->next_attempt_ms = 0;
        }
        return;
    }
    err = advance_only(c, rt, 0, 1, error);
    if (err != CD_OK)
        log_error("currents", "current_id=%s op=advance counter=retried error=%s", rt->public_id,
                  cd_err_name(err));
    if (auth) {
        err = co->set_state(c->store, rt->id, "failed", error);
        if (err == CD_OK)
            rt->state = STATE_FAILED;
        else
            log_error("currents", "current_id=%s op=set_state state=failed error=%s", rt->public_id,
                      cd_err_name(err));
        rt->next_attempt_ms = now + jitter(c->cfg.auth_retry_ms, 1.0, 2.5);
    } else {
        int64_t delay = backoff(c, rt->attempts);
        if (retry_after > 0 && retry_after * 1000 > delay)
            delay = (int64_t)retry_after * 1000;
        rt->next_attempt_ms = now + delay;
    }
    rt->attempts++;
    log_info("currents", "current_id=%s events=%zu result=retry error=\"%s\" attempt=%d state=%s",
             rt->public_id, n, error, rt->attempts, state_name(rt->state));
}

/* ---- the loop ---- */

/* Starts a batch for every idle, unpaused Current that is due. */
static void start_due(struct currents *c) {
    int64_t now = time_now_ms();
    for (size_t i = 0; i < c->n_rt; i++) {
        struct runtime *rt = c->rt[i];
        if (rt->in_flight || rt->state == STATE_PAUSED || !rt->types || now < rt->next_attempt_ms)
            continue;
        if (c->cfg.owns && !c->cfg.owns(c->cfg.owns_ctx, rt->workspace_id)) {
            /* the lease went since the last refresh: no batch (the next refresh drops it) */
            rt->next_attempt_ms = now + c->cfg.poll_ms;
            c->next_list_ms = 0;
            continue;
        }
        if (!build_batch(c, rt)) {
            if (now >= rt->next_attempt_ms) /* nothing to send (not a failure): look later */
                rt->next_attempt_ms = now + c->cfg.poll_ms;
            continue;
        }
        if (send_batch(c, rt) != 0) {
            batch_clear(rt);
            rt->next_attempt_ms = now + backoff(c, rt->attempts);
            log_error("currents", "current_id=%s op=send error=curl_multi_add_handle result=retry",
                      rt->public_id);
        }
    }
}

/* Handles every answered request; returns how many there were. */
static int collect(struct currents *c) {
    int done = 0, left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct runtime *rt = NULL;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&rt);
        curl_multi_remove_handle(c->multi, easy);
        rt->in_flight = false;
        on_result(c, rt, rc);
        batch_clear(rt);
        done++;
    }
    return done;
}

/* Milliseconds until the loop has something to do besides waiting for sockets. */
static int next_wait_ms(const struct currents *c) {
    int64_t now = time_now_ms(), until = c->next_list_ms;
    for (size_t i = 0; i < c->n_rt; i++) {
        const struct runtime *rt = c->rt[i];
        if (!rt->in_flight && rt->state != STATE_PAUSED && rt->types && rt->next_attempt_ms < until)
            until = rt->next_attempt_ms;
    }
    int64_t wait = until - now;
    if (wait < 0)
        wait = 0;
    if (wait > c->cfg.poll_ms)
        wait = c->cfg.poll_ms;
    return (int)wait;
}

static bool stopping(struct currents *c) {
    pthread_mutex_lock(&c->lock);
    bool stop = c->stopping;
    pthread_mutex_unlock(&c->lock);
    return stop;
}

static void *run(void *arg) {
    struct currents *c = arg;
    while (!stopping(c)) {
        if (time_now_ms() >= c->next_list_ms) {
            refresh(c);
            c->next_list_ms = time_now_ms() + c->cfg.poll_ms;
        }
        start_due(c);
        int running = 0;
        curl_multi_perform(c->multi, &running);
        settle_tickets(c);
        if (collect(c))
            continue; /* answered Currents may have their next batch ready */
        curl_multi_poll(c->multi, NULL, 0, next_wait_ms(c), NULL);
    }
    return NULL;
}

/* ---- scrape-time gauges ---- */

struct lag_row {
    char *current_id;
    char *types;
    int64_t ws, position, n_dead;
};

struct lag_list {
    struct lag_row *v;
    size_t n, cap;
    bool failed;
};

static void take_lag_row(void *ctx, const struct current_row *r) {
    struct lag_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct lag_row *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->failed = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    struct lag_row *row = &l->v[l->n];
    row->current_id = strdup(r->current_id);
    row->types = strdup(r->event_types);
    row->ws = r->workspace_id;
    row->position = r->position;
    row->n_dead = r->n_dead;
    if (!row->current_id || !row->types) {
        free(row->current_id);
        free(row->types);
        l->failed = true;
        return;
    }
    l->n++;
}

/* Sets every Current's backlog, lag and dead letters (a deleted Current's series go away);
 * when the store cannot be read, the last values stay. */
static void collect_lag(void *ctx) {
    struct currents *c = ctx;
    const struct store_currents_ops *co = STORE_OPS(c->store)->currents;
    struct lag_list l = {0};
    enum cd_err err = co->list(c->store, 0, take_lag_row, &l);
    if (err == CD_OK && !l.failed) {
        metrics_clear("cohortd_current_pending_events");
        metrics_clear("cohortd_current_lag_seconds");
        metrics_clear("cohortd_current_dead_letters");
    }
    int64_t now = time_now_ms();
    for (size_t i = 0; err == CD_OK && !l.failed && i < l.n; i++) {
        const struct lag_row *r = &l.v[i];
        char id[160], labels[192];
        snprintf(labels, sizeof labels, "current_id=\"%s\"",
                 metrics_label(id, sizeof id, r->current_id));
        int64_t pending = 0, oldest = 0;
        if (co->pending_after(c->store, r->ws, r->position, r->types, &pending) == CD_OK)
            metrics_set("cohortd_current_pending_events", labels, (double)pending);
        if (co->oldest_after(c->store, r->ws, r->position, r->types, &oldest) == CD_OK)
            metrics_set("cohortd_current_lag_seconds", labels,
                        oldest && now > oldest ? (double)(now - oldest) / 1000 : 0);
        metrics_set("cohortd_current_dead_letters", labels, (double)r->n_dead);
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.v[i].current_id);
        free(l.v[i].types);
    }
    free(l.v);
}

struct currents *currents_start(struct store *s, const struct currents_config *cfg) {
    struct currents *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->store = s;
    c->cfg = *cfg;
    c->multi = curl_multi_init();
    pthread_mutex_init(&c->lock, NULL);
    if (!c->multi || pthread_create(&c->thread, NULL, run, c) != 0) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    pthread_setname_np(c->thread, "cd-currents");
    metrics_collect(collect_lag, c);
    return c;
}

void currents_stop(struct currents *c) {
    if (!c)
        return;
    metrics_uncollect(collect_lag, c);
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_mutex_unlock(&c->lock);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    settle_tickets(c);
    for (size_t i = 0; i < c->n_rt; i++)
        runtime_free(c, c->rt[i]);
    free(c->rt);
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
