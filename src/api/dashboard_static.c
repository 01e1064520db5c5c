/*
 * dashboard_static.c — the dashboard's files: GET /dashboard/ and below answer the files of the
 * web directory (--web-dir) with their Content-Type and Cache-Control: no-cache, and GET /
 * redirects to /dashboard/. A path with a "." or ".." segment, an empty segment, a backslash or
 * a segment starting with "." names no file (404), and a file whose real path leaves the web
 * directory (a symbolic link out of it) is not served either. The pages need no login to load:
 * they ask /dashboard/api/session and show the login form on 401.
 */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_FILE (16L * 1024 * 1024)
#define STATIC_NOT_FOUND "no such file in the dashboard"

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"ico", "image/x-icon"},
    {"webp", "image/webp"},
    {"txt", "text/plain; charset=utf-8"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"webmanifest", "application/manifest+json"},
};

static const char *mime_of(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
                return mime_types[i].type;
    return "application/octet-stream";
}

/* Whether rel ("a/b.js") is a relative path of plain segments: none empty, none starting with
 * "." (which covers "." and ".."), no backslash and no control character. */
static bool plain_path(const char *rel) {
    if (!*rel || *rel == '/')
        return false;
    for (const char *seg = rel; seg;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || seg[0] == '.')
            return false;
        seg = end ? end + 1 : NULL;
    }
    for (const unsigned char *c = (const unsigned char *)rel; *c; c++)
        if (*c < 0x20 || *c == '\\' || *c == 0x7f)
            return false;
    return true;
}

static void not_found(struct http_response *res) {
    http_reply_message(res, 404, STATIC_NOT_FOUND);
}

/* Reads the regular file at path (already checked to lie inside the web directory). */
static void serve_file(const char *root, const char *rel, struct http_response *res) {
    char joined[PATH_MAX], real[PATH_MAX], real_root[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s/%s", root, rel) >= (int)sizeof joined ||
        !realpath(root, real_root) || !realpath(joined, real)) {
        not_found(res);
        return;
    }
    size_t rl = strlen(real_root);
    if (strncmp(real, real_root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
        not_found(res);
        return;
    }
    struct stat st;
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* a directory answers its index.html */
        if (strlen(real) + sizeof "/index.html" > sizeof real) {
            not_found(res);
            return;
        }
        strncat(real, "/index.html", sizeof real - strlen(real) - 1);
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_FILE) {
        if (fd >= 0)
            close(fd);
        not_found(res);
        return;
    }
    size_t len = (size_t)st.st_size;
    char *body = malloc(len ? len : 1);
    size_t got = 0;
    while (body && got < len) {
        ssize_t n = read(fd, body + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!body || got != len) {
        free(body);
        http_reply_message(res, 500, "Internal Server Error");
        return;
    }
    http_reply_raw(res, 200, mime_of(real), body, len);
    http_add_header(res, "Cache-Control", "no-cache");
    http_add_header(res, "X-Content-Type-Options", "nosniff");
}

void api_dashboard_file(void *vctx, const struct http_request *req, struct http_response *res) {
    struct api_ctx *ctx = vctx;
    const char *rel = http_param(req, 0);
    if (rel && !*rel)
        rel = "index.html"; /* GET /dashboard/: the page */
    if (!ctx->cfg.web_dir || !rel || !plain_path(rel)) {
        not_found(res);
        return;
    }
    serve_file(ctx->cfg.web_dir, rel, res);
}

static void redirect(struct http_response *res) {
    http_reply_raw(res, 302, NULL, NULL, 0);
    http_add_header(res, "Location", "/dashboard/");
}

void api_dashboard_root(void *ctx, const struct http_request *req, struct http_response *res) {
    (void)ctx;
    (void)req;
    redirect(res);
}
