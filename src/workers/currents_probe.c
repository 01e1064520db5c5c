/* currents_probe.c — the empty-batch credential probe of a Current (see currents_probe.h).
 * Touches libcurl only: one easy handle per probe, its answer body discarded. */
#include "workers/currents_probe.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static size_t discard(char *data, size_t size, size_t n, void *ctx) {
    (void)data;
    (void)ctx;
    return size * n;
}

void currents_probe_send(const char *url, const char *token, int64_t timeout_ms,
                         struct current_probe *out) {
    memset(out, 0, sizeof *out);
    out->at = time_now_ms();
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Braze-Currents-Version: 1") : NULL;
    char *auth = NULL;
    if (h2 && token && *token) {
        size_t len = strlen(token) + sizeof "Authorization: Bearer ";
        auth = malloc(len);
        if (auth)
            snprintf(auth, len, "Authorization: Bearer %s", token);
        if (!auth || !curl_slist_append(h2, auth))
            h2 = NULL;
    }
    if (!e || !h2) {
        snprintf(out->error, sizeof out->error, "out of memory");
        goto out;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{\"events\":[]}");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen("{\"events\":[]}"));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "network: %s", curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->status < 200 || out->status >= 300)
        snprintf(out->error, sizeof out->error, "HTTP %ld", out->status);
out:
    free(auth);
    curl_slist_free_all(h);
    if (e)
        curl_easy_cleanup(e);
}
