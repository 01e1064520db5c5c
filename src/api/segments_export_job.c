/*
 * segments_export_job.c — Braze's segment export job (export/user_data/post_users_segment.md):
 * POST /users/export/segment checks the body (segment_id, fields_to_export required,
 * callback_endpoint, output_format), hands it to core/segments/segment_jobs.h and answers
 * {"message":"success","object_prefix":…,"url":…}; GET /users/export/segment/files/{file} is the
 * URL it hands out: no REST key, the signature in its query is the credential, and it streams
 * the ZIP of the job's NDJSON files once they are written. The lines of those files are built
 * here too (the export shape of /users/export/ids).
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"
#include "api/users_int.h"
#include "core/segments/segment_jobs.h"
#include "util/timeutil.h"
#include "util/zip_stream.h"

char *api_segment_export_line(const struct user_export *u, const json_t *fields) {
    json_t *obj = api_user_export_json(u, fields);
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    return text;
}

/* Checks the body; CD_E_INVALID with msg when it is wrong. */
static enum cd_err check_body(const json_t *body, struct cd_msg *msg) {
    const json_t *id = json_object_get(body, "segment_id");
    const json_t *fields = json_object_get(body, "fields_to_export");
    const json_t *cb = json_object_get(body, "callback_endpoint");
    const json_t *format = json_object_get(body, "output_format");
    if (!json_is_string(id) || !*json_string_value(id))
        return cd_invalid(msg, "segment_id: required, a non-empty string");
    if (strlen(json_string_value(id)) > LIMIT_OBJECT_ID)
        return cd_invalid(msg, API_LIMIT_LEN_TEXT, "segment_id", (size_t)LIMIT_OBJECT_ID);
    if (!json_is_array(fields) || json_array_size(fields) == 0)
        return cd_invalid(msg, "fields_to_export: required, a non-empty array of field names");
    size_t i;
    json_t *v;
    json_array_foreach(fields, i, v) {
        if (!json_is_string(v) || !api_user_export_field_known(json_string_value(v)))
            return cd_invalid(msg, "unknown field in 'fields_to_export': %.64s",
                              json_is_string(v) ? json_string_value(v) : "(not a string)");
    }
    if (cb && !json_is_null(cb)) {
        const char *url = json_string_value(cb);
        if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
            return cd_invalid(msg, "callback_endpoint: must be an http:// or https:// URL");
        if (strlen(url) > LIMIT_URL)
            return cd_invalid(msg, API_LIMIT_LEN_TEXT, "callback_endpoint", (size_t)LIMIT_URL);
    }
    if (format && !json_is_null(format)) {
        const char *f = json_string_value(format);
        if (!f || (strcmp(f, "zip") != 0 && strcmp(f, "gzip") != 0))
            return cd_invalid(msg, "output_format: must be \"zip\" or \"gzip\"");
    }
    return CD_OK;
}

void api_users_export_segment_job(void *vctx, const struct http_request *req,
                                  struct http_response *res) {
    struct api_ctx *ctx = vctx;
    json_t *body = api_json_body(req, res);
    struct workspace *ws = body ? api_auth_rest(ctx, req, body, res) : NULL;
    if (!ws) {
        json_decref(body);
        return;
    }
    struct cd_msg msg = {{0}};
    enum cd_err err = check_body(body, &msg);
    struct segment_job_ticket ticket = {{0}, NULL};
    if (err == CD_OK) {
        const json_t *fields = json_object_get(body, "fields_to_export");
        struct segment_job_request jr = {
            .segment_id = json_string_value(json_object_get(body, "segment_id")),
            .fields = fields,
            .parts = api_user_export_parts(fields),
            .callback_endpoint = json_string_value(json_object_get(body, "callback_endpoint")),
        };
        err = segment_jobs_start(ctx->cfg.exports, ws, &jr, &ticket, &msg);
    }
    json_decref(body);
    if (err == CD_E_BUSY) { /* one export per segment at a time: Braze's rule, our text */
        http_reply_message(res, 429, msg.text);
        return;
    }
    if (err != CD_OK) {
        api_reply_err(res, err, msg.text[0] ? msg.text : NULL);
        return;
    }
    http_reply_json(res, 201,
                    json_pack("{s:s, s:s, s:s}", "message", "success", "object_prefix",
                              ticket.object_prefix, "url", ticket.url));
    free(ticket.url);
}

static size_t zip_next(void *ctx, char *buf, size_t max) {
    return zip_stream_read(ctx, buf, max);
}

static void zip_done(void *ctx) {
    zip_stream_free(ctx);
}

void api_users_export_segment_file(void *vctx, const struct http_request *req,
                                   struct http_response *res) {
    struct api_ctx *ctx = vctx;
    struct zip_stream *zip = NULL;
    switch (segment_jobs_open_file(ctx->cfg.exports, http_param(req, 0), http_query(req, "expires"),
                                   http_query(req, "signature"), time_now_ms(), &zip)) {
    case SEGMENT_FILE_FORBIDDEN:
        http_reply_message(res, 403, "this export URL is not valid or has expired");
        return;
    case SEGMENT_FILE_PENDING:
        http_add_header(res, "Retry-After", "1");
        http_reply_message(res, 404, "the export is not ready yet");
        return;
    case SEGMENT_FILE_FAILED:
        http_reply_message(res, 500, "the export failed");
        return;
    case SEGMENT_FILE_READY:
        break;
    }
    http_add_header(res, "Content-Disposition", "attachment");
    http_reply_stream(res, 200, "application/zip", (struct http_stream){zip_next, zip_done, zip});
}
