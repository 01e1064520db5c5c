/*
 * campaign_failures.h — the last failures of a campaign or Canvas (GET /campaigns/failures,
 * /canvas/failures): its newest failed deliveries, newest first, each with its user, its step
 * and the reason recorded when it failed (campaign_run.c). They are read from the delivery
 * records, so they go back as far as --retain-deliveries keeps them.
 */
#ifndef COHORTD_CORE_MESSAGING_CAMPAIGN_FAILURES_H
#define COHORTD_CORE_MESSAGING_CAMPAIGN_FAILURES_H

#include "core/messaging/campaign.h"

#define CAMPAIGN_FAILURES_DEFAULT 10
#define CAMPAIGN_FAILURES_MAX 100

struct campaign_failure {
    char *external_id;     /* "" when the user has none */
    const char *step_name; /* Canvas: its step's name (NULL when unknown); campaign: NULL */
    int64_t step;          /* 0-based */
    int64_t attempts;
    int64_t at; /* UNIX ms */
    char *reason;
};

struct campaign_failure_list {
    struct campaign_failure *items;
    size_t n;
    json_t *definition; /* what step_name points into */
};

/* The newest `limit` (1..CAMPAIGN_FAILURES_MAX) failures of the campaign (kind) of ws with that
 * public id, archived ones included. CD_E_NOT_FOUND when there is none. Free out with
 * campaign_failure_list_free. */
enum cd_err campaign_failures(struct app *app, struct workspace *ws, enum campaign_kind kind,
                              const char *public_id, int64_t limit,
                              struct campaign_failure_list *out);
void campaign_failure_list_free(struct campaign_failure_list *l);

#endif
