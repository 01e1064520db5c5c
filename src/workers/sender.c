/*
 * sender.c — the webhook sender loop (see sender.h). Runtime state (requests in flight, retry
 * times, rate-limit clocks) lives in memory; who is done lives in the store, so a run dropped
 * after a store error, or lost in a crash, is rebuilt from the store by the next poll.
 *
 * Outcomes are written by the recording thread (outcome_recorder.h), never by this one: a run
 * hands its finished transfers over in batches and keeps them (and itself) until they come
 * back recorded. A run's step is ended only once every batch of it is back recorded, and a run
 * is freed only once nothing of it is with the recorder.
 */
#include "workers/sender.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/messaging/campaign_run.h"
#include "core/workspace/workspace.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "workers/outcome_recorder.h"
#include "workers/webhook_http.h"

#define MAX_RUNS 64
#define RESPONSE_KEEP 1024
/* Outcomes are recorded in one write per run once this many wait, or the oldest has waited
 * SETTLE_MS: a few fsyncs a second instead of one per answer. */
#define SETTLE_BATCH 256
#define SETTLE_MS 20
/* No new request starts while this many outcomes wait for the recording thread: a slow store
 * slows sending down instead of piling up answers that a crash would send again. */
#define RECORD_BACKLOG_MAX ((size_t)4 * SETTLE_BATCH)
#define POOL_MAX 1024

struct retry {
    uint32_t uid;
    int attempts; /* made so far */
    int64_t at;
};

struct active;

struct xfer {
    struct active *a;
    CURL *easy;
    struct webhook_headers *headers; /* shared with the run's other requests */
    struct webhook_key_line key;
    struct webhook_request req;
    int attempts; /* this one included */
    int64_t started;
    char response[RESPONSE_KEEP + 1];
    size_t response_len;
    int64_t content_length;
    char error[CURL_ERROR_SIZE];
    struct webhook_outcome outcome; /* once finished */
};

struct active {
    struct campaign_run *run;
    char labels[224];     /* its counters' labels, made once (see count) */
    int64_t next_send_at; /* rate limit */
    int in_flight;
    bool drop; /* drop the run once idle: the next poll rebuilds it from the store (after a
                  store error), or finishes its dispatch (campaign archived) */
    struct retry *retries;
    size_t n_retries, retries_cap;
    struct xfer **done; /* finished transfers waiting to be handed to the recorder */
    size_t n_done, done_cap;
    int64_t first_done_at;
    struct webhook_headers *headers; /* the last request's lines, for the next */
    int jobs;                        /* jobs of this run with the recorder */
    bool step_queued;                /* its step_done job was handed over */
    bool step_handled;               /* … and came back: the run is freed */
};

/* A batch handed to the recorder: the transfers it records, freed when it comes back. */
struct record_batch {
    struct recorder_job job;
    struct active *a;
    struct xfer **x;
    size_t n;
};

struct sender {
    struct app *app;
    struct sender_config cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    bool stopping;
    atomic_bool poll_now; /* a dispatch fell due (app_dispatch_due): poll before waiting */
    CURLM *multi;
    struct active *act[MAX_RUNS];
    size_t n_act;
    int in_flight;
    size_t rr;            /* round-robin start */
    CURL *pool[POOL_MAX]; /* set up (webhook_http_setup), kept between requests */
    int n_pool;
    struct webhook_proxy proxy; /* from the environment, read once */
    struct recorder *rec;
    size_t recording; /* outcomes with the recorder */
    int jobs;         /* jobs with the recorder */
};

static const char *kind_name(const struct campaign_run *run) {
    return run->kind == CAMPAIGN_KIND_CANVAS ? "canvas" : "campaign";
}

/* The labels of a run's counters: kind="campaign"|"canvas",campaign_id="…". */
static void make_labels(struct active *a) {
    char id[160];
    snprintf(a->labels, sizeof a->labels, "kind=\"%s\",campaign_id=\"%s\"", kind_name(a->run),
             metrics_label(id, sizeof id, a->run->public_id));
}

/* counter name{labels of a} += 1 */
static void count(const struct active *a, const char *name) {
    metrics_add(name, a->labels, 1);
}

