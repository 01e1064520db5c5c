/* undo.c — the undo journal of a workspace write (see undo.h). */
#include "core/index/undo.h"

#include <stdlib.h>
#include <string.h>

#define STATE_ALIGN 16

void undo_init(struct undo *u) {
    memset(u, 0, sizeof *u);
}

static void reset(struct undo *u) {
    u->n = 0;
    u->state_len = 0;
    u->lost = false;
}

void undo_free(struct undo *u) {
    undo_commit(u);
    free(u->v);
    free(u->state);
    undo_init(u);
}

int undo_push(struct undo *u, undo_fn undo, undo_fn drop, void *obj, const void *state,
              size_t state_len) {
    if (!u)
        return 0;
    size_t need = (state_len + STATE_ALIGN - 1) / STATE_ALIGN * STATE_ALIGN;
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 256;
        struct undo_entry *v = realloc(u->v, cap * sizeof *v);
        if (!v)
            goto fail;
        u->v = v;
        u->cap = cap;
    }
    if (u->state_len + need > u->state_cap) {
        size_t cap = u->state_cap ? u->state_cap : 4096;
        while (u->state_len + need > cap)
            cap *= 2;
        unsigned char *s = realloc(u->state, cap);
        if (!s)
            goto fail;
        u->state = s;
        u->state_cap = cap;
    }
    if (state_len)
        memcpy(u->state + u->state_len, state, state_len);
    u->v[u->n++] = (struct undo_entry){undo, drop, obj, u->state_len};
    u->state_len += need;
    return 0;
fail:
    u->lost = true;
    return -1;
}

void undo_rollback(struct undo *u) {
    for (size_t i = u->n; i-- > 0;) {
        struct undo_entry *e = &u->v[i];
        e->undo(e->obj, u->state + e->state_off);
    }
    reset(u);
}

void undo_commit(struct undo *u) {
    for (size_t i = 0; i < u->n; i++) {
        struct undo_entry *e = &u->v[i];
        if (e->drop)
            e->drop(e->obj, u->state + e->state_off);
    }
    reset(u);
}

static void bit_remove(void *obj, void *state) {
    uint32_t x;
    memcpy(&x, state, sizeof x);
    roaring_bitmap_remove(obj, x);
}

static void bit_add(void *obj, void *state) {
    uint32_t x;
    memcpy(&x, state, sizeof x);
    roaring_bitmap_add(obj, x);
}

int undo_bitmap_add(struct undo *u, roaring_bitmap_t *b, uint32_t x) {
    int rc = 0;
    if (u && !roaring_bitmap_contains(b, x))
        rc = undo_push(u, bit_remove, NULL, b, &x, sizeof x);
    roaring_bitmap_add(b, x);
    return rc;
}

int undo_bitmap_remove(struct undo *u, roaring_bitmap_t *b, uint32_t x) {
    int rc = 0;
    if (u && roaring_bitmap_contains(b, x))
        rc = undo_push(u, bit_add, NULL, b, &x, sizeof x);
    roaring_bitmap_remove(b, x);
    return rc;
}
