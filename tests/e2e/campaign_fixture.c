/*
 * campaign_fixture.c — the start, wait and stop of campaign_fixture.h.
 */
#include "campaign_fixture.h"

#include <stdlib.h>
#include <time.h>

struct sink *campaign_fixture_start(struct server *s, const char *const *args, char *base,
                                    size_t base_len) {
    server_start_with(s, args);
    return sink_start_webhook(base, base_len);
}

/* Polls until no unfinished dispatch of s is due by now (due "<=") or still to fall due
 * (due ">"); fails after 10 s saying what. */
static void wait_none(const struct server *s, const char *due, const char *what) {
    for (int i = 0;; i++) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        char *sql = strf("SELECT count(*) FROM dispatches WHERE finished_at = 0 AND due_at %s %lld",
                         due, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        long n = sql_count(s, sql);
        free(sql);
        if (n == 0)
            return;
        if (i == 1000)
            fail_msg("%s after 10 s", what);
        sleep_ms(10);
    }
}

void campaign_fixture_wait_idle(const struct server *s) {
    wait_none(s, "<=", "a due dispatch is still unfinished");
}

void campaign_fixture_wait_due(const struct server *s) {
    wait_none(s, ">", "an unfinished dispatch is still not due");
}

void campaign_fixture_stop(struct server *s, struct sink *hook) {
    sink_stop(hook);
    server_cleanup(s);
}