static bool is_stopping(struct sender *s) {
    pthread_mutex_lock(&s->lock);
    bool v = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static bool running(void *ctx, int64_t dispatch) {
    struct sender *s = ctx;
    for (size_t i = 0; i < s->n_act; i++)
        if (s->act[i]->run->dispatch == dispatch)
            return true;
    return false;
}

static void poll_due(struct sender *s, int64_t now) {
    for (size_t i = 0; i < s->n_act; i++)
        if (!s->act[i]->drop && !campaign_run_live(s->app, s->act[i]->run)) {
            log_info("sender", "dispatch_id=%s %s_id=%s result=stopped reason=archived",
                     s->act[i]->run->dispatch_id, kind_name(s->act[i]->run),
                     s->act[i]->run->public_id);
            s->act[i]->drop = true;
        }
    if (s->n_act == MAX_RUNS)
        return;
    struct campaign_run *runs[MAX_RUNS];
    size_t n = 0;
    enum cd_err err = campaign_runs_due(s->app, now, MAX_RUNS - s->n_act, running, s, runs, &n);
    if (err != CD_OK)
        log_warn("sender", "op=start_due result=failed error=%s", cd_err_name(err));
    for (size_t i = 0; i < n; i++) {
        struct active *a = calloc(1, sizeof *a);
        if (!a) {
            campaign_run_free(runs[i]);
            continue;
        }
        a->run = runs[i];
        make_labels(a);
        s->act[s->n_act++] = a;
    }
}

/* ---- transfers ---- */

static size_t keep_response(char *data, size_t size, size_t n, void *ctx) {
    struct xfer *x = ctx;
    size_t len = size * n;
    size_t room = RESPONSE_KEEP - x->response_len;
    size_t take = len < room ? len : room;
    memcpy(x->response + x->response_len, data, take);
    x->response_len += take;
    x->response[x->response_len] = '\0';
    x->content_length += (int64_t)len;
    return len;
}

/* Gives a transfer's easy handle back to the pool (a fresh one costs allocations), once it is
 * out of the multi handle, set up as it is: the next request sets every option that changes
 * (webhook_http_request), so the constant ones are set once per handle rather than reset and set
 * again. The transfer keeps its request and answer for the record. */
static void xfer_release(struct sender *s, struct xfer *x) {
    if (x->easy && s->n_pool < POOL_MAX)
        s->pool[s->n_pool++] = x->easy;
    else if (x->easy)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    webhook_headers_put(x->headers);
    x->headers = NULL;
}

/* A handle from the pool, or a new one set up. */
static CURL *easy_take(struct sender *s) {
    if (s->n_pool)
        return s->pool[--s->n_pool];
    CURL *e = curl_easy_init();
    if (e) {
        webhook_http_setup(e, s->cfg.timeout_ms);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
    }
    return e;
}

static void xfer_free(struct sender *s, struct xfer *x) {
    xfer_release(s, x);
    webhook_request_free(&x->req);
    free(x);
}

static void push_done(struct sender *s, struct active *a, struct xfer *x);

/* Starts a request to uid; false when none was started. */
static bool send_one(struct sender *s, struct active *a, uint32_t uid, int attempts, int64_t now) {
    struct xfer *x = calloc(1, sizeof *x);
    if (!x)
        return false;
    enum cd_err err = campaign_render(s->app, a->run, uid, &x->req);
    if (err != CD_OK) {
        free(x);
        if (err != CD_E_NOT_FOUND) { /* try again later */
            log_warn("sender", "dispatch_id=%s %s_id=%s result=render_failed error=%s",
                     a->run->dispatch_id, kind_name(a->run), a->run->public_id, cd_err_name(err));
            a->drop = true;
        }
        return false;
    }
    x->a = a;
    x->attempts = attempts + 1;
    x->started = now;
    if (x->req.skip != WEBHOOK_SEND) { /* the template said no: nothing is sent, it is recorded */
        x->outcome = (struct webhook_outcome){.req = &x->req,
                                              .attempts = x->attempts,
                                              .terminal = true,
                                              .response = x->req.skip_reason};
        if (x->req.skip == WEBHOOK_RENDER_FAILED)
            count(a, "cohortd_webhook_failures_total");
        log_info("sender", "dispatch_id=%s %s_id=%s braze_id=%s result=%s reason=%s",
                 a->run->dispatch_id, kind_name(a->run), a->run->public_id, x->req.braze_id,
                 x->req.skip == WEBHOOK_ABORTED ? "aborted" : "render_failed",
                 log_q(x->req.skip_reason ? x->req.skip_reason : ""));
        push_done(s, a, x);
        return false;
    }
    x->headers = webhook_headers_get(&a->headers, &x->req);
    CURL *e = x->easy = x->headers ? easy_take(s) : NULL;
    if (!e) {
        xfer_free(s, x);
        a->drop = true;
        return false;
    }
    webhook_http_request(e, &x->req, &x->key, x->headers, &s->proxy, x->error);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        xfer_free(s, x);
        a->drop = true;
        return false;
    }
    a->in_flight++;
    s->in_flight++;
    if (a->run->rate_per_minute > 0) { /* one clock per campaign, whatever its dispatches */
        int64_t base = a->next_send_at > now ? a->next_send_at : now;
        int64_t next = base + 60000 / a->run->rate_per_minute;
        for (size_t i = 0; i < s->n_act; i++)
            if (s->act[i]->run->campaign == a->run->campaign)
                s->act[i]->next_send_at = next;
    }
    return true;
}

