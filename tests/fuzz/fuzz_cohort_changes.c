/*
 * fuzz_cohort_changes.c — libFuzzer driver for the body of POST /partners/{partner}/cohorts/users
 * (api_cohort_changes_read, api/partner_cohorts.c): the input is the request body, parsed as
 * api_json_body parses it. A refused body gets a 400 whose body is {"message": text}; an
 * accepted one gives changes that hold every identifier of the request (at most 1,000),
 * each non-empty, within its limit, of a known kind, an alias with both of its parts. And a
 * body the fast reader (api/partner_body.c) reads is one the general path accepts, with the same
 * secrets, cohort id and changes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/limits.h"
#include "api/partner_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Static_assert(LIMIT_DEVICE_ID == LIMIT_EXTERNAL_ID, "one bound checks both kinds of id");

static void fail(const char *what) {
    fprintf(stderr, "fuzz_cohort_changes: %s\n", what);
    abort();
}

static bool within(const char *s, size_t max) {
    return s && *s && strlen(s) <= max;
}

static void check_accepted(const json_t *arr, const struct api_cohort_changes *cc) {
    if (cc->n_changes != json_array_size(arr) || cc->n_ids > LIMIT_COHORT_IDS)
        fail("accepted changes of the wrong size");
    size_t total = 0;
    for (size_t i = 0; i < cc->n_changes; i++) {
        const struct cohort_change *ch = &cc->changes[i];
        if (ch->n_ids && (ch->ids < cc->ids || ch->ids + ch->n_ids > cc->ids + cc->n_ids))
            fail("a change whose ids are outside the id list");
        total += ch->n_ids;
        for (size_t k = 0; k < ch->n_ids; k++) {
            const struct cohort_ident *id = &ch->ids[k];
            bool ok = false;
            switch (id->kind) {
            case COHORT_ID_EXTERNAL:
            case COHORT_ID_EXTERNAL_OR_DEVICE:
            case COHORT_ID_DEVICE:
                /* LIMIT_DEVICE_ID and LIMIT_EXTERNAL_ID are one size (the assert below) */
                ok = within(id->a, LIMIT_EXTERNAL_ID) && !id->b;
                break;
            case COHORT_ID_ALIAS:
                ok = within(id->a, LIMIT_ALIAS_LABEL) && within(id->b, LIMIT_ALIAS_NAME);
                break;
            }
            if (!ok)
                fail("an accepted identifier that is empty, too long or of no kind");
        }
    }
    if (total != cc->n_ids)
        fail("the changes do not hold every identifier exactly once");
}

static void check_refused(const struct http_response *res) {
    json_t *reply = res->body ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    if (res->status != 400 || !json_is_string(json_object_get(reply, "message")))
        fail("a refusal that is not 400 {\"message\": text}");
    json_decref(reply);
}

static bool same(const char *a, const char *b) {
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* The fast reader's result equals the general path's (body, its accepted changes cc). */
static void check_fast(const struct partner_body *f, const json_t *body,
                       const struct api_cohort_changes *cc) {
    if (!same(f->partner_api_key, json_string_value(json_object_get(body, "partner_api_key"))) ||
        !same(f->client_secret, json_string_value(json_object_get(body, "client_secret"))) ||
        !same(f->cohort_id, json_string_value(json_object_get(body, "cohort_id"))) ||
        f->cc.n_changes != cc->n_changes || f->cc.n_ids != cc->n_ids)
        fail("the fast reader read other fields or another number of changes");
    for (size_t i = 0; i < cc->n_changes; i++) {
        const struct cohort_change *a = &f->cc.changes[i], *b = &cc->changes[i];
        if (a->remove != b->remove || a->n_ids != b->n_ids)
            fail("the fast reader read another change");
        for (size_t k = 0; k < b->n_ids; k++)
            if (a->ids[k].kind != b->ids[k].kind || !same(a->ids[k].a, b->ids[k].a) ||
                !same(a->ids[k].b, b->ids[k].b))
                fail("the fast reader read another id");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct partner_body fast;
    bool read_fast = partner_body_read((const char *)data, size, &fast);
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        if (read_fast)
            fail("the fast reader read a body that is not a JSON object");
        json_decref(body);
        return 0;
    }
    const json_t *arr = json_object_get(body, "cohort_changes");
    struct http_response res = {0};
    struct api_cohort_changes cc;
    enum cd_err err = api_cohort_changes_read(arr, &cc, &res);
    if (err == CD_OK) {
        if (res.status != 0)
            fail("an accepted body got a reply");
        check_accepted(arr, &cc);
        if (read_fast)
            check_fast(&fast, body, &cc);
    } else if (read_fast) {
        fail("the fast reader read a body the general path refuses");
    }
    if (err == CD_E_INVALID) {
        check_refused(&res);
    } else if (err != CD_OK && err != CD_E_NOMEM) {
        fail("an unexpected error");
    }
    if (read_fast)
        partner_body_release(&fast);
    api_cohort_changes_release(&cc);
    http_response_release(&res);
    json_decref(body);
    return 0;
}
