/* partner_body.c — the fast reader of a partner cohort import body (see partner_body.h). */
#include "api/partner_body.h"

#include <stdlib.h>
#include <string.h>

#include "api/limits.h"

#define MAX_CHANGES 64 /* a body with more change objects takes the general path */

struct reader {
    char *p, *end;
    struct cohort_ident *ids; /* LIMIT_COHORT_IDS of room */
    size_t n_ids;
    struct cohort_change *changes; /* MAX_CHANGES of room */
    size_t n_changes;
};

static void skip_space(struct reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Takes ch when it comes next (after whitespace). */
static bool take(struct reader *r, char ch) {
    skip_space(r);
    if (r->p == r->end || *r->p != ch)
        return false;
    r->p++;
    return true;
}

static bool take_word(struct reader *r, const char *word) {
    size_t n = strlen(word);
    skip_space(r);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

/* A string of printable ASCII without escapes, ended in place (its closing quote becomes the
 * NUL), its length in *len; NULL for any other string, or no string. */
static const char *string(struct reader *r, size_t *len) {
    if (!take(r, '"'))
        return NULL;
    char *s = r->p;
    for (; r->p < r->end; r->p++) {
        unsigned char ch = (unsigned char)*r->p;
        if (ch == '"') {
            *len = (size_t)(r->p - s);
            *r->p++ = '\0';
            return s;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return NULL;
    }
    return NULL;
}

/* A member name and its colon. */
static const char *key(struct reader *r) {
    size_t len;
    const char *k = string(r, &len);
    return k && take(r, ':') ? k : NULL;
}

static bool add_id(struct reader *r, enum cohort_id_kind kind, const char *a, const char *b) {
    if (r->n_ids == LIMIT_COHORT_IDS)
        return false;
    r->ids[r->n_ids++] = (struct cohort_ident){kind, a, b};
    return true;
}

/* An array of non-empty strings of at most max bytes, added as ids of kind. */
static bool id_array(struct reader *r, enum cohort_id_kind kind, size_t max) {
    if (!take(r, '['))
        return false;
    if (take(r, ']'))
        return true;
    do {
        size_t len;
        const char *s = string(r, &len);
        if (!s || len == 0 || len > max || !add_id(r, kind, s, NULL))
            return false;
    } while (take(r, ','));
    return take(r, ']');
}

/* An array whose every element elem reads. */
static bool array(struct reader *r, bool (*elem)(struct reader *)) {
    if (!take(r, '['))
        return false;
    if (take(r, ']'))
        return true;
    do {
        if (!elem(r))
            return false;
    } while (take(r, ','));
    return take(r, ']');
}

_Static_assert(LIMIT_ALIAS_NAME == LIMIT_ALIAS_LABEL, "one bound checks both parts of an alias");

/* {"alias_name": …, "alias_label": …}, in either order, nothing else. */
static bool alias(struct reader *r) {
    const char *name = NULL, *label = NULL;
    if (!take(r, '{'))
        return false;
    do {
        const char *k = key(r);
        bool is_name = k && strcmp(k, "alias_name") == 0;
        const char **slot = is_name ? &name : k && strcmp(k, "alias_label") == 0 ? &label : NULL;
        size_t len;
        if (!slot || *slot || !(*slot = string(r, &len)) || len == 0 || len > LIMIT_ALIAS_NAME)
            return false;
    } while (take(r, ','));
    return take(r, '}') && name && label && add_id(r, COHORT_ID_ALIAS, label, name);
}

/* One change object. Its ids are user_ids, then device_ids, then aliases (the general path's
 * order, whatever the body's), so the groups must come in that order here. */
static bool change(struct reader *r) {
    static const char *const groups[] = {"user_ids", "device_ids", "aliases"};
    if (r->n_changes == MAX_CHANGES || !take(r, '{'))
        return false;
    struct cohort_change *ch = &r->changes[r->n_changes];
    *ch = (struct cohort_change){.ids = r->ids + r->n_ids};
    size_t next = 0; /* the first group that may still come */
    bool remove_seen = false;
    do {
        const char *k = key(r);
        if (!k)
            return false;
        if (strcmp(k, "should_remove") == 0) {
            if (remove_seen)
                return false;
            remove_seen = true;
            ch->remove = take_word(r, "true");
            if (!ch->remove && !take_word(r, "false"))
                return false;
            continue;
        }
        size_t g = next;
        while (g < 3 && strcmp(k, groups[g]) != 0)
            g++;
        bool ok = g == 0   ? id_array(r, COHORT_ID_EXTERNAL_OR_DEVICE, LIMIT_EXTERNAL_ID)
                  : g == 1 ? id_array(r, COHORT_ID_DEVICE, LIMIT_DEVICE_ID)
                  : g == 2 ? array(r, alias) /* a lone aliases object takes the general path */
                           : false;          /* unknown, repeated or out of order */
        if (!ok)
            return false;
        next = g + 1;
    } while (take(r, ','));
    if (!take(r, '}') || next == 0)
        return false;
    ch->n_ids = (size_t)(r->ids + r->n_ids - ch->ids);
    r->n_changes++;
    return true;
}

/* The whole body: an object of the four fields, each at most once, cohort_changes present (an
 * absent string field is NULL, as the general path reads it). */
static bool whole(struct reader *r, const char *fields[3]) {
    static const char *const names[] = {"partner_api_key", "client_secret", "cohort_id",
                                        "cohort_changes"};
    bool changes_seen = false;
    if (!take(r, '{'))
        return false;
    do {
        const char *k = key(r);
        size_t f = 0, len;
        while (k && f < 4 && strcmp(k, names[f]) != 0)
            f++;
        if (!k || f == 4)
            return false;
        if (f == 3 ? changes_seen || !array(r, change)
                   : fields[f] || !(fields[f] = string(r, &len)))
            return false;
        changes_seen = changes_seen || f == 3;
    } while (take(r, ','));
    if (!take(r, '}') || !changes_seen)
        return false;
    skip_space(r);
    return r->p == r->end;
}

bool partner_body_read(const char *body, size_t len, struct partner_body *out) {
    memset(out, 0, sizeof *out);
    if (!body || len == 0)
        return false;
    struct reader r = {.ids = malloc(LIMIT_COHORT_IDS * sizeof *r.ids),
                       .changes = malloc(MAX_CHANGES * sizeof *r.changes)};
    out->buf = malloc(len + 1);
    const char *fields[3] = {NULL, NULL, NULL};
    bool ok = out->buf && r.ids && r.changes;
    if (ok) {
        memcpy(out->buf, body, len);
        out->buf[len] = '\0';
        r.p = out->buf;
        r.end = out->buf + len;
        ok = whole(&r, fields);
    }
    if (!ok || r.n_changes == 0) { /* none: as the general path, nothing is allocated */
        free(r.ids);
        free(r.changes);
        r.ids = NULL;
        r.changes = NULL;
    }
    if (!ok) {
        free(out->buf);
        out->buf = NULL;
        return false;
    }
    out->partner_api_key = fields[0];
    out->client_secret = fields[1];
    out->cohort_id = fields[2];
    out->cc = (struct api_cohort_changes){r.changes, r.n_changes, r.ids, r.n_ids};
    return true;
}

void partner_body_release(struct partner_body *b) {
    api_cohort_changes_release(&b->cc);
    free(b->buf);
    memset(b, 0, sizeof *b);
}
