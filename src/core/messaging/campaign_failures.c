/* campaign_failures.c — the last failures of a campaign or Canvas (see campaign_failures.h). */
#include "core/messaging/campaign_failures.h"

#include <stdlib.h>
#include <string.h>

#include "core/users/users.h"
#include "core/workspace/workspace_int.h"

struct found_campaign {
    int64_t id;
    json_t *definition;
};

static void copy_found(void *ctx, const struct campaign_row *r) {
    struct found_campaign *f = ctx;
    f->id = r->id;
    f->definition = json_loads(r->definition, 0, NULL);
}

struct collect {
    struct campaign_failure *items;
    uint32_t *uids; /* of items[i], looked up once the store's read is over */
    size_t n, cap;
    bool failed;
};

/* Runs while the store holds its read: copies the row, nothing more. */
static void collect_row(void *ctx, const struct delivery_failure_row *r) {
    struct collect *c = ctx;
    if (c->failed || c->n == c->cap)
        return;
    struct campaign_failure *f = &c->items[c->n];
    *f = (struct campaign_failure){.step = r->step, .attempts = r->attempts, .at = r->at};
    f->reason = strdup(r->reason);
    c->uids[c->n] = r->uid;
    if (!f->reason) {
        c->failed = true;
        return;
    }
    c->n++;
}

void campaign_failure_list_free(struct campaign_failure_list *l) {
    for (size_t i = 0; l->items && i < l->n; i++) {
        free(l->items[i].external_id);
        free(l->items[i].reason);
    }
    free(l->items);
    json_decref(l->definition);
    memset(l, 0, sizeof *l);
}

enum cd_err campaign_failures(struct app *app, struct workspace *ws, enum campaign_kind kind,
                              const char *public_id, int64_t limit,
                              struct campaign_failure_list *out) {
    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > CAMPAIGN_FAILURES_MAX)
        return CD_E_INVALID;
    const struct store_campaign_ops *ops = STORE_OPS(app->store)->campaigns;
    struct found_campaign f = {0, NULL};
    enum cd_err err = ops->get(app->store, ws->id, kind, public_id, 0, copy_found, &f);
    if (err != CD_OK) {
        json_decref(f.definition);
        return err;
    }
    out->definition = f.definition;
    struct collect c = {calloc((size_t)limit, sizeof *c.items),
                        calloc((size_t)limit, sizeof *c.uids), 0, (size_t)limit, false};
    out->items = c.items;
    if (!c.items || !c.uids) {
        free(c.uids);
        campaign_failure_list_free(out);
        return CD_E_NOMEM;
    }
    err = ops->failures(app->store, f.id, limit, collect_row, &c);
    if (err == CD_OK && c.failed)
        err = CD_E_NOMEM;
    const json_t *steps = json_object_get(out->definition, "steps");
    for (size_t i = 0; i < c.n; i++) {
        struct campaign_failure *item = &c.items[i];
        if (kind == CAMPAIGN_KIND_CANVAS)
            item->step_name = json_string_value(
                json_object_get(json_array_get(steps, (size_t)item->step), "name"));
        if (err != CD_OK)
            continue;
        json_t *attrs = NULL;
        err = users_profile(app, ws, c.uids[i], &item->external_id, &attrs);
        json_decref(attrs);
        if (err == CD_E_NOT_FOUND) /* gone since, and its row with it */
            err = (item->external_id = strdup("")) ? CD_OK : CD_E_NOMEM;
    }
    free(c.uids);
    out->n = c.n;
    if (err != CD_OK)
        campaign_failure_list_free(out);
    return err;
}
