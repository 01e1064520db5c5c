/*
 * campaign_fixture.c — the start, wait and stop of campaign_fixture.h.
 */
#include "campaign_fixture.h"

struct sink *campaign_fixture_start(struct server *s, const char *const *args, char *base,
                                    size_t base_len) {
    server_start_with(s, args);
    return sink_start_webhook(base, base_len);
}

void campaign_fixture_wait_finished(const struct server *s) {
    for (int i = 0; sql_count(s, "SELECT count(*) FROM dispatches WHERE finished_at = 0") > 0;
         i++) {
        if (i == 1000)
            fail_msg("a dispatch is still unfinished after 10 s");
        sleep_ms(10);
    }
}

void campaign_fixture_stop(struct server *s, struct sink *hook) {
    sink_stop(hook);
    server_cleanup(s);
}
