/*
 * event_index.c — per-user event summaries for segments (see event_index.h).
 *
 * Undo: while a write's journal is open, every change of a (column, user) first records the
 * user's summary as it was (count, last time, kept times, bitmap membership); a rollback
 * writes it back, newest record first. Blocks freed during the write return to the pool's
 * free lists, so putting an older block back takes one from there instead of growing the pool.
 * A column created by a failed write stays, empty (no user is in it): it answers no segment.
 */
#include "core/index/event_index.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"

static const uint8_t block_sizes[EVENT_POOL_CLASSES] = {2, 4, 8, 16, 32, EVENT_RECENT_MAX};

static int block_class(uint8_t cap) {
    int k = 0;
    while (k < EVENT_POOL_CLASSES - 1 && block_sizes[k] != cap)
        k++;
    return k;
}

/* A block of class k in c's pool; its offset in *off. Returns 0 or -1. */
static int block_alloc(struct event_column *c, int k, uint32_t *off) {
    if (c->free_head[k]) {
        *off = c->free_head[k] - 1;
        c->free_head[k] = (uint32_t)c->pool[*off];
        return 0;
    }
    size_t n = block_sizes[k];
    if (c->pool_len + n > c->pool_cap) {
        size_t cap = c->pool_cap ? c->pool_cap * 2 : 256;
        while (cap < c->pool_len + n) /* a pool loaded at its exact size (snapshot.c) */
            cap *= 2;
        if (cap >= UINT32_MAX)
            return -1;
        int64_t *p = realloc(c->pool, cap * sizeof *p);
        if (!p)
            return -1;
        c->pool = p;
        c->pool_cap = cap;
    }
    *off = (uint32_t)c->pool_len;
    c->pool_len += n;
    return 0;
}

static void block_free(struct event_column *c, struct event_stat *s) {
    if (!s->recent_cap)
        return;
    int k = block_class(s->recent_cap);
    c->pool[s->recent] = c->free_head[k];
    c->free_head[k] = s->recent + 1;
    s->recent_cap = 0;
}

void event_index_init(struct event_index *ix) {
    memset(ix, 0, sizeof *ix);
    strmap_init(&ix->names);
}

static void days_free(struct event_column *c) {
    for (uint32_t d = 0; d < c->n_days; d++)
        if (c->days[d]) /* this CRoaring's free does not take NULL */
            roaring_bitmap_free(c->days[d]);
    free(c->days);
    c->days = NULL;
    c->n_days = c->day_lo = 0;
    c->days_stale = false;
}

void event_index_free(struct event_index *ix) {
    for (size_t i = 0; i < ix->n; i++) {
        days_free(&ix->cols[i]);
        roaring_bitmap_free(ix->cols[i].users);
        free(ix->cols[i].slots);
        free(ix->cols[i].pool);
        free(ix->name_list[i]);
    }
    free(ix->cols);
    free(ix->name_list);
    strmap_free(&ix->names);
    memset(ix, 0, sizeof *ix);
}

size_t event_index_bytes(const struct event_index *ix) {
    size_t n = strmap_bytes(&ix->names) + ix->cap * (sizeof *ix->cols + sizeof *ix->name_list);
    for (size_t i = 0; i < ix->n; i++) {
        const struct event_column *c = &ix->cols[i];
        n += bitmap_mem_bytes(c->users) + c->cap * sizeof *c->slots + c->pool_cap * sizeof *c->pool;
        n += c->n_days * sizeof(void *);
        for (uint32_t d = 0; d < c->n_days; d++)
            n += c->days[d] ? bitmap_mem_bytes(c->days[d]) : 0;
    }
    return n;
}

/* Where uid's slot search starts. */
static size_t slot_home(const struct event_column *c, uint32_t uid) {
    return ((size_t)uid * 2654435761u) & (c->cap - 1);
}

/* uid's slot, or the empty one where it would go (c->cap > 0). */
static size_t slot_probe(const struct event_column *c, uint32_t uid) {
    size_t i = slot_home(c, uid);
    while (c->slots[i].uid != uid && c->slots[i].uid != 0)
        i = (i + 1) & (c->cap - 1);
    return i;
}

