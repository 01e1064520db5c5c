/*
 * currents_probe.h — the credential probe of a Currents connector (CONTRACT.md §4.1): an empty
 * batch {"events":[]} sent as the dispatcher sends batches (same headers, the Current's token),
 * which the receiver answers by checking Authorization alone. Braze uses it to validate a
 * connector's credentials; cohortd sends it when a Current is created and shows the answer.
 */
#ifndef COHORTD_WORKERS_CURRENTS_PROBE_H
#define COHORTD_WORKERS_CURRENTS_PROBE_H

#include <stdint.h>

#include "core/messaging/currents_config.h"

/* Sends the probe to url (token NULL: no Authorization) and waits for the answer, at most
 * timeout_ms, connecting included; fills out (status 0 and the reason when nothing answered).
 * Blocks the calling thread; safe from any thread once curl_global_init ran. */
void currents_probe_send(const char *url, const char *token, int64_t timeout_ms,
                         struct current_probe *out);

#endif
