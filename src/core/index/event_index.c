/* event_index.c — per-user event summaries for segments (see event_index.h). */
#include "core/index/event_index.h"

#include <stdlib.h>
#include <string.h>

void event_index_init(struct event_index *ix) {
    memset(ix, 0, sizeof *ix);
    strmap_init(&ix->names);
}

void event_index_free(struct event_index *ix) {
    for (size_t i = 0; i < ix->n; i++) {
        roaring_bitmap_free(ix->cols[i].users);
        free(ix->cols[i].slots);
        free(ix->name_list[i]);
    }
    free(ix->cols);
    free(ix->name_list);
    strmap_free(&ix->names);
    memset(ix, 0, sizeof *ix);
}

static struct event_stat *slot_of(struct event_column *c, uint32_t uid, int create) {
    if (!c->cap)
        return NULL;
    size_t mask = c->cap - 1;
    for (size_t i = ((size_t)uid * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (c->slots[i].uid == uid)
            return &c->slots[i];
        if (c->slots[i].uid == 0) {
            if (!create)
                return NULL;
            c->slots[i].uid = uid;
            c->n++;
            return &c->slots[i];
        }
    }
}

/* ---- undo hooks (undo.h): each change under ix->undo records what it replaces ---- */

struct col_undo {
    size_t col;
    struct event_stat *slots; /* grow: the array before (owned by the entry) */
    size_t cap, n;
};

static void grow_undo(void *obj, void *state) {
    struct event_index *ix = obj;
    struct col_undo cu;
    memcpy(&cu, state, sizeof cu);
    struct event_column *c = &ix->cols[cu.col];
    free(c->slots);
    c->slots = cu.slots;
    c->cap = cu.cap;
    c->n = cu.n;
}

static void grow_drop(void *obj, void *state) {
    (void)obj;
    struct col_undo cu;
    memcpy(&cu, state, sizeof cu);
    free(cu.slots);
}

struct stat_undo {
    size_t col, slot, n;
    struct event_stat old;
};

static void stat_undo(void *obj, void *state) {
    struct event_index *ix = obj;
    struct stat_undo su;
    memcpy(&su, state, sizeof su);
    ix->cols[su.col].slots[su.slot] = su.old;
    ix->cols[su.col].n = su.n;
}

/* Records the slot of uid in column col (or the empty slot it would take). */
static int record_stat(struct event_index *ix, size_t col, uint32_t uid) {
    struct event_column *c = &ix->cols[col];
    if (!ix->undo || !c->cap)
        return 0;
    size_t mask = c->cap - 1, i = ((size_t)uid * 2654435761u) & mask;
    while (c->slots[i].uid != uid && c->slots[i].uid != 0)
        i = (i + 1) & mask;
    struct stat_undo su = {col, i, c->n, c->slots[i]};
    return undo_push(ix->undo, stat_undo, NULL, ix, &su, sizeof su);
}

static void column_undo(void *obj, void *state) {
    (void)state;
    struct event_index *ix = obj;
    ix->n--;
    roaring_bitmap_free(ix->cols[ix->n].users);
    free(ix->cols[ix->n].slots);
    free(ix->name_list[ix->n]);
}

static int grow(struct event_index *ix, struct event_column *c) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct event_column bigger = {c->users, calloc(cap, sizeof(struct event_stat)), cap, 0};
    if (!bigger.slots)
        return -1;
    struct col_undo cu = {(size_t)(c - ix->cols), c->slots, c->cap, c->n};
    if (ix->undo && undo_push(ix->undo, grow_undo, grow_drop, ix, &cu, sizeof cu) != 0) {
        free(bigger.slots);
        return -1;
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (c->slots[i].uid) {
            struct event_stat *s = slot_of(&bigger, c->slots[i].uid, 1);
            s->count = c->slots[i].count;
            s->last_at = c->slots[i].last_at;
        }
    }
    if (!ix->undo)
        free(c->slots);
    *c = bigger;
    return 0;
}

static struct event_column *column(struct event_index *ix, const char *name, int create) {
    uint32_t i;
    if (strmap_get(&ix->names, name, strlen(name), &i))
        return &ix->cols[i];
    if (!create)
        return NULL;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 16;
        struct event_column *cols = realloc(ix->cols, cap * sizeof *cols);
        char **names = cols ? realloc(ix->name_list, cap * sizeof(char *)) : NULL;
        if (cols)
            ix->cols = cols;
        if (!names)
            return NULL;
        ix->name_list = names;
        ix->cap = cap;
    }
    struct event_column *c = &ix->cols[ix->n];
    memset(c, 0, sizeof *c);
    c->users = roaring_bitmap_create();
    ix->name_list[ix->n] = strdup(name);
    if (!ix->name_list[ix->n] ||
        strmap_put_undo(&ix->names, name, strlen(name), (uint32_t)ix->n, ix->undo) != 0)
        return NULL;
    ix->n++;
    undo_push(ix->undo, column_undo, NULL, ix, NULL, 0); /* failure: journal lost */
    return c;
}

int event_index_bump(struct event_index *ix, const char *name, uint32_t uid, int64_t count,
                     int64_t at) {
    struct event_column *c = column(ix, name, 1);
    if (!c || ((c->n + 1) * 2 > c->cap && grow(ix, c) != 0) ||
        record_stat(ix, (size_t)(c - ix->cols), uid) != 0)
        return -1;
    struct event_stat *s = slot_of(c, uid, 1);
    if (s->count == 0 || at > s->last_at)
        s->last_at = at;
    s->count += (uint32_t)count;
    return undo_bitmap_add(ix->undo, c->users, uid);
}

void event_index_drop_user(struct event_index *ix, uint32_t uid) {
    for (size_t i = 0; i < ix->n; i++) {
        struct event_stat *s = slot_of(&ix->cols[i], uid, 0);
        if (s) {
            record_stat(ix, i, uid); /* failure: journal lost */
            s->count = 0;
        }
        undo_bitmap_remove(ix->undo, ix->cols[i].users, uid);
    }
}

int event_index_merge(struct event_index *ix, uint32_t from, uint32_t to) {
    for (size_t i = 0; i < ix->n; i++) {
        struct event_stat *s = slot_of(&ix->cols[i], from, 0);
        if (!s || !s->count)
            continue;
        uint32_t count = s->count;
        int64_t last = s->last_at;
        if (record_stat(ix, i, from) != 0)
            return -1;
        s->count = 0;
        undo_bitmap_remove(ix->undo, ix->cols[i].users, from);
        if (event_index_bump(ix, ix->name_list[i], to, count, last) != 0)
            return -1;
    }
    return 0;
}

roaring_bitmap_t *event_index_performed(const struct event_index *ix, const char *name,
                                        int64_t min_count, int64_t since_ms) {
    struct event_column *c = column((struct event_index *)ix, name, 0);
    if (!c)
        return roaring_bitmap_create();
    if (min_count <= 1 && since_ms <= 0)
        return roaring_bitmap_copy(c->users);
    roaring_bitmap_t *out = roaring_bitmap_create();
    for (size_t i = 0; i < c->cap; i++) {
        const struct event_stat *s = &c->slots[i];
        if (s->uid && s->count && (int64_t)s->count >= min_count && s->last_at >= since_ms)
            roaring_bitmap_add(out, s->uid);
    }
    return out;
}
