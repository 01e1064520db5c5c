/*
 * lease_keeper.c — the renew and take threads of lease_keeper.h, two periodic.h threads, so
 * lease_keeper_stop ends their waits at once.
 */
#include "workers/lease_keeper.h"

#include <stdlib.h>

#include "core/workspace/leases.h"
#include "workers/periodic.h"

struct lease_keeper {
    struct app *app;
    int64_t period_ms;
    struct periodic *renewer, *taker;
};

static int64_t renew_pass(struct periodic *p, void *arg) {
    (void)p;
    struct lease_keeper *k = arg;
    app_leases_renew(k->app);
    return k->period_ms;
}

/* Twice as often as renewals: an expired lease is taken within a sixth of a lease time. */
static int64_t take_period(const struct lease_keeper *k) {
    return k->period_ms / 2 > 0 ? k->period_ms / 2 : 1;
}

static int64_t take_pass(struct periodic *p, void *arg) {
    (void)p;
    struct lease_keeper *k = arg;
    app_leases_take(k->app);
    return take_period(k);
}

struct lease_keeper *lease_keeper_start(struct app *app) {
    struct lease_keeper *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->app = app;
    k->period_ms = app_lease_ms(app) / 3 > 0 ? app_lease_ms(app) / 3 : 1;
    k->renewer = periodic_start("cd-lease-renew", k->period_ms, renew_pass, k);
    if (k->renewer)
        k->taker = periodic_start("cd-lease-take", take_period(k), take_pass, k);
    if (!k->taker) {
        lease_keeper_stop(k);
        return NULL;
    }
    return k;
}

void lease_keeper_stop(struct lease_keeper *k) {
    if (!k)
        return;
    periodic_stop(k->renewer); /* both at once: neither starts a pass while the other ends */
    periodic_stop(k->taker);
    periodic_join(k->renewer);
    periodic_join(k->taker);
    free(k);
}