/* uid's summary, or NULL. */
static const struct event_stat *slot_find(const struct event_column *c, uint32_t uid) {
    if (!c->cap)
        return NULL;
    const struct event_stat *s = &c->slots[slot_probe(c, uid)];
    return s->uid == uid ? s : NULL;
}

static struct event_stat *slot_of(struct event_column *c, uint32_t uid, int create) {
    if (!c->cap)
        return NULL;
    struct event_stat *s = &c->slots[slot_probe(c, uid)];
    if (s->uid == uid)
        return s;
    if (!create)
        return NULL;
    s->uid = uid;
    c->n++;
    return s;
}

/* The day index (event_index.h): the day of a time, held to [0, EVENT_DAY_LIMIT). */
static uint32_t day_of(int64_t ms) {
    if (ms < 0)
        return 0;
    int64_t d = ms / 86400000;
    return d >= EVENT_DAY_LIMIT ? EVENT_DAY_LIMIT - 1 : (uint32_t)d;
}

/* Day d's bitmap; made (with the room for it) when create. NULL when there is none, or no
 * memory for it. */
static roaring_bitmap_t *day_bitmap(struct event_column *c, uint32_t d, bool create) {
    bool inside = c->n_days && d >= c->day_lo && d - c->day_lo < c->n_days;
    if (inside && c->days[d - c->day_lo])
        return c->days[d - c->day_lo];
    if (!create)
        return NULL;
    if (!inside) {
        uint32_t lo = c->n_days && c->day_lo < d ? c->day_lo : d;
        uint32_t top = c->n_days ? c->day_lo + c->n_days - 1 : d;
        uint32_t hi = top > d ? top : d;
        roaring_bitmap_t **v = calloc((size_t)(hi - lo) + 1, sizeof(void *));
        if (!v)
            return NULL;
        if (c->n_days)
            memcpy(v + (c->day_lo - lo), c->days, c->n_days * sizeof(void *));
        free(c->days);
        c->days = v;
        c->day_lo = lo;
        c->n_days = hi - lo + 1;
    }
    roaring_bitmap_t **b = &c->days[d - c->day_lo];
    *b = roaring_bitmap_create();
    return *b;
}

/* Keeps the day index true for uid, whose summary went from (had a count, last at was) to s
 * (NULL: none). */
static void day_moved(struct event_column *c, uint32_t uid, bool had, int64_t was,
                      const struct event_stat *s) {
    bool has = s && s->count;
    uint32_t from = day_of(was), to = has ? day_of(s->last_at) : 0;
    if (had == has && (!had || from == to))
        return;
    roaring_bitmap_t *b = had ? day_bitmap(c, from, false) : NULL;
    if (b)
        roaring_bitmap_remove(b, uid);
    b = has ? day_bitmap(c, to, true) : NULL;
    if (b)
        roaring_bitmap_add(b, uid);
    else if (has)
        c->days_stale = true;
}

static int grow(struct event_column *c) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct event_stat *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    struct event_column bigger = *c;
    bigger.slots = slots;
    bigger.cap = cap;
    bigger.n = 0;
    for (size_t i = 0; i < c->cap; i++) {
        if (c->slots[i].uid) {
            struct event_stat *s = slot_of(&bigger, c->slots[i].uid, 1);
            *s = c->slots[i];
        }
    }
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
    if (!ix->name_list[ix->n] || strmap_put(&ix->names, name, strlen(name), (uint32_t)ix->n) != 0)
        return NULL;
    ix->n++;
    return c;
}

/* The i-th most recent kept time (i < n_recent). */
static int64_t recent_at(const struct event_column *c, const struct event_stat *s, size_t i) {
    return s->recent_cap ? c->pool[s->recent + i] : s->last_at;
}

/* A (column, user) summary as it was before a change of the open write. */
struct stat_undo {
    uint32_t col;
    uint32_t uid;
    struct event_stat old; /* old.uid == 0: the user had no summary */
    bool member;
    int64_t times[EVENT_RECENT_MAX]; /* old.n_recent of them are recorded */
};

