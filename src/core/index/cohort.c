/* cohort.c — the in-memory cohort set of a workspace (see cohort.h). */
#include "core/index/cohort.h"

#include <stdlib.h>
#include <string.h>

void cohort_set_init(struct cohort_set *set) {
    memset(set, 0, sizeof *set);
    strmap_init(&set->by_key);
}

static void cohort_free(struct cohort *c) {
    if (!c)
        return;
    free(c->cohort_id);
    free(c->name);
    if (c->members)
        roaring_bitmap_free(c->members);
    free(c);
}

void cohort_set_free(struct cohort_set *set) {
    for (size_t i = 0; i < set->n; i++)
        cohort_free(set->v[i]);
    free(set->v);
    strmap_free(&set->by_key);
    memset(set, 0, sizeof *set);
}

/* Builds the map key "<partner>\0<cohort_id>" into buf; returns its length or 0. */
static size_t cohort_key(const char *partner, const char *cohort_id, char *buf, size_t cap) {
    size_t pl = strlen(partner), cl = strlen(cohort_id);
    if (pl + 1 + cl > cap)
        return 0;
    memcpy(buf, partner, pl);
    buf[pl] = '\0';
    memcpy(buf + pl + 1, cohort_id, cl);
    return pl + 1 + cl;
}

struct cohort *cohort_find(const struct cohort_set *set, const char *partner,
                           const char *cohort_id) {
    char key[1024];
    size_t len = cohort_key(partner, cohort_id, key, sizeof key);
    uint32_t idx;
    if (!len || !strmap_get(&set->by_key, key, len, &idx) || idx >= set->n)
        return NULL;
    return set->v[idx];
}

struct cohort *cohort_set_add(struct cohort_set *set, const char *partner, const char *cohort_id) {
    char key[1024];
    size_t len = cohort_key(partner, cohort_id, key, sizeof key);
    uint32_t idx;
    if (!len || strlen(partner) >= COHORT_PARTNER_CAP || strmap_get(&set->by_key, key, len, &idx))
        return NULL;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct cohort **v = realloc(set->v, cap * sizeof(void *));
        if (!v)
            return NULL;
        set->v = v;
        set->cap = cap;
    }
    struct cohort *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    memcpy(c->partner, partner, strlen(partner) + 1);
    c->cohort_id = strdup(cohort_id);
    c->members = roaring_bitmap_create();
    if (!c->cohort_id || !c->members || strmap_put(&set->by_key, key, len, (uint32_t)set->n) != 0) {
        cohort_free(c);
        return NULL;
    }
    set->v[set->n++] = c;
    return c;
}

void cohort_set_drop_user(struct cohort_set *set, uint32_t uid) {
    for (size_t i = 0; i < set->n; i++)
        roaring_bitmap_remove(set->v[i]->members, uid);
}
