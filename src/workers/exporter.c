/*
 * exporter.c — the segment export worker loop (see exporter.h). Waits for a job on the jobs'
 * condition variable (so a new job starts at once and a stop wakes it), runs it, posts its
 * callback with libcurl (easy interface: one request, bounded by the timeout), then marks it
 * done, so another export of the same segment is refused until the callback was made. Takes no
 * lock of its own: the jobs' lock (a leaf) and, inside a run, a workspace's read lock.
 */
#include "workers/exporter.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/timeutil.h"

struct exporter {
    struct segment_jobs *jobs;
    struct exporter_config cfg;
    pthread_t thread;
};

static size_t discard(char *ptr, size_t size, size_t n, void *ctx) {
    (void)ptr;
    (void)ctx;
    return size * n;
}

static void post_callback(struct exporter *e, struct segment_job *job, bool ok) {
    const char *endpoint = segment_job_callback(job);
    json_t *body = ok ? json_pack("{s:b, s:s}", "success", 1, "url", segment_job_url(job))
                      : json_pack("{s:b}", "success", 0);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    CURL *c = text ? curl_easy_init() : NULL;
    if (!c) {
        free(text);
        log_error("exports", "op=callback reason=\"out of memory\"");
        return;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->cfg.callback_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status < 200 || status > 299)
        log_warn("exports", "op=callback status=%ld reason=\"%s\"", status,
                 rc != CURLE_OK ? curl_easy_strerror(rc) : "not a 2xx answer");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(text);
}

static void *run(void *arg) {
    struct exporter *e = arg;
    int64_t next_sweep = 0;
    for (;;) {
        int64_t now = time_now_ms();
        if (now >= next_sweep) {
            int n = segment_jobs_sweep(e->jobs, now);
            if (n > 0)
                log_info("exports", "op=sweep deleted=%d", n);
            next_sweep = now + e->cfg.sweep_ms;
        }
        struct segment_job *job = segment_jobs_take(e->jobs, next_sweep - now);
        if (!job) {
            if (segment_jobs_take_stopped(e->jobs))
                break;
            continue;
        }
        enum cd_err err = segment_job_run(e->jobs, job);
        if (err != CD_E_BUSY && segment_job_callback(job))
            post_callback(e, job, err == CD_OK);
        segment_jobs_done(e->jobs, job);
    }
    return NULL;
}

struct exporter *exporter_start(struct segment_jobs *jobs, const struct exporter_config *cfg) {
    struct exporter *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->jobs = jobs;
    e->cfg = *cfg;
    if (pthread_create(&e->thread, NULL, run, e) != 0) {
        free(e);
        return NULL;
    }
    pthread_setname_np(e->thread, "cd-exporter");
    return e;
}

void exporter_stop(struct exporter *e) {
    if (!e)
        return;
    segment_jobs_wake(e->jobs, true);
    pthread_join(e->thread, NULL);
    free(e);
}
