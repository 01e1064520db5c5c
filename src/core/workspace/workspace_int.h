/*
 * workspace_int.h — the fields of struct workspace and struct app, and the loaders
 * workspace.c composes when it (re)builds a workspace from the store. Only files under
 * src/core/, the composition root src/cli/serve.c and unit tests of core (tests/unit/) may
 * include this header; api/ and the rest see the opaque types of workspace.h and call core's
 * verbs.
 */
#ifndef COHORTD_CORE_WORKSPACE_WORKSPACE_INT_H
#define COHORTD_CORE_WORKSPACE_WORKSPACE_INT_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/index/attr_index.h"
#include "core/index/cohort.h"
#include "core/index/event_index.h"
#include "core/index/identity.h"
#include "core/index/undo.h"
#include "core/workspace/workspace.h"
#include "store/store.h"
#include "util/err.h"

struct workspace {
    int64_t id;
    char public_id[64];
    char name[128];
    pthread_rwlock_t lock;
    struct identity ident;
    struct cohort_set cohorts;
    struct attr_index attrs;   /* custom attribute values, for segments */
    struct event_index events; /* custom event summaries, for segments */
    struct undo undo;          /* the open write's journal (write lock) */
    atomic_bool loaded;        /* the indexes hold the store's state; false: answer 503 */
    enum cd_err load_err;      /* why the last load failed (write lock) */
    int64_t load_retry_at;     /* UNIX ms before which no load is retried (write lock) */
};

struct app {
    struct store *store;
    app_cohort_entry_fn on_cohort_entry;
    pthread_mutex_t reg_lock;
    struct workspace **ws;
    size_t n_ws;
    size_t ws_cap;
};

/* Loads the cohorts of ws from the store: checkpoints, then the log replayed behind them. */
enum cd_err cohort_load(struct app *app, struct workspace *ws);

#endif
