/*
 * outcome_recorder.c — the webhook sender's recording thread (see outcome_recorder.h). One
 * mutex guards the two lists (queued, done); the thread takes the whole queue at once and works
 * without the lock, so pushing never waits for a write. The writes themselves are the same as
 * the sender made before it had this thread: campaign_record's one workspace write per batch,
 * committed and synced before the job is done.
 */
#include "workers/outcome_recorder.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

struct recorder {
    struct app *app;
    void (*wake)(void *ctx);
    void *ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    struct recorder_job *queue, **queue_tail;
    struct recorder_job *done, **done_tail;
};

/* Records the RECORD jobs first..last (same run, consecutive) in one write; each gets its err. */
static void record_merged(struct recorder *r, struct recorder_job *first, struct recorder_job *last,
                          size_t total) {
    enum cd_err err;
    if (first == last) {
        err = campaign_record(r->app, first->run, first->o, first->n);
    } else {
        struct webhook_outcome *o = malloc(total * sizeof *o);
        size_t at = 0;
        for (struct recorder_job *j = first; o; j = j->next) {
            memcpy(o + at, j->o, j->n * sizeof *o);
            at += j->n;
            if (j == last)
                break;
        }
        /* out of memory for the merged array: one write per job, as pushed */
        if (!o) {
            for (struct recorder_job *j = first;; j = j->next) {
                j->err = campaign_record(r->app, j->run, j->o, j->n);
                if (j == last)
                    return;
            }
        }
        err = campaign_record(r->app, first->run, o, total);
        free(o);
    }
    for (struct recorder_job *j = first;; j = j->next) {
        j->err = err;
        if (j == last)
            break;
    }
}

static void run_jobs(struct recorder *r, struct recorder_job *list) {
    for (struct recorder_job *j = list; j;) {
        if (j->kind == RECORDER_STEP_DONE) {
            j->err = campaign_step_done(r->app, j->run, time_now_ms());
            j = j->next;
            continue;
        }
        struct recorder_job *last = j;
        size_t total = j->n;
        while (last->next && last->next->kind == RECORDER_RECORD && last->next->run == j->run &&
               total + last->next->n <= RECORDER_MERGE_MAX) {
            last = last->next;
            total += last->n;
        }
        record_merged(r, j, last, total);
        j = last->next;
    }
}

static void *loop(void *arg) {
    struct recorder *r = arg;
    /* outcomes of requests already sent must be recorded: never refused as a busy request */
    workspace_thread_unbounded();
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->queue && !r->stopping)
            pthread_cond_wait(&r->cond, &r->lock);
        if (!r->queue)
            break; /* stopping, and nothing left */
        struct recorder_job *list = r->queue;
        r->queue = NULL;
        r->queue_tail = &r->queue;
        pthread_mutex_unlock(&r->lock);
        run_jobs(r, list);
        pthread_mutex_lock(&r->lock);
        *r->done_tail = list;
        while (*r->done_tail)
            r->done_tail = &(*r->done_tail)->next;
        pthread_mutex_unlock(&r->lock);
        r->wake(r->ctx);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

struct recorder *recorder_start(struct app *app, void (*wake)(void *ctx), void *ctx) {
    struct recorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->app = app;
    r->wake = wake;
    r->ctx = ctx;
    r->queue_tail = &r->queue;
    r->done_tail = &r->done;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, loop, r) != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    pthread_setname_np(r->thread, "cd-recorder");
    return r;
}

void recorder_push(struct recorder *r, struct recorder_job *job) {
    job->next = NULL;
    job->err = CD_OK;
    pthread_mutex_lock(&r->lock);
    *r->queue_tail = job;
    r->queue_tail = &job->next;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

struct recorder_job *recorder_take_done(struct recorder *r) {
    pthread_mutex_lock(&r->lock);
    struct recorder_job *list = r->done;
    r->done = NULL;
    r->done_tail = &r->done;
    pthread_mutex_unlock(&r->lock);
    return list;
}

void recorder_stop(struct recorder *r) {
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