static void stat_undo(void *obj, void *state) {
    struct event_index *ix = obj;
    const struct stat_undo *u = state;
    struct event_column *c = &ix->cols[u->col];
    struct event_stat *s = slot_of(c, u->uid, 1); /* present: the change created or kept it */
    bool had = s->count;
    int64_t was = s->last_at;
    block_free(c, s);
    if (!u->old.uid) {
        *s = (struct event_stat){.uid = u->uid};
    } else {
        *s = u->old;
        s->recent = 0;
        s->recent_cap = 0;
        uint32_t off;
        if (u->old.recent_cap && block_alloc(c, block_class(u->old.recent_cap), &off) == 0) {
            memcpy(c->pool + off, u->times, u->old.n_recent * sizeof *c->pool);
            s->recent = off;
            s->recent_cap = u->old.recent_cap;
        } else if (u->old.recent_cap) {
            s->n_recent = 1; /* no memory for the block: keep the last time alone */
        }
    }
    if (u->member)
        roaring_bitmap_add(c->users, u->uid);
    else
        roaring_bitmap_remove(c->users, u->uid);
    day_moved(c, u->uid, had, was, s);
}

/* Records the summary of uid in column col before it changes. 0, or -1 when the journal could
 * not keep it (the journal is then lost and the write's rollback rebuilds memory). */
static int record(struct event_index *ix, size_t col, uint32_t uid) {
    if (!ix->undo)
        return 0;
    struct event_column *c = &ix->cols[col];
    struct stat_undo u = {.col = (uint32_t)col, .uid = uid};
    const struct event_stat *s = slot_of(c, uid, 0);
    if (s && s->count) {
        u.old = *s;
        for (size_t k = 0; k < s->n_recent && s->recent_cap; k++)
            u.times[k] = c->pool[s->recent + k];
    }
    u.member = roaring_bitmap_contains(c->users, uid);
    return undo_push(ix->undo, stat_undo, NULL, ix, &u,
                     offsetof(struct stat_undo, times) +
                         (u.old.recent_cap ? u.old.n_recent : 0) * sizeof u.times[0]);
}

/* Keeps `at` among the EVENT_RECENT_MAX most recent times of s (newest first). The caller
 * sets last_at. Returns 0 or -1. */
static int recent_add(struct event_column *c, struct event_stat *s, int64_t at) {
    size_t n = s->n_recent;
    if (n == 0) {
        s->n_recent = 1; /* the one time is last_at */
        return 0;
    }
    if (n == EVENT_RECENT_MAX && at <= c->pool[s->recent + n - 1])
        return 0; /* older than every kept time: only counted */
    if (n < EVENT_RECENT_MAX && n + 1 > s->recent_cap) {
        int k = s->recent_cap ? block_class(s->recent_cap) + 1 : 0;
        uint32_t off;
        if (block_alloc(c, k, &off) != 0)
            return -1;
        if (s->recent_cap)
            memcpy(c->pool + off, c->pool + s->recent, n * sizeof *c->pool);
        else
            c->pool[off] = s->last_at; /* n == 1 */
        block_free(c, s);
        s->recent = off;
        s->recent_cap = block_sizes[k];
    }
    int64_t *r = c->pool + s->recent;
    if (n == EVENT_RECENT_MAX)
        n--; /* the oldest kept time drops out */
    size_t i = n;
    while (i > 0 && r[i - 1] < at) {
        r[i] = r[i - 1];
        i--;
    }
    r[i] = at;
    s->n_recent = (uint8_t)(n + 1);
    return 0;
}

/* Adds one occurrence at `at` to s. */
static int stat_add(struct event_column *c, struct event_stat *s, int64_t at) {
    int64_t last = s->count == 0 || at > s->last_at ? at : s->last_at;
    if (s->n_recent == 0)
        s->last_at = at;
    if (recent_add(c, s, at) != 0)
        return -1;
    s->last_at = last;
    if (s->count < UINT32_MAX)
        s->count++;
    return 0;
}

static struct event_stat *stat_of(struct event_index *ix, const char *name, uint32_t uid,
                                  struct event_column **col) {
    struct event_column *c = column(ix, name, 1);
    if (!c || ((c->n + 1) * 2 > c->cap && grow(c) != 0) ||
        record(ix, (size_t)(c - ix->cols), uid) != 0)
        return NULL;
    *col = c;
    return slot_of(c, uid, 1);
}

