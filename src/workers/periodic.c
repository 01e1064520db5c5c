/*
 * periodic.c — the run-wait loop of periodic.h. Its own lock guards only the stopping flag (a
 * leaf: fn runs without it). Deadlines are wall-clock milliseconds (time_now_ms), the clock
 * pthread_cond_timedwait uses by default.
 */
#include "workers/periodic.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util/timeutil.h"

struct periodic {
    periodic_fn fn;
    void *arg;
    int64_t first_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* under lock */
};

/* Waits wait_ms (or until stop) with p->lock held; true when stopping. */
static bool wait_locked(struct periodic *p, int64_t wait_ms) {
    int64_t next = time_now_ms() + wait_ms;
    struct timespec until = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
    int rc = 0;
    while (!p->stopping && rc == 0)
        rc = pthread_cond_timedwait(&p->wake, &p->lock, &until);
    return p->stopping;
}

static void *run(void *arg) {
    struct periodic *p = arg;
    pthread_mutex_lock(&p->lock);
    for (int64_t wait_ms = p->first_ms; !p->stopping;) {
        if (wait_ms > 0 && wait_locked(p, wait_ms))
            break;
        pthread_mutex_unlock(&p->lock);
        wait_ms = p->fn(p, p->arg);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct periodic *periodic_start(const char *name, int64_t first_ms, periodic_fn fn, void *arg) {
    struct periodic *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fn = fn;
    p->arg = arg;
    p->first_ms = first_ms;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    pthread_setname_np(p->thread, name);
    return p;
}

bool periodic_stopping(struct periodic *p) {
    pthread_mutex_lock(&p->lock);
    bool v = p->stopping;
    pthread_mutex_unlock(&p->lock);
    return v;
}

void periodic_stop(struct periodic *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void periodic_join(struct periodic *p) {
    if (!p)
        return;
    periodic_stop(p);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
