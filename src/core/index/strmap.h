/*
 * strmap.h — an open-addressing hash map from byte strings to uint32 values, built for the
 * identity indexes (external ids, aliases, device ids → user ids) at millions of keys.
 *
 * Memory: a slot is 12 bytes (hash, value, key reference); the table has any size (a slot is
 * picked by multiplying the hash by the size, not by masking), filled to at most 3/4 while
 * keys are put one by one and to about 0.7 when built in bulk (strmap_defer + strmap_place),
 * plus each key once in an append-only arena behind a one- to five-byte length: ~17 bytes +
 * key per entry when built in bulk. Lookups compare the 32-bit hash before touching the
 * arena, so a miss rarely costs a second cache line. Removed keys leave tombstones; arena
 * bytes of removed keys are reclaimed only by a rebuild. Not thread-safe: the owner locks.
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
    uint32_t key_ref; /* STRMAP_EMPTY, STRMAP_TOMB, or 1 + the key's offset in the arena */
};

#define STRMAP_EMPTY 0u
#define STRMAP_TOMB UINT32_MAX

/* Whether a slot holds an entry (neither empty nor a tombstone). */
static inline bool strmap_slot_live(const struct strmap_slot *sl) {
    return sl->key_ref != STRMAP_EMPTY && sl->key_ref != STRMAP_TOMB;
}

struct strmap {
    struct strmap_slot *slots;
    size_t cap;    /* slots (0 or at least 16) */
    size_t n_used; /* live entries */
    size_t n_tomb;
    char *arena; /* each key: its length (LEB128, 1-5 bytes), then its bytes */
    size_t arena_len;
    size_t arena_cap;
    /* entries added by strmap_defer, not yet in the table (strmap_place puts them there) */
    struct strmap_slot *deferred;
    size_t n_deferred, deferred_cap;
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
 * Bulk building (a start-up load): strmap_defer appends the key to the arena and the entry to
 * a list, touching no slot; strmap_place then sizes the table for every entry (load about
 * 0.7), and fills it in hash order, which is slot order, so the fill streams through memory
 * instead of missing the cache once per key. Between the two the deferred keys are not
 * found, and put / del must not be called. A key deferred twice keeps its last value (as
 * put would). Both return 0, or -1 when memory ran out (place leaves the map as it was, the
 * entries still deferred). No journal: only for a map nobody reads yet.
 */
int strmap_defer(struct strmap *m, const char *key, size_t key_len, uint32_t value);
int strmap_place(struct strmap *m);

/* Removes every entry for which drop(ctx, key, key_len, value) is true (tombstones, as
 * strmap_del; no journal: for a map nobody reads yet). Linear in the slots; drop must not
 * change the map. Returns the number removed. */
size_t strmap_del_if(struct strmap *m,
                     bool (*drop)(void *ctx, const char *key, size_t key_len, uint32_t value),
                     void *ctx);

/* Slot i of the table (i < m->cap): true and its key and value when it holds an entry. For a
 * caller that kept slot numbers (the segment export); to visit every entry use strmap_each. */
bool strmap_slot_entry(const struct strmap *m, size_t i, const char **key, size_t *key_len,
                       uint32_t *value);

/* For a walk of the table by slot number from the slots alone, no key read (the segment
 * export): how many slots there are (every slot number is below it); whether slot i holds an
 * entry, *value getting the slot's value either way (meaningful for an entry only, a hint
 * otherwise); a prefetch hint for slot i. Inline, as such a walk visits every slot. */
static inline size_t strmap_n_slots(const struct strmap *m) {
    return m->cap;
}
static inline bool strmap_slot_value(const struct strmap *m, size_t i, uint32_t *value) {
    *value = m->slots[i].value;
    return strmap_slot_live(&m->slots[i]);
}
static inline void strmap_slot_prefetch(const struct strmap *m, size_t i) {
    __builtin_prefetch(&m->slots[i]);
}

/* Bytes the map holds: its table and the used part of its arena. */
size_t strmap_bytes(const struct strmap *m);

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
