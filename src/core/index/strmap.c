/*
 * strmap.c — the string → uint32 hash map of strmap.h (linear probing, arena-held keys).
 * A key's home slot is (hash × cap) >> 32, so the table may have any size, and slot order is
 * hash order (which strmap_place uses to fill the table sequentially).
 * Under an undo journal every slot write records the slot's bytes and the counters before it,
 * and a grow keeps the old slot array until the journal drops it, so a rollback restores the
 * map byte for byte without allocating.
 */
#include "core/index/strmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The largest arena: a key reference (offset + 1) stays below STRMAP_TOMB. */
#define ARENA_MAX ((size_t)UINT32_MAX - 1)
/* Tables at least this big ask for huge pages: a lookup misses the TLB less often. */
#define HUGE_TABLE ((size_t)4 << 20)

uint32_t strmap_hash(const char *key, size_t key_len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < key_len; i++) {
        h ^= (uint8_t)key[i];
        h *= 16777619u;
    }
    /* finaliser: spread the bits (the high ones pick the slot) */
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    return h;
}

static size_t home(uint32_t h, size_t cap) {
    return (size_t)(((uint64_t)h * (uint64_t)cap) >> 32);
}

/* The key a reference points at; *len gets its length. */
static const char *key_at(const struct strmap *m, uint32_t ref, size_t *len) {
    const uint8_t *p = (const uint8_t *)m->arena + ref - 1;
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t b = *p++;
        n |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    *len = n;
    return (const char *)p;
}

/* A zeroed table of cap slots, or NULL. */
static struct strmap_slot *table_new(size_t cap) {
    struct strmap_slot *slots = calloc(cap, sizeof *slots);
    size_t bytes = cap * sizeof *slots;
    if (slots && bytes >= HUGE_TABLE) {
        /* only the whole pages inside the allocation */
        uintptr_t b = ((uintptr_t)slots + 4095) & ~(uintptr_t)4095;
        uintptr_t e = ((uintptr_t)slots + bytes) & ~(uintptr_t)4095;
        if (e > b)
            madvise((void *)b, e - b, MADV_HUGEPAGE); /* a hint: failure changes nothing */
    }
    return slots;
}

void strmap_init(struct strmap *m) {
    memset(m, 0, sizeof *m);
}

void strmap_free(struct strmap *m) {
    free(m->slots);
    free(m->arena);
    free(m->deferred);
    strmap_init(m);
}

static bool slot_matches(const struct strmap *m, const struct strmap_slot *sl, uint32_t h,
                         const char *key, size_t key_len) {
    if (sl->hash != h || !strmap_slot_live(sl))
        return false;
    size_t len;
    const char *k = key_at(m, sl->key_ref, &len);
    return len == key_len && memcmp(k, key, key_len) == 0;
}

