/* dashboard_users.c — dashboard users and their Argon2id passwords (see dashboard_users.h). */
#include "core/workspace/dashboard_users.h"

#include <argon2.h>
#include <stdio.h>
#include <string.h>

#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Argon2id with the first of RFC 9106's second recommendations cut to the memory a small
 * server spares per login: 19 MiB, 2 passes, 1 lane (OWASP's minimum for Argon2id). */
#define HASH_T_COST 2
#define HASH_M_COST_KIB 19456
#define HASH_LANES 1
#define HASH_SALT_LEN 16
#define HASH_LEN 32
#define HASH_ENCODED_MAX 160

bool dash_role_parse(const char *text, enum dash_role *role) {
    if (text && strcmp(text, "admin") == 0)
        *role = DASH_ROLE_ADMIN;
    else if (text && strcmp(text, "member") == 0)
        *role = DASH_ROLE_MEMBER;
    else
        return false;
    return true;
}

const char *dash_role_name(enum dash_role role) {
    return role == DASH_ROLE_ADMIN ? "admin" : "member";
}

enum cd_err dash_email_normalise(const char *email, char out[DASH_EMAIL_MAX + 1],
                                 struct cd_msg *msg) {
    size_t n = email ? strlen(email) : 0;
    const char *at = email ? strchr(email, '@') : NULL;
    if (!email || n == 0 || n > DASH_EMAIL_MAX || !at || at == email || !at[1] ||
        strchr(at + 1, '@'))
        return cd_invalid(msg, "'email' must be an email address of at most %d bytes",
                          DASH_EMAIL_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)email[i];
        if (c <= 0x20 || c == 0x7f)
            return cd_invalid(msg, "'email' must not hold spaces or control characters");
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    return CD_OK;
}

enum cd_err dash_password_check(const char *password, struct cd_msg *msg) {
    size_t n = password ? strlen(password) : 0;
    if (n < DASH_PASSWORD_MIN || n > DASH_PASSWORD_MAX)
        return cd_invalid(msg, "'password' must have %d to %d bytes", DASH_PASSWORD_MIN,
                          DASH_PASSWORD_MAX);
    return CD_OK;
}

int dash_password_generate(char out[DASH_PASSWORD_GENERATED + 1]) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < DASH_PASSWORD_GENERATED) {
        unsigned char b[32];
        if (crypto_random(b, sizeof b) != 0)
            return -1;
        /* 62 * 4 = 248: bytes from 248 up are dropped, so every character is equally likely */
        for (size_t j = 0; j < sizeof b && i < DASH_PASSWORD_GENERATED; j++)
            if (b[j] < 248)
                out[i++] = alphabet[b[j] % 62];
    }
    out[i] = '\0';
    return 0;
}

static enum cd_err hash_password(const char *password, char out[HASH_ENCODED_MAX]) {
    unsigned char salt[HASH_SALT_LEN];
    if (crypto_random(salt, sizeof salt) != 0)
        return CD_E_INTERNAL;
    int rc =
        argon2id_hash_encoded(HASH_T_COST, HASH_M_COST_KIB, HASH_LANES, password, strlen(password),
                              salt, sizeof salt, HASH_LEN, out, HASH_ENCODED_MAX);
    if (rc != ARGON2_OK) {
        log_error("dashboard", "op=hash_password error=%s", log_q(argon2_error_message(rc)));
        return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? CD_E_NOMEM : CD_E_INTERNAL;
    }
    return CD_OK;
}

static void copy_user(void *ctx, const struct dash_user_row *row) {
    struct dash_user *u = ctx;
    u->id = row->id;
    snprintf(u->email, sizeof u->email, "%s", row->email ? row->email : "");
    u->role = row->role && strcmp(row->role, "admin") == 0 ? DASH_ROLE_ADMIN : DASH_ROLE_MEMBER;
    u->password_set_at = row->password_set_at;
    u->created_at = row->created_at;
}

enum cd_err dash_user_add(struct store *s, const char *email, enum dash_role role,
                          const char *password, struct dash_user *out, struct cd_msg *msg) {
    struct dash_user u = {0};
    enum cd_err err = dash_email_normalise(email, u.email, msg);
    if (err == CD_OK)
        err = dash_password_check(password, msg);
    char hash[HASH_ENCODED_MAX];
    if (err == CD_OK)
        err = hash_password(password, hash);
    int64_t now = time_now_ms();
    if (err == CD_OK)
        err = STORE_OPS(s)->dashboard->user_add(s, u.email, dash_role_name(role), hash, now, &u.id);
    if (err == CD_OK && out) {
        u.role = role;
        u.password_set_at = now;
        u.created_at = now;
        *out = u;
    }
    return err;
}

