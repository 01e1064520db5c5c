/*
 * user_merge.h — POST /users/merge: one user merged into another. It joins the users domain
 * (attributes, aliases, devices, events: users_merge_locked) with cohort membership, which
 * moves from the merged user to the kept one, so it lives here, after both in the core order.
 */
#ifndef COHORTD_CORE_COHORTS_USER_MERGE_H
#define COHORTD_CORE_COHORTS_USER_MERGE_H

#include <stddef.h>

#include "core/users/users.h"
#include "core/workspace/workspace.h"

/* One merge_updates entry: both refs by external id, or both by alias (api/ checks). */
struct merge_item {
    enum user_minor invalid; /* not NONE: skipped with this error */
    struct user_ref merge;   /* the user merged in, then deleted */
    struct user_ref keep;    /* the user that stays */
};

/*
 * Every item in order, in one workspace write: the kept user gains the cohorts the merged user
 * was in (a log row per cohort, as an import's), then what users_merge_locked moves, and the
 * merged user is deleted. An item naming a user that does not exist is a minor error
 * USER_MINOR_NO_MATCH; one naming the same user twice changes nothing. res->n counts the items
 * applied; free res's minors.
 */
enum cd_err users_merge(struct app *app, struct workspace *ws, const struct merge_item *items,
                        size_t n_items, struct users_count_result *res);

#endif
