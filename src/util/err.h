/*
 * err.h — cohortd's error codes: one table gives the enum, a stable name for logs and
 * JSON, and the HTTP status an error maps to when it reaches a client.
 * Codes are only appended, never renumbered.
 */
#ifndef COHORTD_UTIL_ERR_H
#define COHORTD_UTIL_ERR_H

#define CD_ERR_TABLE(X)                                                                            \
    X(CD_OK, "ok", 200)                                                                            \
    X(CD_E_INVALID, "invalid_input", 400)                                                          \
    X(CD_E_UNAUTHORIZED, "unauthorized", 401)                                                      \
    X(CD_E_FORBIDDEN, "forbidden", 403)                                                            \
    X(CD_E_NOT_FOUND, "not_found", 404)                                                            \
    X(CD_E_EXISTS, "already_exists", 409)                                                          \
    X(CD_E_TOO_LARGE, "too_large", 413)                                                            \
    X(CD_E_BUSY, "busy", 429)                                                                      \
    X(CD_E_NOMEM, "out_of_memory", 500)                                                            \
    X(CD_E_IO, "io_error", 500)                                                                    \
    X(CD_E_STORE, "store_unavailable", 503)                                                        \
    X(CD_E_INTERNAL, "internal_error", 500)                                                        \
    X(CD_E_FULL, "store_full", 503)                                                                \
    X(CD_E_MOVED, "not_owner", 503)

enum cd_err {
#define CD_ERR_ENUM(code, name, status) code,
    CD_ERR_TABLE(CD_ERR_ENUM)
#undef CD_ERR_ENUM
};

/* A message for the client that explains a CD_E_INVALID (or similar) result. Room for any
 * message that names a field within api/limits.h (a 255-byte name in a path, a 200-byte quote
 * of a template tag); messages quote outside text only up to those bounds. */
struct cd_msg {
    char text[1024];
};

/* Writes the message (printf-style) and returns CD_E_INVALID: how a "bad input" path ends. */
enum cd_err cd_invalid(struct cd_msg *msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Stable lower-case name of an error ("invalid_input"); never NULL. */
const char *cd_err_name(enum cd_err err);

/* HTTP status an error maps to. */
int cd_err_status(enum cd_err err);

#endif
