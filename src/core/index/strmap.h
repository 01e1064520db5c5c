/*
 * strmap.h — an open-addressing hash map from byte strings to uint32 values, built for the
 * identity indexes (external ids, aliases, device ids → user ids) at millions of keys.
 *
 * Memory: a slot is 16 bytes (hash, value, key offset, key length) at a load factor of at
 * most 1/2, plus the key bytes once in an append-only arena: ~32 bytes + key per entry.
 * Lookups compare the 32-bit hash before touching the arena, so a miss rarely costs a second
 * cache line. Removed keys leave tombstones; arena bytes of removed keys are reclaimed only by
 * a rebuild. Not thread-safe: the owner locks.
 */
#ifndef COHORTD_CORE_INDEX_STRMAP_H
#define COHORTD_CORE_INDEX_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/index/undo.h"

struct strmap_slot {
    uint32_t hash;
    uint32_t value;
    uint32_t key_off;
    uint32_t key_len; /* 0 = empty slot, UINT32_MAX = tombstone */
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap;    /* power of two */
    size_t n_used; /* live entries */
    size_t n_tomb;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m);

/* Finds key; returns true and sets *value when present. */
bool strmap_get(const struct strmap *m, const char *key, size_t key_len, uint32_t *value);

/* Inserts or replaces. Returns 0, or -1 when memory ran out (map unchanged). */
int strmap_put(struct strmap *m, const char *key, size_t key_len, uint32_t value);

/* Removes key if present; returns whether it was. */
bool strmap_del(struct strmap *m, const char *key, size_t key_len);

/* strmap_put / strmap_del that record their change in u (undo.h; NULL records nothing).
 * put: 0, or -1 when memory ran out (map unchanged). del: 1 removed, 0 absent, -1 removed but
 * the change could not be recorded (the journal is marked lost). */
int strmap_put_undo(struct strmap *m, const char *key, size_t key_len, uint32_t value,
                    struct undo *u);
int strmap_del_undo(struct strmap *m, const char *key, size_t key_len, struct undo *u);

/*
 * Prefetches what a later strmap_get of key will touch: stage 0 its first slot, stage 1 (once
 * that slot is cached) the key bytes in the arena. Looking up a batch of keys stage by stage
 * lets the memory accesses of many keys overlap instead of waiting one by one.
 */
void strmap_prefetch(const struct strmap *m, const char *key, size_t key_len, int stage);

/* Calls fn for every entry: where its key is (strmap_key(m, key_off)), its length and value.
 * Offsets stay valid until the map next changes. Linear in the slots. */
void strmap_each(const struct strmap *m,
                 void (*fn)(void *ctx, uint32_t key_off, uint32_t key_len, uint32_t value),
                 void *ctx);
/* The key bytes at key_off (not NUL-terminated; see strmap_each). */
static inline const char *strmap_key(const struct strmap *m, uint32_t key_off) {
    return m->arena + key_off;
}

/* The hash strmap uses (FNV-1a, 32 bit); exposed for tests. */
uint32_t strmap_hash(const char *key, size_t key_len);

#endif