enum cd_err dash_user_passwd(struct store *s, const char *email, const char *password,
                             struct cd_msg *msg) {
    char norm[DASH_EMAIL_MAX + 1];
    enum cd_err err = dash_email_normalise(email, norm, msg);
    if (err == CD_OK)
        err = dash_password_check(password, msg);
    char hash[HASH_ENCODED_MAX];
    if (err == CD_OK)
        err = hash_password(password, hash);
    if (err == CD_OK)
        err = STORE_OPS(s)->dashboard->user_set_password(s, norm, hash, time_now_ms());
    return err;
}

enum cd_err dash_user_remove(struct store *s, const char *email) {
    char norm[DASH_EMAIL_MAX + 1];
    struct cd_msg msg = {{0}};
    if (dash_email_normalise(email, norm, &msg) != CD_OK)
        return CD_E_NOT_FOUND;
    return STORE_OPS(s)->dashboard->user_delete(s, norm);
}

struct list_ctx {
    void (*cb)(void *, const struct dash_user *);
    void *ctx;
};

static void list_row(void *vctx, const struct dash_user_row *row) {
    struct list_ctx *l = vctx;
    struct dash_user u;
    copy_user(&u, row);
    l->cb(l->ctx, &u);
}

enum cd_err dash_user_list(struct store *s, void (*cb)(void *ctx, const struct dash_user *u),
                           void *ctx) {
    struct list_ctx l = {cb, ctx};
    return STORE_OPS(s)->dashboard->user_list(s, list_row, &l);
}

enum cd_err dash_user_get(struct store *s, int64_t id, struct dash_user *out) {
    memset(out, 0, sizeof *out);
    return STORE_OPS(s)->dashboard->user_get(s, NULL, id, copy_user, out);
}

struct login_row {
    struct dash_user *u;
    char hash[HASH_ENCODED_MAX];
};

static void login_row(void *vctx, const struct dash_user_row *row) {
    struct login_row *l = vctx;
    copy_user(l->u, row);
    snprintf(l->hash, sizeof l->hash, "%s", row->password_hash ? row->password_hash : "");
}

/* The hash an unknown email is verified against (of a random password, made once), so that a
 * wrong email costs what a wrong password does. */
static pthread_once_t decoy_once = PTHREAD_ONCE_INIT;
static char decoy_hash[HASH_ENCODED_MAX];

static void make_decoy(void) {
    char pw[DASH_PASSWORD_GENERATED + 1];
    if (dash_password_generate(pw) != 0 || hash_password(pw, decoy_hash) != CD_OK)
        decoy_hash[0] = '\0';
}

enum cd_err dash_user_login(struct store *s, const char *email, const char *password,
                            struct dash_user *out) {
    memset(out, 0, sizeof *out);
    char norm[DASH_EMAIL_MAX + 1];
    struct cd_msg msg = {{0}};
    struct login_row l = {.u = out};
    enum cd_err err = dash_email_normalise(email, norm, &msg) == CD_OK &&
                              dash_password_check(password, &msg) == CD_OK
                          ? STORE_OPS(s)->dashboard->user_get(s, norm, 0, login_row, &l)
                          : CD_E_NOT_FOUND;
    if (err != CD_OK && err != CD_E_NOT_FOUND)
        return err;
    const char *pw = password ? password : "";
    if (err == CD_E_NOT_FOUND) {
        pthread_once(&decoy_once, make_decoy);
        if (decoy_hash[0])
            (void)argon2id_verify(decoy_hash, pw, strlen(pw));
        memset(out, 0, sizeof *out);
        return CD_E_NOT_FOUND;
    }
    if (argon2id_verify(l.hash, pw, strlen(pw)) != ARGON2_OK) {
        memset(out, 0, sizeof *out);
        return CD_E_NOT_FOUND;
    }
    return CD_OK;
}

enum cd_err app_dash_user_add(struct app *app, const char *email, enum dash_role role,
                              const char *password, struct dash_user *out, struct cd_msg *msg) {
    return dash_user_add(app->store, email, role, password, out, msg);
}

enum cd_err app_dash_user_remove(struct app *app, const char *email) {
    return dash_user_remove(app->store, email);
}

enum cd_err app_dash_user_list(struct app *app, void (*cb)(void *ctx, const struct dash_user *u),
                               void *ctx) {
    return dash_user_list(app->store, cb, ctx);
}

enum cd_err app_dash_user_get(struct app *app, int64_t id, struct dash_user *out) {
    return dash_user_get(app->store, id, out);
}

enum cd_err app_dash_user_login(struct app *app, const char *email, const char *password,
                                struct dash_user *out) {
    return dash_user_login(app->store, email, password, out);
}
