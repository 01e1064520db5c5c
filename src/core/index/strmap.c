/* strmap.c — the string → uint32 hash map of strmap.h (linear probing, arena-held keys). */
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

static int grow(struct strmap *m) {
    size_t cap = m->cap ? m->cap : 16;
    while ((m->n_used + 1) * 2 > cap)
        cap *= 2;
    struct strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key_len != 0 && m->slots[i].key_len != TOMB)
            place(slots, cap, &m->slots[i]);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->n_tomb = 0;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t key_len, uint32_t value) {
    if (key_len == 0 || key_len >= TOMB)
        return -1;
    uint32_t h = strmap_hash(key, key_len);
    long at = find(m, key, key_len, h);
    if (at >= 0) {
        m->slots[at].value = value;
        return 0;
    }
    if ((m->n_used + m->n_tomb + 1) * 2 > m->cap && grow(m) != 0)
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
    memcpy(m->arena + m->arena_len, key, key_len);
    struct strmap_slot sl = {h, value, (uint32_t)m->arena_len, (uint32_t)key_len};
    m->arena_len += key_len;
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key_len != 0 && m->slots[i].key_len != TOMB)
        i = (i + 1) & mask;
    if (m->slots[i].key_len == TOMB)
        m->n_tomb--;
    m->slots[i] = sl;
    m->n_used++;
    return 0;
}

bool strmap_del(struct strmap *m, const char *key, size_t key_len) {
    long i = find(m, key, key_len, strmap_hash(key, key_len));
    if (i < 0)
        return false;
    m->slots[i].key_len = TOMB;
    m->n_used--;
    m->n_tomb++;
    return true;
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
