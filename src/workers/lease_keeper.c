/*
 * lease_keeper.c — the renew and take threads of lease_keeper.h. Each sleeps on a condition
 * variable between passes, so lease_keeper_stop wakes it at once; their own lock guards only
 * the stopping flag (a leaf).
 */
#include "workers/lease_keeper.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/workspace/leases.h"
#include "util/timeutil.h"

struct lease_keeper {
    struct app *app;
    int64_t period_ms;
    pthread_t renewer, taker;
    int started; /* threads created */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* under lock */
};

/* Waits period_ms (or until stop); false when stopping. */
static bool pause_for(struct lease_keeper *k, int64_t period_ms) {
    int64_t next = time_now_ms() + period_ms;
    struct timespec until = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
    pthread_mutex_lock(&k->lock);
    int rc = 0;
    while (!k->stopping && rc == 0)
        rc = pthread_cond_timedwait(&k->wake, &k->lock, &until);
    bool go = !k->stopping;
    pthread_mutex_unlock(&k->lock);
    return go;
}

static void *renew_loop(void *arg) {
    struct lease_keeper *k = arg;
    while (pause_for(k, k->period_ms))
        app_leases_renew(k->app);
    return NULL;
}

static void *take_loop(void *arg) {
    struct lease_keeper *k = arg;
    /* twice as often as renewals: an expired lease is taken within a sixth of a lease time */
    while (pause_for(k, k->period_ms / 2 > 0 ? k->period_ms / 2 : 1))
        app_leases_take(k->app);
    return NULL;
}

struct lease_keeper *lease_keeper_start(struct app *app) {
    struct lease_keeper *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->app = app;
    k->period_ms = app_lease_ms(app) / 3 > 0 ? app_lease_ms(app) / 3 : 1;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->wake, NULL);
    if (pthread_create(&k->renewer, NULL, renew_loop, k) == 0)
        k->started = 1;
    if (k->started == 1 && pthread_create(&k->taker, NULL, take_loop, k) == 0)
        k->started = 2;
    if (k->started != 2) {
        lease_keeper_stop(k);
        return NULL;
    }
    return k;
}

void lease_keeper_stop(struct lease_keeper *k) {
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stopping = true;
    pthread_cond_broadcast(&k->wake);
    pthread_mutex_unlock(&k->lock);
    if (k->started >= 1)
        pthread_join(k->renewer, NULL);
    if (k->started >= 2)
        pthread_join(k->taker, NULL);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
