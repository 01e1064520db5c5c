/*
 * campaign_fixture.h — what the webhook campaign and Canvas suites start, wait for and stop
 * alike: the real server with the sender's settings of the suite, a webhook receiver on
 * loopback, and the end of every dispatch.
 */
#ifndef COHORTD_TESTS_E2E_CAMPAIGN_FIXTURE_H
#define COHORTD_TESTS_E2E_CAMPAIGN_FIXTURE_H

#include <stddef.h>

#include "harness.h"
#include "sink.h"

/* `serve` arguments for a sender that polls every 50 ms and retries after 50 ms, to begin a
 * suite's NULL-terminated list. */
#define CAMPAIGN_FIXTURE_FAST "--campaigns-poll-ms", "50", "--webhook-retry-base-ms", "50"

/* server_start_with(s, args), then a webhook receiver: base receives its
 * "http://127.0.0.1:PORT". args (NULL-terminated, or NULL) must outlive s. Returns the
 * receiver. */
struct sink *campaign_fixture_start(struct server *s, const char *const *args, char *base,
                                    size_t base_len);
/* Polls until every dispatch in s's store is finished (each step's outcomes recorded, or
 * cancelled): from then on no sender has anything of them to send, so a count of the requests
 * the receiver got is final. Fails after 10 s. */
void campaign_fixture_wait_finished(const struct server *s);
/* Stops the receiver, then the server, and removes the server's data directory. */
void campaign_fixture_stop(struct server *s, struct sink *hook);

#endif
