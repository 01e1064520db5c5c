/*
 * strmap.c — the string → uint32 hash map of strmap.h (linear probing, arena-held keys).
 * Under an undo journal every slot write records the slot's bytes and the counters before it,
 * and a grow keeps the old slot array until the journal drops it, so a rollback restores the
 * map byte for byte without allocating.
 */
#include "core/index/strmap.h"

#include <stdlib.h>
#include <string.h>

#define TOMB UINT32_MAX

uint32_t strmap_hash(const char *key, size_t key_len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < key_len; i++) {
        h ^= (uint8_t)key[i];
        h *= 16777619u;
    }
    /* finaliser: spread the low bits, which pick the slot */
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    return h;
}

void strmap_init(struct strmap *m) {
    memset(m, 0, sizeof *m);
}

void strmap_free(struct strmap *m) {
    free(m->slots);
    free(m->arena);
    strmap_init(m);
}

static bool slot_matches(const struct strmap *m, const struct strmap_slot *sl, uint32_t h,
                         const char *key, size_t key_len) {
    return sl->hash == h && sl->key_len == key_len &&
           memcmp(m->arena + sl->key_off, key, key_len) == 0;
}

/* Index of the live slot holding key, or -1. */
static long find(const struct strmap *m, const char *key, size_t key_len, uint32_t h) {
    if (!m->cap)
        return -1;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct strmap_slot *sl = &m->slots[i];
        if (sl->key_len == 0)
            return -1;
        if (sl->key_len != TOMB && slot_matches(m, sl, h, key, key_len))
            return (long)i;
    }
}

bool strmap_get(const struct strmap *m, const char *key, size_t key_len, uint32_t *value) {
    long i = find(m, key, key_len, strmap_hash(key, key_len));
    if (i < 0)
        return false;
    *value = m->slots[i].value;
    return true;
}

static void place(struct strmap_slot *slots, size_t cap, const struct strmap_slot *src) {
    size_t mask = cap - 1;
    size_t i = src->hash & mask;
    while (slots[i].key_len != 0)
        i = (i + 1) & mask;
    slots[i] = *src;
}

struct slot_undo {
    size_t idx;
    struct strmap_slot old;
    size_t n_used, n_tomb, arena_len;
};

static void slot_undo(void *obj, void *state) {
    struct strmap *m = obj;
    struct slot_undo su;
    memcpy(&su, state, sizeof su);
    m->slots[su.idx] = su.old;
    m->n_used = su.n_used;
    m->n_tomb = su.n_tomb;
    m->arena_len = su.arena_len;
}

/* Records slot idx as it is now; returns 0 or -1. */
static int record_slot(struct strmap *m, struct undo *u, size_t idx) {
    struct slot_undo su = {idx, m->slots[idx], m->n_used, m->n_tomb, m->arena_len};
    return undo_push(u, slot_undo, NULL, m, &su, sizeof su);
}

struct grow_undo {
    struct strmap_slot *slots;
    size_t cap, n_tomb;
};

static void grow_undo(void *obj, void *state) {
    struct strmap *m = obj;
    struct grow_undo gu;
    memcpy(&gu, state, sizeof gu);
    free(m->slots);
    m->slots = gu.slots;
    m->cap = gu.cap;
    m->n_tomb = gu.n_tomb;
}

static void grow_drop(void *obj, void *state) {
    (void)obj;
    struct grow_undo gu;
    memcpy(&gu, state, sizeof gu);
    free(gu.slots);
}

static int grow(struct strmap *m, struct undo *u) {
    size_t cap = m->cap ? m->cap : 16;
    while ((m->n_used + 1) * 2 > cap)
        cap *= 2;
    struct strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key_len != 0 && m->slots[i].key_len != TOMB)
            place(slots, cap, &m->slots[i]);
    struct grow_undo gu = {m->slots, m->cap, m->n_tomb};
    if (u && undo_push(u, grow_undo, grow_drop, m, &gu, sizeof gu) != 0) {
        free(slots);
        return -1;
    }
    if (!u)
        free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->n_tomb = 0;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t key_len, uint32_t value) {
    return strmap_put_undo(m, key, key_len, value, NULL);
}

int strmap_put_undo(struct strmap *m, const char *key, size_t key_len, uint32_t value,
                    struct undo *u) {
    if (key_len == 0 || key_len >= TOMB)
        return -1;
    uint32_t h = strmap_hash(key, key_len);
    long at = find(m, key, key_len, h);
    if (at >= 0) {
        if (m->slots[at].value != value && u && record_slot(m, u, (size_t)at) != 0)
            return -1;
        m->slots[at].value = value;
        return 0;
    }
    if ((m->n_used + m->n_tomb + 1) * 2 > m->cap && grow(m, u) != 0)
        return -1;
    if (m->arena_len + key_len > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (m->arena_len + key_len > cap)
            cap *= 2;
        if (cap > UINT32_MAX)
            return -1;
        char *arena = realloc(m->arena, cap);
        if (!arena)
            return -1;
        m->arena = arena;
        m->arena_cap = cap;
    }
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key_len != 0 && m->slots[i].key_len != TOMB)
        i = (i + 1) & mask;
    if (u && record_slot(m, u, i) != 0)
        return -1;
    memcpy(m->arena + m->arena_len, key, key_len);
    struct strmap_slot sl = {h, value, (uint32_t)m->arena_len, (uint32_t)key_len};
    m->arena_len += key_len;
    if (m->slots[i].key_len == TOMB)
        m->n_tomb--;
    m->slots[i] = sl;
    m->n_used++;
    return 0;
}

bool strmap_del(struct strmap *m, const char *key, size_t key_len) {
    return strmap_del_undo(m, key, key_len, NULL) == 1;
}

int strmap_del_undo(struct strmap *m, const char *key, size_t key_len, struct undo *u) {
    long i = find(m, key, key_len, strmap_hash(key, key_len));
    if (i < 0)
        return 0;
    /* a change that cannot be recorded is still made: the lost journal makes a rollback
     * rebuild memory, and a commit needs the change */
    int recorded = u ? record_slot(m, u, (size_t)i) : 0;
    m->slots[i].key_len = TOMB;
    m->n_used--;
    m->n_tomb++;
    return recorded == 0 ? 1 : -1;
}

void strmap_prefetch(const struct strmap *m, const char *key, size_t key_len, int stage) {
    if (!m->cap)
        return;
    uint32_t h = strmap_hash(key, key_len);
    const struct strmap_slot *sl = &m->slots[h & (m->cap - 1)];
    if (stage == 0)
        __builtin_prefetch(sl);
    else if (sl->hash == h && sl->key_len == key_len)
        __builtin_prefetch(m->arena + sl->key_off);
}

void strmap_each(const struct strmap *m,
                 void (*fn)(void *ctx, uint32_t key_off, uint32_t key_len, uint32_t value),
                 void *ctx) {
    for (size_t i = 0; i < m->cap; i++) {
        const struct strmap_slot *sl = &m->slots[i];
        if (sl->key_len != 0 && sl->key_len != TOMB)
            fn(ctx, sl->key_off, sl->key_len, sl->value);
    }
}
