/*
 * campaign_fixture.c — the start and stop of campaign_fixture.h.
 */
#include "campaign_fixture.h"

struct sink *campaign_fixture_start(struct server *s, const char *const *args, char *base,
                                    size_t base_len) {
    server_start_with(s, args);
    return sink_start_webhook(base, base_len);
}

void campaign_fixture_stop(struct server *s, struct sink *hook) {
    sink_stop(hook);
    server_cleanup(s);
}
