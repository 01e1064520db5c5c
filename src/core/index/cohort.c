/*
 * cohort.c — the in-memory cohort set of a workspace (see cohort.h). Keys have no length
 * limit. Under a journal (set->undo) every change to the set or to a cohort is recorded.
 */
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

/* The map key "<partner>\0<cohort_id>": in the stack buffer when short, else an exact-size
 * allocation, so a cohort id of any length has a key. */
struct cohort_key {
    char stack[256];
    char *p;
    size_t len;
};

/* Builds the key; returns 0, or -1 when memory ran out. */
static int cohort_key(struct cohort_key *k, const char *partner, const char *cohort_id) {
    size_t pl = strlen(partner), cl = strlen(cohort_id);
    k->p = k->stack;
    k->len = 0;
    if (cl > SIZE_MAX - 1 - pl)
        return -1;
    size_t len = pl + 1 + cl;
    if (len > sizeof k->stack && !(k->p = malloc(len))) {
        k->p = k->stack;
        return -1;
    }
    memcpy(k->p, partner, pl);
    k->p[pl] = '\0';
    memcpy(k->p + pl + 1, cohort_id, cl);
    k->len = len;
    return 0;
}

static void cohort_key_done(struct cohort_key *k) {
    if (k->p != k->stack)
        free(k->p);
}

struct cohort *cohort_find(const struct cohort_set *set, const char *partner,
                           const char *cohort_id) {
    struct cohort_key k;
    uint32_t idx;
    bool found = cohort_key(&k, partner, cohort_id) == 0 &&
                 strmap_get(&set->by_key, k.p, k.len, &idx) && idx < set->n;
    cohort_key_done(&k);
    return found ? set->v[idx] : NULL;
}

/* Undoes cohort_set_add of the newest cohort (its map entry has its own undo). */
static void add_undo(void *obj, void *state) {
    (void)state;
    struct cohort_set *set = obj;
    cohort_free(set->v[--set->n]);
}

struct cohort *cohort_set_add(struct cohort_set *set, const char *partner, const char *cohort_id) {
    struct cohort_key k;
    struct cohort *c = NULL;
    uint32_t idx;
    if (strlen(partner) >= COHORT_PARTNER_CAP || cohort_key(&k, partner, cohort_id) != 0)
        return NULL;
    if (strmap_get(&set->by_key, k.p, k.len, &idx))
        goto fail;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct cohort **v = realloc(set->v, cap * sizeof(void *));
        if (!v)
            goto fail;
        set->v = v;
        set->cap = cap;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    memcpy(c->partner, partner, strlen(partner) + 1);
    c->cohort_id = strdup(cohort_id);
    c->members = roaring_bitmap_create();
    if (!c->cohort_id || !c->members ||
        strmap_put_undo(&set->by_key, k.p, k.len, (uint32_t)set->n, set->undo) != 0) {
        cohort_free(c);
        c = NULL;
        goto fail;
    }
    set->v[set->n++] = c;
    undo_push(set->undo, add_undo, NULL, set, NULL, 0); /* failure: journal lost */
fail:
    cohort_key_done(&k);
    return c;
}

void cohort_set_drop_user(struct cohort_set *set, uint32_t uid) {
    for (size_t i = 0; i < set->n; i++)
        undo_bitmap_remove(set->undo, set->v[i]->members, uid);
}

/* ---- changes callers make to a cohort, each put back by a rollback ---- */

struct name_undo {
    char *name; /* the name before (owned by the entry) */
    int64_t created_at;
};

static void name_undo(void *obj, void *state) {
    struct cohort *c = obj;
    struct name_undo nu;
    memcpy(&nu, state, sizeof nu);
    free(c->name);
    c->name = nu.name;
    c->created_at = nu.created_at;
}

static void name_drop(void *obj, void *state) {
    (void)obj;
    struct name_undo nu;
    memcpy(&nu, state, sizeof nu);
    free(nu.name);
}

int cohort_set_name(struct cohort_set *set, struct cohort *c, const char *name,
                    int64_t created_at) {
    char *copy = strdup(name);
    if (!copy)
        return -1;
    struct name_undo nu = {c->name, c->created_at};
    if (set->undo) {
        if (undo_push(set->undo, name_undo, name_drop, c, &nu, sizeof nu) != 0) {
            free(copy);
            return -1;
        }
    } else {
        free(c->name);
    }
    c->name = copy;
    if (created_at < c->created_at)
        c->created_at = created_at;
    return 0;
}

struct fields_undo {
    int64_t id, created_at, changed_at, n_ids_received, n_ids_matched, n_ids_unmatched;
    int n_log;
};

static void fields_undo(void *obj, void *state) {
    struct cohort *c = obj;
    struct fields_undo fu;
    memcpy(&fu, state, sizeof fu);
    c->id = fu.id;
    c->created_at = fu.created_at;
    c->changed_at = fu.changed_at;
    c->n_ids_received = fu.n_ids_received;
    c->n_ids_matched = fu.n_ids_matched;
    c->n_ids_unmatched = fu.n_ids_unmatched;
    c->n_log = fu.n_log;
}

int cohort_touch(struct cohort_set *set, struct cohort *c) {
    struct fields_undo fu = {c->id,
                             c->created_at,
                             c->changed_at,
                             c->n_ids_received,
                             c->n_ids_matched,
                             c->n_ids_unmatched,
                             c->n_log};
    return undo_push(set->undo, fields_undo, NULL, c, &fu, sizeof fu);
}

struct members_undo {
    roaring_bitmap_t *adds, *removes; /* owned by the entry */
};

static void members_undo(void *obj, void *state) {
    struct cohort *c = obj;
    struct members_undo mu;
    memcpy(&mu, state, sizeof mu);
    roaring_bitmap_andnot_inplace(c->members, mu.adds);
    roaring_bitmap_or_inplace(c->members, mu.removes);
    roaring_bitmap_free(mu.adds);
    roaring_bitmap_free(mu.removes);
}

static void members_drop(void *obj, void *state) {
    (void)obj;
    struct members_undo mu;
    memcpy(&mu, state, sizeof mu);
    roaring_bitmap_free(mu.adds);
    roaring_bitmap_free(mu.removes);
}

int cohort_members_change(struct cohort_set *set, struct cohort *c, const roaring_bitmap_t *adds,
                          const roaring_bitmap_t *removes) {
    if (set->undo) {
        /* only the bits that change, so putting them back is exact */
        struct members_undo mu = {roaring_bitmap_andnot(adds, c->members),
                                  roaring_bitmap_and(removes, c->members)};
        if (!mu.adds || !mu.removes ||
            undo_push(set->undo, members_undo, members_drop, c, &mu, sizeof mu) != 0) {
            if (mu.adds)
                roaring_bitmap_free(mu.adds);
            if (mu.removes)
                roaring_bitmap_free(mu.removes);
            return -1;
        }
    }
    roaring_bitmap_or_inplace(c->members, adds);
    roaring_bitmap_andnot_inplace(c->members, removes);
    return 0;
}