int event_index_bump(struct event_index *ix, const char *name, uint32_t uid, int64_t count,
                     int64_t at) {
    struct event_column *c;
    struct event_stat *s = stat_of(ix, name, uid, &c);
    if (!s)
        return -1;
    bool had = s->count;
    int64_t was = s->last_at;
    /* past the kept times an occurrence at the same time changes only the count */
    int64_t keep = count < EVENT_RECENT_MAX ? count : EVENT_RECENT_MAX;
    int rc = 0;
    for (int64_t k = 0; k < keep && rc == 0; k++)
        rc = stat_add(c, s, at);
    if (rc == 0) {
        uint64_t total = (uint64_t)s->count + (uint64_t)(count - keep);
        s->count = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    }
    day_moved(c, uid, had, was, s);
    return rc == 0 ? undo_bitmap_add(ix->undo, c->users, uid) : -1;
}

int event_index_load(struct event_index *ix, const char *name, uint32_t uid, int64_t count,
                     int64_t last_at, const int64_t *recent, size_t n_recent) {
    struct event_column *c;
    struct event_stat *s = stat_of(ix, name, uid, &c);
    if (!s)
        return -1;
    bool had = s->count;
    int64_t was = s->last_at;
    if (n_recent == 0) {
        recent = &last_at;
        n_recent = 1;
    }
    int rc = 0;
    for (size_t k = 0; k < n_recent && rc == 0; k++)
        rc = stat_add(c, s, recent[k]);
    if (rc == 0) {
        if (last_at > s->last_at)
            s->last_at = last_at;
        uint64_t total = (uint64_t)s->count - n_recent + (uint64_t)(count > 0 ? count : 0);
        if (total < s->count)
            total = s->count;
        s->count = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    }
    day_moved(c, uid, had, was, s);
    return rc == 0 ? undo_bitmap_add(ix->undo, c->users, uid) : -1;
}

void event_index_drop_user(struct event_index *ix, uint32_t uid) {
    for (size_t i = 0; i < ix->n; i++) {
        struct event_stat *s = slot_of(&ix->cols[i], uid, 0);
        if (!s && !roaring_bitmap_contains(ix->cols[i].users, uid))
            continue;
        record(ix, i, uid); /* failure: the journal is lost, the rollback rebuilds */
        if (s) {
            bool had = s->count;
            block_free(&ix->cols[i], s);
            s->count = 0;
            s->n_recent = 0;
            day_moved(&ix->cols[i], uid, had, s->last_at, s);
        }
        undo_bitmap_remove(ix->undo, ix->cols[i].users, uid);
    }
}

void event_index_drop_users(struct event_index *ix, const roaring_bitmap_t *gone) {
    for (size_t i = 0; i < ix->n; i++) {
        struct event_column *c = &ix->cols[i];
        if (!roaring_bitmap_intersect(c->users, gone))
            continue;
        roaring_uint32_iterator_t *it = roaring_create_iterator(gone);
        for (; it && it->has_value; roaring_advance_uint32_iterator(it)) {
            struct event_stat *s = slot_of(c, it->current_value, 0);
            if (!s)
                continue;
            bool had = s->count;
            int64_t was = s->last_at;
            block_free(c, s);
            s->count = 0;
            s->n_recent = 0;
            s->last_at = 0; /* a load onto the slot starts from nothing, as on a fresh one */
            day_moved(c, it->current_value, had, was, s);
        }
        roaring_free_uint32_iterator(it);
        roaring_bitmap_andnot_inplace(c->users, gone);
    }
}

