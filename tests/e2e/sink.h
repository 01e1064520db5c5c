/*
 * sink.h — a Currents and webhook receiver for the tests: a real HTTP server on 127.0.0.1
 * (libmicrohttpd) that records every request (method, path, query, headers, body) and answers
 * as told: a fixed status (with Retry-After), a failing status for the first n requests, 400
 * for batches holding chosen event ids, 413 above a number of events, after a delay.
 * An empty batch {"events":[]} (a Current's credential probe) is answered at once with the
 * fixed status (401 without the required Authorization), takes nothing of "the first n", and
 * is kept apart (sink_probe_*), so the request log holds only batches.
 */
#ifndef COHORTD_TESTS_E2E_SINK_H
#define COHORTD_TESTS_E2E_SINK_H

#include <jansson.h>
#include <stddef.h>

#define SINK_MAX_REQUESTS 4096
#define SINK_MAX_PROBES 64

struct sink_request {
    json_t *body; /* parsed, or NULL */
    char *raw;    /* the body as received ("" when none) */
    char method[8];
    char path[256];
    json_t *query;   /* {"name": "value"} of the query string */
    json_t *headers; /* {"Name": "value"} as received */
    char authorization[256];
    char version[32];
    char content_type[64];
    int status; /* what the sink answered */
};

struct sink;

/* Starts on a free loopback port; url receives "http://127.0.0.1:PORT/ingest?ws=a". */
struct sink *sink_start(char *url, size_t url_len);
/* The same as a webhook receiver: base receives "http://127.0.0.1:PORT", to which a campaign's
 * URL adds its own path. */
struct sink *sink_start_webhook(char *base, size_t base_len);
void sink_stop(struct sink *k);

/* Behaviour: status to answer (0 = 200), Retry-After seconds (0 = none). */
void sink_answer(struct sink *k, int status, int retry_after);
/* 400 for any batch holding an event with this id or custom event name (NULL clears). */
void sink_reject_event(struct sink *k, const char *event_id);
/* 413 for batches of more than n events (0 = off). */
void sink_max_events(struct sink *k, int n);
/* Required Authorization header value ("Bearer x"); NULL = accept anything. */
void sink_require_auth(struct sink *k, const char *value);

/* The first n requests (from now) get `status`; later ones the usual answer. */
void sink_fail_first(struct sink *k, int n, int status);
/* Every request to exactly this path (query excluded) gets `status` with `body`, whatever the
 * other settings (NULL path: off). */
void sink_fail_path(struct sink *k, const char *path, int status, const char *body);
/* Every answer waits ms first. */
void sink_delay(struct sink *k, int ms);
/* Waits up to ms for at least n requests; returns how many there are. */
size_t sink_wait_requests(struct sink *k, size_t n, int ms);

/* Copies of what was received, under the sink's lock. */
size_t sink_count(struct sink *k);
/* Request i (borrowed; valid until sink_stop). */
const struct sink_request *sink_get(struct sink *k, size_t i);
/* The credential probes received, and probe i (borrowed; valid until sink_stop). */
size_t sink_probe_count(struct sink *k);
const struct sink_request *sink_probe_get(struct sink *k, size_t i);
/* Every event of every 2xx-answered request, in order (new array). */
json_t *sink_accepted_events(struct sink *k);
/* Waits up to ms for at least n accepted events; returns how many there are. */
size_t sink_wait_events(struct sink *k, size_t n, int ms);

#endif
