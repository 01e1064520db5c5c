/*
 * login_throttle.h — slowing down password guessing at the dashboard's login. Failed logins
 * are counted per email and per client address; past a free allowance (LOGIN_FREE_PER_EMAIL,
 * LOGIN_FREE_PER_IP) each further failure locks that email or address for a delay that doubles
 * with every failure (2 s, 4 s, 8 s, … up to LOGIN_MAX_DELAY_MS). A login inside the lock is
 * refused without its password being checked; a successful login clears its email's count
 * (not the address's). Counts are forgotten LOGIN_FORGET_MS after the last failure, and the
 * table keeps at most LOGIN_THROTTLE_MAX keys (the oldest go first). In memory only: a restart
 * forgets them. Safe from any thread.
 */
#ifndef COHORTD_CORE_WORKSPACE_LOGIN_THROTTLE_H
#define COHORTD_CORE_WORKSPACE_LOGIN_THROTTLE_H

#include <stdint.h>

#define LOGIN_FREE_PER_EMAIL 5
#define LOGIN_FREE_PER_IP 20
#define LOGIN_FIRST_DELAY_MS 2000
#define LOGIN_MAX_DELAY_MS (15LL * 60 * 1000)
#define LOGIN_FORGET_MS (60LL * 60 * 1000)
#define LOGIN_THROTTLE_MAX 4096

struct login_throttle;

struct login_throttle *login_throttle_new(void);
void login_throttle_free(struct login_throttle *t);

/* How long (ms) a login for email from ip must still wait; 0 when it may proceed. */
int64_t login_throttle_wait_ms(struct login_throttle *t, const char *email, const char *ip,
                               int64_t now);
/* Counts a failed login. */
void login_throttle_failed(struct login_throttle *t, const char *email, const char *ip,
                           int64_t now);
/* Clears the count of email after a successful login. */
void login_throttle_succeeded(struct login_throttle *t, const char *email);

#endif
