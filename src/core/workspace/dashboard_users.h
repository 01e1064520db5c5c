/*
 * dashboard_users.h — the people who log in to the dashboard: an email (compared lower-case),
 * a role (an admin may change users and workspaces, a member uses the data screens) and a
 * password stored only as its Argon2id hash (libargon2; the parameters are in the encoded hash,
 * so raising them later leaves older hashes verifiable). The store functions serve the CLI
 * (which works on the store whether or not a server runs); the app_ ones are the same for the
 * API, which never sees the store.
 */
#ifndef COHORTD_CORE_WORKSPACE_DASHBOARD_USERS_H
#define COHORTD_CORE_WORKSPACE_DASHBOARD_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define DASH_EMAIL_MAX 254
#define DASH_PASSWORD_MIN 8
#define DASH_PASSWORD_MAX 1024
/* A generated password: 24 characters of [A-Za-z0-9] (about 143 bits). */
#define DASH_PASSWORD_GENERATED 24

enum dash_role { DASH_ROLE_MEMBER = 0, DASH_ROLE_ADMIN = 1 };

struct dash_user {
    int64_t id;
    char email[DASH_EMAIL_MAX + 1];
    enum dash_role role;
    int64_t password_set_at;
    int64_t created_at;
};

/* "admin" or "member" into *role; false for anything else. */
bool dash_role_parse(const char *text, enum dash_role *role);
const char *dash_role_name(enum dash_role role);

/* Checks an email (one '@' with text on both sides, no space or control character, at most
 * DASH_EMAIL_MAX bytes) and writes it lower-case into out. CD_E_INVALID with msg otherwise. */
enum cd_err dash_email_normalise(const char *email, char out[DASH_EMAIL_MAX + 1],
                                 struct cd_msg *msg);
/* CD_E_INVALID with msg unless the password has DASH_PASSWORD_MIN to DASH_PASSWORD_MAX bytes. */
enum cd_err dash_password_check(const char *password, struct cd_msg *msg);
/* A random password of DASH_PASSWORD_GENERATED characters; 0, or -1 without randomness. */
int dash_password_generate(char out[DASH_PASSWORD_GENERATED + 1]);

/* Adds a user. CD_E_INVALID (msg) for a bad email, role text or password, CD_E_EXISTS when the
 * email is taken. out (may be NULL) receives the user. */
enum cd_err dash_user_add(struct store *s, const char *email, enum dash_role role,
                          const char *password, struct dash_user *out, struct cd_msg *msg);
/* Sets a new password (sessions of the old one stop working). CD_E_NOT_FOUND: no such user. */
enum cd_err dash_user_passwd(struct store *s, const char *email, const char *password,
                             struct cd_msg *msg);
/* CD_E_NOT_FOUND when no user has this email. */
enum cd_err dash_user_remove(struct store *s, const char *email);
/* Calls cb for every user, oldest first. */
enum cd_err dash_user_list(struct store *s, void (*cb)(void *ctx, const struct dash_user *u),
                           void *ctx);
/* The user with this id; CD_E_NOT_FOUND when there is none (any more). */
enum cd_err dash_user_get(struct store *s, int64_t id, struct dash_user *out);
/* The user whose email and password these are; CD_E_NOT_FOUND when either is wrong (an unknown
 * email costs a hash verification too, so the time does not tell which). */
enum cd_err dash_user_login(struct store *s, const char *email, const char *password,
                            struct dash_user *out);

/* The same on the server's store. */
struct app;
enum cd_err app_dash_user_add(struct app *app, const char *email, enum dash_role role,
                              const char *password, struct dash_user *out, struct cd_msg *msg);
enum cd_err app_dash_user_remove(struct app *app, const char *email);
enum cd_err app_dash_user_list(struct app *app, void (*cb)(void *ctx, const struct dash_user *u),
                               void *ctx);
enum cd_err app_dash_user_get(struct app *app, int64_t id, struct dash_user *out);
enum cd_err app_dash_user_login(struct app *app, const char *email, const char *password,
                                struct dash_user *out);

#endif
