/* response.c — filling a struct http_response (see http.h). */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

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

bool http_add_header(struct http_response *res, const char *name, const char *value) {
    char *copy = res->n_headers < HTTP_MAX_EXTRA_HEADERS ? strdup(value) : NULL;
    if (!copy) {
        log_warn("http", "op=add_header name=%s error=\"%s\"", name,
                 res->n_headers < HTTP_MAX_EXTRA_HEADERS ? "out of memory" : "too many headers");
        return false;
    }
    res->headers[res->n_headers].name = name;
    res->headers[res->n_headers].value = copy;
    res->n_headers++;
    return true;
}

void http_clear_headers(struct http_response *res) {
    for (int i = 0; i < res->n_headers; i++) {
        free(res->headers[i].value);
        res->headers[i].value = NULL;
    }
    res->n_headers = 0;
}

void http_response_release(struct http_response *res) {
    free(res->body);
    res->body = NULL;
    http_clear_headers(res);
}

void http_reply_stream(struct http_response *res, int status, const char *content_type,
                       struct http_stream stream) {
    http_reply_raw(res, status, content_type, NULL, 0);
    res->stream = stream;
}
