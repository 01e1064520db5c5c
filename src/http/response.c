/* response.c — filling a struct http_response (see http.h). */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_reply_raw(struct http_response *res, int status, const char *content_type, char *body,
                    size_t len) {
    free(res->body);
    res->status = status;
    res->content_type = content_type;
    res->body = body;
    res->body_len = len;
}

void http_reply_json(struct http_response *res, int status, json_t *body) {
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(body);
        if (!text) {
            static const char oom[] = "{\"message\":\"Internal Server Error\"}";
            text = strdup(oom);
            status = 500;
        }
    }
    http_reply_raw(res, status, "application/json", text, text ? strlen(text) : 0);
}

void http_reply_message(struct http_response *res, int status, const char *message) {
    http_reply_json(res, status, json_pack("{s:s}", "message", message));
}

void http_reply_error(struct http_response *res, int status, const char *message,
                      const char *detail) {
    http_reply_json(res, status, json_pack("{s:s, s:[s]}", "message", message, "errors", detail));
}

void http_add_header(struct http_response *res, const char *name, const char *value) {
    if (res->n_headers >= HTTP_MAX_EXTRA_HEADERS)
        return;
    res->headers[res->n_headers].name = name;
    snprintf(res->headers[res->n_headers].value, sizeof res->headers[0].value, "%s", value);
    res->n_headers++;
}

void http_reply_stream(struct http_response *res, int status, const char *content_type,
                       struct http_stream stream) {
    http_reply_raw(res, status, content_type, NULL, 0);
    res->stream = stream;
}