int event_index_merge(struct event_index *ix, uint32_t from, uint32_t to) {
    for (size_t i = 0; i < ix->n; i++) {
        struct event_column *c = &ix->cols[i];
        struct event_stat *s = slot_of(c, from, 0);
        if (!s || !s->count)
            continue;
        /* the times leave the pool before loading them onto `to` can move it */
        int64_t times[EVENT_RECENT_MAX];
        size_t n = s->n_recent;
        for (size_t k = 0; k < n; k++)
            times[k] = recent_at(c, s, k);
        uint32_t count = s->count;
        int64_t last = s->last_at;
        if (record(ix, i, from) != 0)
            return -1;
        block_free(c, s);
        *s = (struct event_stat){.uid = from};
        day_moved(c, from, true, last, s);
        undo_bitmap_remove(ix->undo, c->users, from);
        if (event_index_load(ix, ix->name_list[i], to, count, last, times, n) != 0)
            return -1;
    }
    return 0;
}

/* True when s holds min_count occurrences at or after since (see event_index_performed). Reads
 * the slot alone unless min_count >= 2 and the last occurrence is recent enough. */
static bool stat_matches(const struct event_column *c, const struct event_stat *s,
                         int64_t min_count, int64_t since) {
    if (!s->uid || !s->count || (int64_t)s->count < min_count)
        return false;
    if (since <= 0)
        return true;
    if (s->last_at < since)
        return false; /* nothing in the window */
    size_t want = min_count < 1 ? 1 : (size_t)min_count;
    size_t complete = s->count < EVENT_RECENT_MAX ? s->count : EVENT_RECENT_MAX;
    if (want == 1 || s->n_recent < complete) /* times stored before they were kept: old rule */
        return true;
    if (want > s->n_recent)
        want = s->n_recent; /* min_count above the kept times: see the header */
    return recent_at(c, s, want - 1) >= since;
}

/* Adds to out the users of `from` (ascending) whose summary matches, looking each one up. */
static void add_matching(const struct event_column *c, const roaring_bitmap_t *from,
                         int64_t min_count, int64_t since, roaring_bitmap_t *out) {
    enum { BATCH = 256, AHEAD = 16 };
    uint32_t uids[BATCH], hit[BATCH];
    roaring_uint32_iterator_t *it = roaring_create_iterator(from);
    for (uint32_t n = 1; it && n;) {
        n = roaring_read_uint32_iterator(it, uids, BATCH);
        uint32_t k = 0;
        for (uint32_t i = 0; i < n && i < AHEAD; i++)
            __builtin_prefetch(&c->slots[slot_home(c, uids[i])]);
        for (uint32_t i = 0; i < n; i++) {
            /* hints only: the slot of a user further on, and the kept times of a nearer one
             * (its slot fetched by now), which min_count >= 2 reads when its last is recent */
            if (i + AHEAD < n)
                __builtin_prefetch(&c->slots[slot_home(c, uids[i + AHEAD])]);
            const struct event_stat *near =
                min_count >= 2 && i + AHEAD / 2 < n ? slot_find(c, uids[i + AHEAD / 2]) : NULL;
            if (near && near->recent_cap)
                __builtin_prefetch(&c->pool[near->recent]);
            const struct event_stat *s = slot_find(c, uids[i]);
            if (s && stat_matches(c, s, min_count, since))
                hit[k++] = uids[i];
        }
        roaring_bitmap_add_many(out, k, hit);
    }
    roaring_free_uint32_iterator(it);
}

/* `performed` within a window, from the day index: the days after the window's first are in
 * whole (min_count <= 1) or are the candidates (min_count >= 2), the first day is tested user by
 * user. NULL when the candidates are so many that the slot scan is cheaper (or no memory). */
static roaring_bitmap_t *performed_by_day(const struct event_column *c, int64_t min_count,
                                          int64_t since) {
    uint32_t first = day_of(since);
    const roaring_bitmap_t *first_day = NULL;
    const roaring_bitmap_t **later = malloc((c->n_days + 1) * sizeof(void *));
    size_t n_later = 0;
    for (uint32_t i = 0; later && i < c->n_days; i++) {
        if (!c->days[i] || c->day_lo + i < first)
            continue;
        if (c->day_lo + i == first)
            first_day = c->days[i];
        else
            later[n_later++] = c->days[i];
    }
    roaring_bitmap_t *out = later ? roaring_bitmap_or_many(n_later, later) : NULL;
    free(later);
    if (out && min_count >= 2) {
        /* a lookup a candidate against a sequential read of the whole table: the lookups win
         * while the candidates are under about a quarter of the event's users */
        roaring_bitmap_t *cand = out;
        if (first_day)
            roaring_bitmap_or_inplace(cand, first_day);
        if (roaring_bitmap_get_cardinality(cand) * 4 > c->n) {
            roaring_bitmap_free(cand);
            return NULL;
        }
        out = roaring_bitmap_create();
        if (out)
            add_matching(c, cand, min_count, since, out);
        roaring_bitmap_free(cand);
    } else if (out && first_day) {
        add_matching(c, first_day, min_count, since, out);
    }
    return out;
}

