/*
 * cohort_import.h — applying partner cohort changes: naming a cohort, and adding / removing
 * the users a change names, matched by the identity rules of DESIGN.md (never creating
 * users; unmatched ids counted and sampled with a reason). (Loading cohorts at start-up is
 * the workspace loader's, core/workspace/cohort_load.c.)
 *
 * The _locked calls run inside a workspace write (workspace_write_begin/end), so a caller such
 * as the Heap webhook can record its own state in the same transaction; the others open and
 * close the write themselves. Cost of an apply: one identity probe per id, two bitmap
 * operations, one log row (plus a checkpoint every COHORT_CHECKPOINT_EVERY requests).
 */
#ifndef COHORTD_CORE_COHORTS_COHORT_IMPORT_H
#define COHORTD_CORE_COHORTS_COHORT_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workspace/workspace.h"

#define COHORT_CHECKPOINT_EVERY 64
#define COHORT_MISS_SAMPLE 100

enum cohort_id_kind {
    COHORT_ID_EXTERNAL,           /* external_id */
    COHORT_ID_ALIAS,              /* (label, name) */
    COHORT_ID_DEVICE,             /* device id of an anonymous user */
    COHORT_ID_EXTERNAL_OR_DEVICE, /* a string in user_ids: external_id, else anonymous device */
};

struct cohort_ident {
    enum cohort_id_kind kind;
    const char *a; /* external id, device id, or alias label */
    const char *b; /* alias name */
};

struct cohort_change {
    bool remove;
    const struct cohort_ident *ids;
    size_t n_ids;
};

struct cohort_apply_result {
    int64_t received;
    int64_t matched;
    int64_t unmatched;
    int64_t added;   /* users that were not members and are now */
    int64_t removed; /* users that were members and are not now */
};

/* Names (creates or renames) a cohort; keeps the earliest created_at. */
enum cd_err cohort_name_locked(struct app *app, struct workspace *ws, const char *partner,
                               const char *cohort_id, const char *name, int64_t created_at);
enum cd_err cohort_name(struct app *app, struct workspace *ws, const char *partner,
                        const char *cohort_id, const char *name, int64_t created_at);

/* Applies changes in order (a later change of the same user wins). Creates the cohort,
 * unnamed, when it does not exist. */
enum cd_err cohort_apply_locked(struct app *app, struct workspace *ws, const char *partner,
                                const char *cohort_id, const struct cohort_change *changes,
                                size_t n_changes, int64_t now, struct cohort_apply_result *out);
enum cd_err cohort_apply(struct app *app, struct workspace *ws, const char *partner,
                         const char *cohort_id, const struct cohort_change *changes,
                         size_t n_changes, struct cohort_apply_result *out);

/* Adds a durable apply's ids to the cohortd_cohort_ids_{received,matched,unmatched}_total
 * counters of (ws, partner, source); source is "partner_import" or "heap_webhook".
 * cohort_apply counts itself; the Heap webhook's page apply calls this. */
void cohort_ids_count(const struct workspace *ws, const char *partner, const char *source,
                      const struct cohort_apply_result *r);

#endif
