/*
 * scheduled_broadcasts.c — Braze's GET /messages/scheduled_broadcasts?end_time=ISO-8601
 * (messaging/schedule_messages/get_messages_scheduled.md): the sends of live campaigns and
 * Canvases that have not started and are due by end_time — `at` schedules and trigger
 * schedules — soonest first. Times are UTC, so schedule_type is always "UTC".
 */
#include "api/api.h"

#include <stdbool.h>

#include "core/messaging/campaign.h"
#include "util/timeutil.h"

struct list_ctx {
    json_t *items;
    bool failed;
};

static void add_item(void *vctx, const struct scheduled_send *s) {
    struct list_ctx *l = vctx;
    char when[40];
    time_format_iso8601(s->send_at, when, sizeof when);
    json_t *item = json_pack("{s:s, s:s, s:s, s:[], s:s, s:s}", "name", s->name, "id", s->public_id,
                             "type", s->kind == CAMPAIGN_KIND_CANVAS ? "Canvas" : "Campaign",
                             "tags", "next_send_time", when, "schedule_type", "UTC");
    if (!item || json_array_append_new(l->items, item) != 0)
        l->failed = true;
}

static enum cd_err scheduled_list(struct app *app, struct workspace *ws,
                                  const struct http_request *req, json_t **out,
                                  struct cd_msg *msg) {
    const char *end = http_query(req, "end_time");
    int64_t until = 0;
    if (!end || time_parse_iso8601(end, &until) != 0)
        return cd_invalid(msg, "end_time: must be an ISO-8601 time");
    struct list_ctx l = {json_array(), false};
    if (!l.items)
        return CD_E_NOMEM;
    enum cd_err err = campaign_scheduled(app, ws, until, add_item, &l);
    if (err == CD_OK && l.failed)
        err = CD_E_NOMEM;
    if (err == CD_OK &&
        !(*out = json_pack("{s:o, s:s}", "scheduled_broadcasts", l.items, "message", "success")))
        err = CD_E_NOMEM;
    if (err != CD_OK)
        json_decref(l.items);
    return err;
}

void api_scheduled_broadcasts(void *ctx, const struct http_request *req,
                              struct http_response *res) {
    api_run_get(ctx, req, res, scheduled_list);
}
