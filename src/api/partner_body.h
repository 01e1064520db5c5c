/*
 * partner_body.h — the fast reader of a partner cohort import body (POST
 * /partners/{partner}/cohorts/users, CONTRACT.md §1.4), for the shape real partners send: one
 * pass over the bytes, strings ended in place in a copy of the body, no JSON tree.
 *
 * It reads only a body it can prove means what the general path (api_json_body, then
 * api_cohort_changes_read) makes of it: the four fields once each, their values of the right
 * type, change objects with the keys user_ids, device_ids and aliases in that order (and
 * should_remove anywhere), ids that are plain strings within their limits, aliases with exactly
 * alias_name and alias_label, at most 1,000 ids, strings without escapes or bytes outside
 * printable ASCII. Anything else is declined, and the request takes the general path, which
 * gives every error its text. So either path gives the same answer and the same changes
 * (tests/unit/test_partner_body.c and the fuzz driver compare them).
 */
#ifndef COHORTD_API_PARTNER_BODY_H
#define COHORTD_API_PARTNER_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"

struct partner_body {
    const char *partner_api_key, *client_secret, *cohort_id; /* in buf */
    struct api_cohort_changes cc;                            /* its strings in buf */
    char *buf;                                               /* the body's copy */
};

/* Reads body (len bytes) into out and returns true, or returns false with nothing to release
 * (declined, or out of memory: the general path then decides). */
bool partner_body_read(const char *body, size_t len, struct partner_body *out);
void partner_body_release(struct partner_body *b);

#endif
