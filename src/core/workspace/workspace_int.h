/*
 * workspace_int.h — private to core/workspace/: the loaders workspace.c composes when it
 * (re)builds a workspace from the store.
 */
#ifndef COHORTD_CORE_WORKSPACE_WORKSPACE_INT_H
#define COHORTD_CORE_WORKSPACE_WORKSPACE_INT_H

#include "core/workspace/workspace.h"

/* Loads the cohorts of ws from the store: checkpoints, then the log replayed behind them. */
enum cd_err cohort_load(struct app *app, struct workspace *ws);

#endif
