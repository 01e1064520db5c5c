/*
 * lease_keeper.h — the lease worker of a node on a shared store (core/workspace/leases.h): one
 * thread renews the leases this node holds every lease time / 3, another takes the leases no
 * node holds (after an owner died, within a lease time) and loads those workspaces, so a long
 * load never delays a renewal.
 */
#ifndef COHORTD_WORKERS_LEASE_KEEPER_H
#define COHORTD_WORKERS_LEASE_KEEPER_H

#include "core/workspace/workspace.h"

struct lease_keeper;

/* Starts both threads over app (borrowed, leased, its node set). NULL when they cannot
 * start. */
struct lease_keeper *lease_keeper_start(struct app *app);
/* Stops both threads (after the pass in progress) and frees k; NULL is a no-op. */
void lease_keeper_stop(struct lease_keeper *k);

#endif
