/*
 * campaign_fixture.h — what the webhook campaign and Canvas suites start, wait for and stop
 * alike: the real server with the sender's settings of the suite, a webhook receiver on
 * loopback, and the end of every due dispatch step.
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
/* Polls until no dispatch in s's store is due and unfinished (each due step's outcomes
 * recorded; a later step waits for its time, a cancelled one is finished): until a later step
 * falls due no sender has anything to send, so a count of the requests the receiver got is
 * final. Fails after 10 s. */
void campaign_fixture_wait_idle(const struct server *s);
/* Polls until every unfinished dispatch in s's store is due (its next step's time has come;
 * the server may be stopped). Fails after 10 s. */
void campaign_fixture_wait_due(const struct server *s);
/* Stops the receiver, then the server, and removes the server's data directory. */
void campaign_fixture_stop(struct server *s, struct sink *hook);

#endif