/* Index of the live slot holding key, or -1. */
static long find(const struct strmap *m, const char *key, size_t key_len, uint32_t h) {
    if (!m->cap)
        return -1;
    for (size_t i = home(h, m->cap);; i = i + 1 == m->cap ? 0 : i + 1) {
        const struct strmap_slot *sl = &m->slots[i];
        if (sl->key_ref == STRMAP_EMPTY)
            return -1;
        if (slot_matches(m, sl, h, key, key_len))
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
    size_t i = home(src->hash, cap);
    while (slots[i].key_ref != STRMAP_EMPTY)
        i = i + 1 == cap ? 0 : i + 1;
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

/* Rebuilds the table without tombstones, at a load of at most 1/2. */
static int grow(struct strmap *m, struct undo *u) {
    size_t cap = m->cap ? m->cap : 16;
    while ((m->n_used + 1) * 2 > cap)
        cap *= 2;
    if (cap > (size_t)UINT32_MAX)
        return -1;
    struct strmap_slot *slots = table_new(cap);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (strmap_slot_live(&m->slots[i]))
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

/* Room in the arena for one more key of key_len bytes and its length; 0 or -1. */
static int arena_room(struct strmap *m, size_t key_len) {
    size_t need = m->arena_len + key_len + 5;
    if (key_len > ARENA_MAX || need > ARENA_MAX)
        return -1;
    if (need <= m->arena_cap)
        return 0;
    size_t cap = m->arena_cap ? m->arena_cap : 4096;
    while (need > cap)
        cap *= 2;
    if (cap > ARENA_MAX)
        cap = ARENA_MAX;
    char *arena = realloc(m->arena, cap);
    if (!arena)
        return -1;
    m->arena = arena;
    m->arena_cap = cap;
    return 0;
}

/* Appends the key (after arena_room) and returns its reference; arena_len moves on. */
static uint32_t arena_append(struct strmap *m, const char *key, size_t key_len) {
    uint32_t ref = (uint32_t)m->arena_len + 1;
    uint8_t *p = (uint8_t *)m->arena + m->arena_len;
    size_t n = key_len;
    do {
        uint8_t b = (uint8_t)(n & 0x7f);
        n >>= 7;
        *p++ = (uint8_t)(b | (n ? 0x80 : 0));
    } while (n);
    memcpy(p, key, key_len);
    m->arena_len = (size_t)((char *)p - m->arena) + key_len;
    return ref;
}

int strmap_put_undo(struct strmap *m, const char *key, size_t key_len, uint32_t value,
                    struct undo *u) {
    if (key_len == 0 || key_len > ARENA_MAX)
        return -1;
    uint32_t h = strmap_hash(key, key_len);
    long at = find(m, key, key_len, h);
    if (at >= 0) {
        if (m->slots[at].value != value && u && record_slot(m, u, (size_t)at) != 0)
            return -1;
        m->slots[at].value = value;
        return 0;
    }
    if ((m->n_used + m->n_tomb + 1) * 4 > m->cap * 3 && grow(m, u) != 0)
        return -1;
    if (arena_room(m, key_len) != 0)
        return -1;
    size_t i = home(h, m->cap);
    while (strmap_slot_live(&m->slots[i]))
        i = i + 1 == m->cap ? 0 : i + 1;
    if (u && record_slot(m, u, i) != 0)
        return -1;
    struct strmap_slot sl = {h, value, arena_append(m, key, key_len)};
    if (m->slots[i].key_ref == STRMAP_TOMB)
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
    m->slots[i].key_ref = STRMAP_TOMB;
    m->n_used--;
    m->n_tomb++;
    return recorded == 0 ? 1 : -1;
}

void strmap_prefetch(const struct strmap *m, const char *key, size_t key_len, int stage) {
    if (!m->cap)
        return;
    uint32_t h = strmap_hash(key, key_len);
    const struct strmap_slot *sl = &m->slots[home(h, m->cap)];
    if (stage == 0)
        __builtin_prefetch(sl);
    else if (sl->hash == h && strmap_slot_live(sl))
        __builtin_prefetch(m->arena + sl->key_ref - 1);
}

int strmap_defer(struct strmap *m, const char *key, size_t key_len, uint32_t value) {
    if (key_len == 0 || key_len > ARENA_MAX)
        return -1;
    if (m->n_deferred == m->deferred_cap) {
        size_t cap = m->deferred_cap ? m->deferred_cap * 2 : 1024;
        struct strmap_slot *d = realloc(m->deferred, cap * sizeof *d);
        if (!d)
            return -1;
        m->deferred = d;
        m->deferred_cap = cap;
    }
    if (m->n_used + m->n_deferred >= (size_t)UINT32_MAX / 2 || arena_room(m, key_len) != 0)
        return -1;
    m->deferred[m->n_deferred++] =
        (struct strmap_slot){strmap_hash(key, key_len), value, arena_append(m, key, key_len)};
    return 0;
}

/* Puts e into a table without tombstones, replacing the value of an equal key already there;
 * returns whether it took a new slot. The keys are read only when the hashes are equal (the
 * entries come in hash order, not arena order: reading every key would miss the cache). */
static bool place_or_replace(const struct strmap *m, struct strmap_slot *slots, size_t cap,
                             const struct strmap_slot *e) {
    size_t i = home(e->hash, cap);
    while (slots[i].key_ref != STRMAP_EMPTY) {
        if (slots[i].hash == e->hash) {
            size_t len, have_len;
            const char *key = key_at(m, e->key_ref, &len);
            const char *have = key_at(m, slots[i].key_ref, &have_len);
            if (len == have_len && memcmp(key, have, len) == 0) {
                slots[i].value = e->value;
                return false;
            }
        }
        i = i + 1 == cap ? 0 : i + 1;
    }
    slots[i] = *e;
    return true;
}

#define PLACE_BUCKETS 65536 /* by the top 16 bits of the hash */

int strmap_place(struct strmap *m) {
    if (!m->n_deferred)
        return 0;
    size_t total = m->n_used + m->n_deferred;
    size_t cap = total + total * 3 / 7 + 16; /* a load of about 0.7 */
    if (cap > (size_t)UINT32_MAX)
        return -1;
    struct strmap_slot *slots = table_new(cap);
    struct strmap_slot *sorted = malloc(m->n_deferred * sizeof *sorted);
    uint32_t *start = calloc(PLACE_BUCKETS + 1, sizeof *start);
    if (!slots || !sorted || !start) {
        free(slots);
        free(sorted);
        free(start);
        return -1;
    }
    /* a stable counting sort by the top bits: slot order, and a key deferred twice keeps its
     * order, so the last value wins */
    for (size_t i = 0; i < m->n_deferred; i++)
        start[(m->deferred[i].hash >> 16) + 1]++;
    for (size_t b = 0; b < PLACE_BUCKETS; b++)
        start[b + 1] += start[b];
    for (size_t i = 0; i < m->n_deferred; i++)
        sorted[start[m->deferred[i].hash >> 16]++] = m->deferred[i];
    free(start);
    size_t used = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (strmap_slot_live(&m->slots[i]))
            used += place_or_replace(m, slots, cap, &m->slots[i]);
    for (size_t i = 0; i < m->n_deferred; i++)
        used += place_or_replace(m, slots, cap, &sorted[i]);
    free(sorted);
    free(m->slots);
    free(m->deferred);
    m->slots = slots;
    m->cap = cap;
    m->n_used = used;
    m->n_tomb = 0;
    m->deferred = NULL;
    m->n_deferred = m->deferred_cap = 0;
    /* the arena grew by doubling; give back what no key uses */
    char *arena = realloc(m->arena, m->arena_len + 5);
    if (arena) {
        m->arena = arena;
        m->arena_cap = m->arena_len + 5;
    }
    return 0;
}

bool strmap_slot_entry(const struct strmap *m, size_t i, const char **key, size_t *key_len,
                       uint32_t *value) {
    const struct strmap_slot *sl = &m->slots[i];
    if (!strmap_slot_live(sl))
        return false;
    *key = key_at(m, sl->key_ref, key_len);
    *value = sl->value;
    return true;
}

size_t strmap_bytes(const struct strmap *m) {
    return m->cap * sizeof(struct strmap_slot) + m->arena_len +
           m->deferred_cap * sizeof(struct strmap_slot);
}

size_t strmap_del_if(struct strmap *m,
                     bool (*drop)(void *ctx, const char *key, size_t key_len, uint32_t value),
                     void *ctx) {
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_slot *sl = &m->slots[i];
        if (!strmap_slot_live(sl))
            continue;
        size_t len;
        const char *key = key_at(m, sl->key_ref, &len);
        if (!drop(ctx, key, len, sl->value))
            continue;
        sl->key_ref = STRMAP_TOMB;
        m->n_used--;
        m->n_tomb++;
        n++;
    }
    return n;
}

void strmap_each(const struct strmap *m,
                 void (*fn)(void *ctx, uint32_t key_off, uint32_t key_len, uint32_t value),
                 void *ctx) {
    for (size_t i = 0; i < m->cap; i++) {
        const struct strmap_slot *sl = &m->slots[i];
        if (!strmap_slot_live(sl))
            continue;
        size_t len;
        const char *key = key_at(m, sl->key_ref, &len);
        fn(ctx, (uint32_t)(key - m->arena), (uint32_t)len, sl->value);
    }
}