/* The next recipient of a: a retry that is due, else the next remaining target. */
static bool next_recipient(struct active *a, int64_t now, uint32_t *uid, int *attempts) {
    for (size_t i = 0; i < a->n_retries; i++)
        if (a->retries[i].at <= now) {
            *uid = a->retries[i].uid;
            *attempts = a->retries[i].attempts;
            a->retries[i] = a->retries[--a->n_retries];
            return true;
        }
    if (roaring_bitmap_is_empty(a->run->remaining))
        return false;
    *uid = roaring_bitmap_minimum(a->run->remaining);
    *attempts = 0;
    roaring_bitmap_remove(a->run->remaining, *uid);
    return true;
}

/* Starts requests, round-robin over the runs, until concurrency is reached or none can go. */
static void fill(struct sender *s, int64_t now) {
    bool progress = true;
    while (progress && s->in_flight < s->cfg.concurrency && s->recording < RECORD_BACKLOG_MAX &&
           s->n_act) {
        progress = false;
        for (size_t k = 0; k < s->n_act && s->in_flight < s->cfg.concurrency; k++) {
            struct active *a = s->act[(s->rr + k) % s->n_act];
            uint32_t uid;
            int attempts;
            if (a->drop || a->next_send_at > now || !next_recipient(a, now, &uid, &attempts))
                continue;
            send_one(s, a, uid, attempts, now);
            progress = true;
        }
        s->rr++;
    }
}

static void push_retry(struct active *a, uint32_t uid, int attempts, int64_t at) {
    if (a->n_retries == a->retries_cap) {
        size_t cap = a->retries_cap ? a->retries_cap * 2 : 16;
        struct retry *v = realloc(a->retries, cap * sizeof *v);
        if (!v) {
            a->drop = true; /* the user stays without an outcome: the next poll retries it */
            return;
        }
        a->retries = v;
        a->retries_cap = cap;
    }
    a->retries[a->n_retries++] = (struct retry){uid, attempts, at};
}

static void push_done(struct sender *s, struct active *a, struct xfer *x) {
    if (a->n_done == a->done_cap) {
        size_t cap = a->done_cap ? a->done_cap * 2 : 32;
        struct xfer **d = realloc(a->done, cap * sizeof(struct xfer *));
        if (!d) {
            xfer_free(s, x);
            a->drop = true;
            return;
        }
        a->done = d;
        a->done_cap = cap;
    }
    if (a->n_done == 0)
        a->first_done_at = x->started + x->outcome.duration_ms;
    a->done[a->n_done++] = x;
}

/* Takes finished transfers from curl and decides: sent, retry later, or failed for good. */
static void collect(struct sender *s, int64_t now) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        long status = 0;
        if (m->data.result == CURLE_OK)
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(s->multi, m->easy_handle);
        struct active *a = x->a;
        a->in_flight--;
        s->in_flight--;
        bool ok = status >= 200 && status < 300;
        bool terminal = ok || x->attempts >= s->cfg.max_attempts;
        x->outcome = (struct webhook_outcome){
            .req = &x->req,
            .status = (int)status,
            .attempts = x->attempts,
            .terminal = terminal,
            .duration_ms = now - x->started,
            .response = status ? x->response : (*x->error ? x->error : "no response"),
            .content_length = x->content_length,
        };
        count(a, ok         ? "cohortd_webhook_sends_total"
                 : terminal ? "cohortd_webhook_failures_total"
                            : "cohortd_webhook_retries_total");
        if (!ok) { /* the transport's own words when there was no answer */
            const char *error = m->data.result == CURLE_OK ? ""
                                : *x->error                ? x->error
                                                           : curl_easy_strerror(m->data.result);
            log_info("sender",
                     "dispatch_id=%s %s_id=%s braze_id=%s attempt=%d status=%ld%s%s result=%s",
                     a->run->dispatch_id, kind_name(a->run), a->run->public_id, x->req.braze_id,
                     x->attempts, status, *error ? " error=" : "", *error ? log_q(error) : "",
                     terminal ? "failed" : "retry");
        }
        if (!terminal) { /* base, 2 × base, 4 × base, …, or later when Retry-After says so */
            int64_t delay = s->cfg.retry_base_ms << (x->attempts < 16 ? x->attempts - 1 : 15);
            curl_off_t retry_after = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RETRY_AFTER, &retry_after);
            if (retry_after > 0 && retry_after * 1000 > delay)
                delay = retry_after < 3600 ? (int64_t)retry_after * 1000 : 3600000;
            push_retry(a, x->req.uid, x->attempts, now + delay);
        }
        xfer_release(s, x);
        push_done(s, a, x);
    }
}