roaring_bitmap_t *event_index_performed(const struct event_index *ix, const char *name,
                                        int64_t min_count, int64_t since_ms) {
    struct event_column *c = column((struct event_index *)ix, name, 0);
    if (!c)
        return roaring_bitmap_create();
    if (min_count <= 1 && since_ms <= 0)
        return roaring_bitmap_copy(c->users);
    if (since_ms > 0 && !c->days_stale && c->cap) {
        roaring_bitmap_t *out = performed_by_day(c, min_count, since_ms);
        if (out)
            return out;
    }
    /* The slots are in hash order: adding their uids to a bitmap one by one inserts into the
     * middle of its containers. Mark them in a plain bitset over the uid range instead, then
     * hand them to the bitmap in ascending order, which appends. */
    roaring_bitmap_t *out = roaring_bitmap_create();
    uint32_t max_uid = roaring_bitmap_maximum(c->users);
    size_t n_words = (size_t)max_uid / 64 + 1;
    uint64_t *marks = calloc(n_words, sizeof *marks);
    if (!out || !marks) {
        free(marks);
        roaring_bitmap_free(out);
        return NULL;
    }
    for (size_t i = 0; i < c->cap; i++) {
        /* the kept times of a slot further on: their block is a random place in the pool, so
         * fetch it while this slot is tested (min_count >= 2 reads it when the last is recent) */
        const struct event_stat *ahead = &c->slots[i + 16 < c->cap ? i + 16 : i];
        if (min_count >= 2 && ahead->recent_cap)
            __builtin_prefetch(&c->pool[ahead->recent]);
        uint32_t uid = c->slots[i].uid;
        if (!stat_matches(c, &c->slots[i], min_count, since_ms))
            continue;
        if (uid <= max_uid) /* a matching user performed the event, so is in c->users */
            marks[uid / 64] |= (uint64_t)1 << (uid % 64);
        else
            roaring_bitmap_add(out, uid);
    }
    uint32_t batch[1024];
    size_t n = 0;
    for (size_t w = 0; w < n_words; w++)
        for (uint64_t bits = marks[w]; bits; bits &= bits - 1) {
            batch[n++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            if (n == sizeof batch / sizeof *batch) {
                roaring_bitmap_add_many(out, n, batch);
                n = 0;
            }
        }
    roaring_bitmap_add_many(out, n, batch);
    free(marks);
    return out;
}

int event_index_index_days(struct event_index *ix) {
    enum { BATCH = 256, AHEAD = 16 };
    uint32_t uids[BATCH];
    for (size_t i = 0; i < ix->n; i++) {
        struct event_column *c = &ix->cols[i];
        days_free(c);
        if (!c->cap)
            continue;
        /* ascending uids: each day's bitmap is appended to */
        roaring_uint32_iterator_t *it = roaring_create_iterator(c->users);
        if (!it)
            return -1;
        for (uint32_t n = 1; n;) {
            n = roaring_read_uint32_iterator(it, uids, BATCH);
            for (uint32_t k = 0; k < n && k < AHEAD; k++)
                __builtin_prefetch(&c->slots[slot_home(c, uids[k])]);
            for (uint32_t k = 0; k < n; k++) {
                if (k + AHEAD < n) /* a hint only */
                    __builtin_prefetch(&c->slots[slot_home(c, uids[k + AHEAD])]);
                day_moved(c, uids[k], false, 0, slot_find(c, uids[k]));
            }
        }
        roaring_free_uint32_iterator(it);
        if (c->days_stale)
            return -1;
    }
    return 0;
}