static void active_free(struct active *a) {
    webhook_headers_put(a->headers);
    campaign_run_free(a->run);
    free(a->retries);
    free(a->done);
    free(a);
}

/* Hands a's finished transfers to the recorder; false when out of memory (nothing handed). */
static bool hand_over(struct sender *s, struct active *a) {
    struct record_batch *b = calloc(1, sizeof *b);
    struct webhook_outcome *o = malloc(a->n_done * sizeof *o);
    if (!b || !o) {
        free(b);
        free(o);
        return false;
    }
    for (size_t k = 0; k < a->n_done; k++)
        o[k] = a->done[k]->outcome;
    b->job = (struct recorder_job){
        .kind = RECORDER_RECORD, .run = a->run, .o = o, .n = a->n_done, .owner = b};
    b->a = a;
    b->x = a->done;
    b->n = a->n_done;
    a->done = NULL;
    a->n_done = a->done_cap = 0;
    a->jobs++;
    s->jobs++;
    s->recording += b->n;
    recorder_push(s->rec, &b->job);
    return true;
}

/* Queues the end of a's step (after every batch of it came back recorded). */
static bool hand_over_step(struct sender *s, struct active *a) {
    struct record_batch *b = calloc(1, sizeof *b);
    if (!b)
        return false;
    b->job = (struct recorder_job){.kind = RECORDER_STEP_DONE, .run = a->run, .owner = b};
    b->a = a;
    a->jobs++;
    a->step_queued = true;
    s->jobs++;
    recorder_push(s->rec, &b->job);
    return true;
}

/* Takes back what the recorder did: frees the recorded transfers, drops a run whose batch could
 * not be recorded (the next poll rebuilds it from the store). */
static void take_recorded(struct sender *s) {
    for (struct recorder_job *j = recorder_take_done(s->rec); j;) {
        struct recorder_job *next = j->next;
        struct record_batch *b = j->owner;
        struct active *a = b->a;
        if (j->kind == RECORDER_STEP_DONE) {
            if (j->err != CD_OK)
                log_error("sender", "dispatch_id=%s op=step_done result=failed",
                          a->run->dispatch_id);
            a->step_handled = true;
        } else if (j->err != CD_OK) {
            log_error("sender", "dispatch_id=%s op=record outcomes=%zu error=%s",
                      a->run->dispatch_id, b->n, cd_err_name(j->err));
            a->drop = true;
        }
        for (size_t k = 0; k < b->n; k++)
            xfer_free(s, b->x[k]);
        s->recording -= b->n;
        s->jobs--;
        a->jobs--;
        free(b->x);
        free(j->o);
        free(b);
        j = next;
    }
}

/* Hands what finished to the recorder (all of it when `all`), a batch per run; ends complete
 * steps; frees runs that are over. */
static void settle(struct sender *s, int64_t now, bool all) {
    take_recorded(s);
    for (size_t i = 0; i < s->n_act;) {
        struct active *a = s->act[i];
        /* in_flight == 0 alone is no reason: every answer of a round can arrive before the next
         * requests start, which made batches of a few dozen (a commit and a sync each) */
        bool winding_down =
            a->in_flight == 0 && (a->drop || roaring_bitmap_is_empty(a->run->remaining));
        if (a->n_done &&
            (all || winding_down || a->n_done >= SETTLE_BATCH ||
             now - a->first_done_at >= SETTLE_MS) &&
            !hand_over(s, a)) {
            log_error("sender", "dispatch_id=%s op=record outcomes=%zu error=%s",
                      a->run->dispatch_id, a->n_done, cd_err_name(CD_E_NOMEM));
            for (size_t k = 0; k < a->n_done; k++)
                xfer_free(s, a->done[k]);
            a->n_done = 0;
            a->drop = true;
        }
        bool idle = a->in_flight == 0 && a->n_done == 0 && a->jobs == 0;
        bool complete = idle && !a->drop && !a->step_queued && a->n_retries == 0 &&
                        roaring_bitmap_is_empty(a->run->remaining);
        if (complete && !hand_over_step(s, a))
            log_error("sender", "dispatch_id=%s op=step_done result=failed", a->run->dispatch_id);
        if (idle && (a->step_handled || a->drop || (complete && !a->step_queued))) {
            active_free(a);
            s->act[i] = s->act[--s->n_act];
            continue;
        }
        i++;
    }
}

/* How long the loop may sleep: until the next poll, rate slot or retry. */
static int wait_ms(struct sender *s, int64_t now, int64_t next_poll) {
    int64_t until = next_poll;
    for (size_t i = 0; i < s->n_act; i++) {
        struct active *a = s->act[i];
        bool has_work = !roaring_bitmap_is_empty(a->run->remaining);
        if (has_work && a->next_send_at < until)
            until = a->next_send_at;
        for (size_t k = 0; k < a->n_retries; k++)
            if (a->retries[k].at < until)
                until = a->retries[k].at;
    }
    int64_t ms = until - now;
    return ms < 1 ? 1 : ms > 1000 ? 1000 : (int)ms;
}

static void *loop(void *arg) {
    struct sender *s = arg;
    /* outcomes of requests already sent must be recorded: never refused as a busy request */
    workspace_thread_unbounded();
    int64_t next_poll = 0;
    for (;;) {
        bool stopping = is_stopping(s);
        if (stopping && s->in_flight == 0 && s->jobs == 0) {
            settle(s, time_now_ms(), true);
            if (s->jobs == 0)
                break;
        }
        int64_t now = time_now_ms();
        if (atomic_exchange(&s->poll_now, false))
            next_poll = now;
        if (!stopping && now >= next_poll) {
            poll_due(s, now);
            next_poll = now + s->cfg.poll_ms;
        }
        int still = 0;
        curl_multi_perform(s->multi, &still);
        collect(s, time_now_ms());
        settle(s, time_now_ms(), stopping);
        /* after collecting, before waiting: when every answer of a round came back at once, the
         * next round starts now rather than after the wait (1 ms, or the recorder's write) */
        if (!stopping)
            fill(s, time_now_ms());
        if (!stopping || s->in_flight || s->jobs)
            curl_multi_poll(s->multi, NULL, 0,
                            s->in_flight || s->jobs ? 50 : wait_ms(s, now, next_poll), NULL);
    }
    return NULL;
}

/* A write made a dispatch due: the loop polls at once rather than up to poll_ms later. */
static void due(void *ctx) {
    struct sender *s = ctx;
    atomic_store(&s->poll_now, true);
    curl_multi_wakeup(s->multi);
}

/* The recorder's wake-up: the loop takes back what it recorded. */
static void wake(void *ctx) {
    struct sender *s = ctx;
    curl_multi_wakeup(s->multi);
}

struct sender *sender_start(struct app *app, const struct sender_config *cfg) {
    struct sender *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->app = app;
    s->cfg = *cfg;
    atomic_init(&s->poll_now, false);
    if (!webhook_proxy_from_env(&s->proxy)) {
        free(s);
        return NULL;
    }
    s->multi = curl_multi_init();
    pthread_mutex_init(&s->lock, NULL);
    if (s->multi)
        s->rec = recorder_start(app, wake, s);
    if (!s->multi || !s->rec || pthread_create(&s->thread, NULL, loop, s) != 0) {
        recorder_stop(s->rec);
        webhook_proxy_free(&s->proxy);
        if (s->multi)
            curl_multi_cleanup(s->multi);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    pthread_setname_np(s->thread, "cd-sender");
    app_set_dispatch_due(app, due, s);
    return s;
}

void sender_stop(struct sender *s) {
    if (!s)
        return;
    app_set_dispatch_due(s->app, NULL, NULL);
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    curl_multi_wakeup(s->multi);
    pthread_join(s->thread, NULL);
    recorder_stop(s->rec); /* the loop ended with nothing left with it */
    for (size_t i = 0; i < s->n_act; i++)
        active_free(s->act[i]);
    while (s->n_pool)
        curl_easy_cleanup(s->pool[--s->n_pool]);
    curl_multi_cleanup(s->multi);
    webhook_proxy_free(&s->proxy);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
