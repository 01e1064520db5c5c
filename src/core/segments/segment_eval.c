/* segment_eval.c — a filter tree's audience and its size from the workspace's indexes (see
 * segment_filter.h). Memory only; reads the indexes, never changes them.
 *
 * Each node evaluates to an operand: a bitmap `b` standing for b ∩ live, or, negated, for
 * live \ b. Leaves borrow the index's bitmaps where they can (a cohort's members, an attribute
 * value's users, the identified set), NOT flips the flag, AND and OR combine their children's
 * operands with the fewest materialised intermediates, and a size is counted with the
 * cardinality-only operations (roaring_bitmap_and_cardinality / andnot_cardinality) on the last
 * step, so "cohort AND NOT cohort" allocates nothing. Cohort members are always live users
 * (cohort.h), so a cohort never needs "∩ live". */
#include "core/segments/segment_filter.h"
#include "core/workspace/workspace_int.h"

#include <assert.h>
#include <stdlib.h>

struct opnd {
    const roaring_bitmap_t *b;
    roaring_bitmap_t *own; /* b when this operand made it (freed with it), else NULL */
    bool neg;              /* the set is live \ b, else b ∩ live */
    bool in_live;          /* b ⊆ live, so b ∩ live is b */
    bool failed;           /* out of memory */
};

static void opnd_free(struct opnd *o) {
    if (o->own)
        roaring_bitmap_free(o->own);
    o->own = NULL;
    o->b = NULL;
}

static struct opnd owned(roaring_bitmap_t *b, bool neg, bool in_live) {
    return (struct opnd){.b = b, .own = b, .neg = neg, .in_live = in_live, .failed = !b};
}

static struct opnd borrowed(const roaring_bitmap_t *b, bool neg, bool in_live) {
    return (struct opnd){.b = b, .neg = neg, .in_live = in_live};
}

static roaring_bitmap_t *eval_attr(const struct seg_node *n, const struct workspace *ws) {
    const struct attr_index *ix = &ws->attrs;
    switch (n->op) {
    case SEG_EQUALS:
        return attr_index_equals(ix, n->name, n->value);
    case SEG_NOT_EQUALS: {
        roaring_bitmap_t *has = attr_index_exists(ix, n->name);
        const roaring_bitmap_t *eq = attr_index_equals_ref(ix, n->name, n->value);
        if (has && eq)
            roaring_bitmap_andnot_inplace(has, eq);
        return has;
    }
    case SEG_EXISTS:
    case SEG_NOT_EXISTS:
        return attr_index_exists(ix, n->name);
    case SEG_GT:
        return attr_index_compare(ix, n->name, ATTR_GT, json_number_value(n->value));
    case SEG_GTE:
        return attr_index_compare(ix, n->name, ATTR_GTE, json_number_value(n->value));
    case SEG_LT:
        return attr_index_compare(ix, n->name, ATTR_LT, json_number_value(n->value));
    case SEG_LTE:
        return attr_index_compare(ix, n->name, ATTR_LTE, json_number_value(n->value));
    case SEG_CONTAINS:
        break;
    }
    return attr_index_contains(ix, n->name, n->value);
}

/* ---- a chain: start, then AND / ANDNOT steps, as a bitmap or only its size ---- */

struct step {
    const roaring_bitmap_t *b;
    bool andnot;
};

static uint64_t step_card(const roaring_bitmap_t *x, const struct step *s) {
    return s->andnot ? roaring_bitmap_andnot_cardinality(x, s->b)
                     : roaring_bitmap_and_cardinality(x, s->b);
}

/*
 * start AND / ANDNOT every step, in order. With size, only the size is computed (*size) and
 * NULL returned: the last step is a cardinality-only operation, so a single step allocates
 * nothing. Without, the result (new bitmap; NULL when out of memory).
 */
static roaring_bitmap_t *chain(const roaring_bitmap_t *start, const struct step *steps, size_t n,
                               uint64_t *size) {
    if (size && n == 0) {
        *size = roaring_bitmap_get_cardinality(start);
        return NULL;
    }
    if (size && n == 1) {
        *size = step_card(start, &steps[0]);
        return NULL;
    }
    roaring_bitmap_t *t;
    if (n == 0)
        t = roaring_bitmap_copy(start);
    else
        t = steps[0].andnot ? roaring_bitmap_andnot(start, steps[0].b)
                            : roaring_bitmap_and(start, steps[0].b);
    size_t last = size ? n - 1 : n;
    for (size_t i = 1; t && i < last && !roaring_bitmap_is_empty(t); i++) {
        if (steps[i].andnot)
            roaring_bitmap_andnot_inplace(t, steps[i].b);
        else
            roaring_bitmap_and_inplace(t, steps[i].b);
    }
    if (size) {
        *size = t ? step_card(t, &steps[n - 1]) : 0;
        if (t)
            roaring_bitmap_free(t);
        return NULL;
    }
    return t;
}

static struct opnd eval(const struct seg_node *n, const struct workspace *ws, int64_t now_ms);

static int by_cardinality(const void *a, const void *b) {
    uint64_t x = roaring_bitmap_get_cardinality(((const struct opnd *)a)->b);
    uint64_t y = roaring_bitmap_get_cardinality(((const struct opnd *)b)->b);
    return x < y ? -1 : x > y;
}

/* The children's operands of an and / or node in kids[] (n->n_kids of them), positive ones
 * first (*n_pos); false when one failed (all freed then). */
static bool eval_kids(const struct seg_node *n, const struct workspace *ws, int64_t now_ms,
                      struct opnd *kids, size_t *n_pos) {
    size_t pos = 0, neg = n->n_kids;
    for (size_t i = 0; i < n->n_kids; i++) {
        struct opnd k = eval(n->kids[i], ws, now_ms);
        if (k.failed) {
            for (size_t j = 0; j < pos; j++)
                opnd_free(&kids[j]);
            for (size_t j = neg; j < n->n_kids; j++)
                opnd_free(&kids[j]);
            return false;
        }
        kids[k.neg ? --neg : pos++] = k;
    }
    *n_pos = pos;
    return true;
}

/*
 * The union of the bitmaps of kids[0..n) (n ≥ 1, all negated or all not, as neg says): the only
 * one itself (taken over from kids[0], which then frees nothing), else one roaring_bitmap_or_many.
 */
static struct opnd union_of(struct opnd *kids, size_t n, bool neg) {
    if (n == 1) {
        struct opnd o = kids[0];
        kids[0].own = NULL;
        return o;
    }
    const roaring_bitmap_t *v[SEGMENT_MAX_NODES]; /* a tree has at most that many nodes */
    bool in_live = true;
    for (size_t i = 0; i < n; i++) {
        v[i] = kids[i].b;
        in_live = in_live && kids[i].in_live;
    }
    return owned(roaring_bitmap_or_many(n, v), neg, in_live);
}

/*
 * AND of the children: (∩ positives) ∩ live \ (∪ negatives), the smallest positive first.
 * With size, only its size (*size; the returned operand is then empty). Without positives the
 * result is negated: live \ (∪ negatives).
 */
static struct opnd eval_and(const struct seg_node *n, const struct workspace *ws, int64_t now_ms,
                            uint64_t *size) {
    struct opnd *kids = malloc(n->n_kids * sizeof *kids);
    struct step *steps = malloc((n->n_kids + 1) * sizeof *steps);
    size_t n_pos = 0;
    struct opnd out = {.failed = true};
    if (!kids || !steps || !eval_kids(n, ws, now_ms, kids, &n_pos)) {
        free(kids);
        free(steps);
        return out;
    }
    size_t n_neg = n->n_kids - n_pos;
    if (n_pos == 0) {
        out = union_of(kids, n_neg, true);
        if (size && !out.failed) {
            const roaring_bitmap_t *live = ws->ident.live;
            *size = roaring_bitmap_get_cardinality(live) -
                    (out.in_live ? roaring_bitmap_get_cardinality(out.b)
                                 : roaring_bitmap_and_cardinality(live, out.b));
            opnd_free(&out);
        }
    } else {
        qsort(kids, n_pos, sizeof *kids, by_cardinality);
        size_t n_steps = 0;
        bool in_live = false;
        for (size_t i = 0; i < n_pos; i++)
            in_live = in_live || kids[i].in_live;
        if (!in_live)
            steps[n_steps++] = (struct step){ws->ident.live, false};
        for (size_t i = 1; i < n_pos; i++)
            steps[n_steps++] = (struct step){kids[i].b, false};
        for (size_t i = n_pos; i < n->n_kids; i++)
            steps[n_steps++] = (struct step){kids[i].b, true};
        if (size) {
            chain(kids[0].b, steps, n_steps, size);
            out = (struct opnd){0};
        } else if (n_steps == 0 && kids[0].in_live) {
            out = kids[0]; /* one positive child: itself */
            kids[0].own = NULL;
        } else {
            out = owned(chain(kids[0].b, steps, n_steps, NULL), false, true);
        }
    }
    for (size_t i = 0; i < n->n_kids; i++)
        opnd_free(&kids[i]);
    free(kids);
    free(steps);
    return out;
}

/*
 * OR of the children. Without negated children: ∪ positives (∩ live). With: live \ ((∩
 * negatives) \ ∪ positives), a negated operand.
 */
static struct opnd eval_or(const struct seg_node *n, const struct workspace *ws, int64_t now_ms) {
    struct opnd *kids = malloc(n->n_kids * sizeof *kids);
    size_t n_pos = 0;
    struct opnd out = {.failed = true};
    if (!kids || !eval_kids(n, ws, now_ms, kids, &n_pos)) {
        free(kids);
        return out;
    }
    size_t n_neg = n->n_kids - n_pos;
    if (n_neg == 0) {
        out = union_of(kids, n_pos, false);
    } else {
        struct step *steps = malloc(n->n_kids * sizeof *steps);
        size_t n_steps = 0;
        for (size_t i = n_pos + 1; steps && i < n->n_kids; i++)
            steps[n_steps++] = (struct step){kids[i].b, false};
        for (size_t i = 0; steps && i < n_pos; i++)
            steps[n_steps++] = (struct step){kids[i].b, true};
        if (steps && n_steps == 0) {
            out = kids[n_pos]; /* one negated child: itself */
            kids[n_pos].own = NULL;
        } else if (steps) {
            bool in_live = kids[n_pos].in_live;
            out = owned(chain(kids[n_pos].b, steps, n_steps, NULL), true, in_live);
        }
        free(steps);
    }
    for (size_t i = 0; i < n->n_kids; i++)
        opnd_free(&kids[i]);
    free(kids);
    return out;
}

static struct opnd eval(const struct seg_node *n, const struct workspace *ws, int64_t now_ms) {
    switch (n->kind) {
    case SEG_AND:
        return eval_and(n, ws, now_ms, NULL);
    case SEG_OR:
        return eval_or(n, ws, now_ms);
    case SEG_NOT: {
        struct opnd k = eval(n->kids[0], ws, now_ms);
        k.neg = !k.neg;
        return k;
    }
    case SEG_COHORT: {
        const struct cohort *c = cohort_find(&ws->cohorts, n->partner, n->cohort_id);
        if (!c)
            return owned(roaring_bitmap_create(), n->negate, true);
        /* the invariant of cohort.h that lets a cohort skip "∩ live" (checked in tests) */
        assert(roaring_bitmap_and_cardinality(c->members, ws->ident.live) ==
               roaring_bitmap_get_cardinality(c->members));
        return borrowed(c->members, n->negate, true);
    }
    case SEG_IDENTIFIED:
        return borrowed(ws->ident.identified, n->negate, true);
    case SEG_ATTR: {
        if (n->op != SEG_EQUALS)
            return owned(eval_attr(n, ws), n->op == SEG_NOT_EXISTS, false);
        /* the index's own bitmap, read in place like a cohort's members (no copy) */
        const roaring_bitmap_t *eq = attr_index_equals_ref(&ws->attrs, n->name, n->value);
        return eq ? borrowed(eq, false, false) : owned(roaring_bitmap_create(), false, true);
    }
    case SEG_EVENT: {
        int64_t since = n->within_days ? now_ms - n->within_days * 86400000LL : 0;
        return owned(event_index_performed(&ws->events, n->name, n->min_count, since), n->negate,
                     false);
    }
    }
    return owned(roaring_bitmap_create(), false, true);
}

roaring_bitmap_t *segment_eval(const struct seg_node *node, const struct workspace *ws,
                               int64_t now_ms) {
    struct opnd o = eval(node, ws, now_ms);
    if (o.failed)
        return NULL;
    roaring_bitmap_t *out;
    if (o.neg)
        out = roaring_bitmap_andnot(ws->ident.live, o.b);
    else if (!o.in_live)
        out = roaring_bitmap_and(o.b, ws->ident.live);
    else if (o.own)
        return o.own; /* made for this evaluation: handed over */
    else
        out = roaring_bitmap_copy(o.b);
    opnd_free(&o);
    return out;
}

/* ---- counting 65536 users at a time: no intermediate bitmap at all ----
 *
 * For a tree with several leaves the size is counted chunk by chunk (a chunk is one container
 * key, 65536 uids): each leaf's container for the key is read as 1024 words (a bitset
 * container in place, an array or run container expanded into a buffer), the leaves of an
 * and / or / not are combined and counted in one fused pass that keeps its words in registers
 * (∩ live's words, unless every answer is inside a live-only leaf; a nested node's words go
 * through a per-depth buffer that stays in L1), and a full or missing container settles its
 * node for the chunk without reading the others. The leaves are the operands above (cohorts
 * borrowed, attributes and events built once). This reads CRoaring's container layout (the headers
 * under roaring/containers, the 0.2 series Debian ships); with another version, or without those
 * headers, sizes take the operand path above. */
#if __has_include(<roaring/containers/containers.h>)
#include <roaring/containers/containers.h>
#include <string.h>
#define SEG_CHUNKS 1
#define CHUNK_WORDS 1024

static bool chunks_known(void) {
    return ROARING_VERSION_MAJOR == 0 && ROARING_VERSION_MINOR == 2;
}

struct chunks {
    struct opnd *leaves; /* in prefix order */
    int32_t *at;         /* per leaf, and one more for live: its cursor into its bitmap's keys */
    uint64_t **tmp;      /* per leaf, and one more for live: where an array or run container is
                            expanded (CHUNK_WORDS words; NULL when the bitmap has none to expand) */
    uint64_t (*buf)[CHUNK_WORDS]; /* per depth: an inner node's bits */
    size_t next;                  /* the next leaf, in prefix order */
    uint16_t key;
    uint64_t (*fuse)(const uint64_t *const *w, const uint64_t *flip, size_t n, uint64_t of,
                     const uint64_t *mask, uint64_t *out);
};

/* a run container that holds its whole chunk */
static bool run_full(const run_container_t *r) {
    return r->n_runs == 1 && r->runs[0].value == 0 && r->runs[0].length == 0xffff;
}

/* What a container contributes to a chunk: nothing, every bit, or the words it points at. */
enum term { T_ZERO, T_ONES, T_WORDS };

/* The words of b's container for key in *w: a bitset container in place, an array or run
 * container expanded into tmp; T_ZERO when b has none, T_ONES when it holds the whole chunk
 * (not expanded). *at moves forward over b's keys (chunks come in key order). */
static enum term chunk_words(const roaring_bitmap_t *b, int32_t *at, uint16_t key, uint64_t *tmp,
                             const uint64_t **w) {
    const roaring_array_t *ra = &b->high_low_container;
    while (*at < ra->size && ra->keys[*at] < key)
        (*at)++;
    if (*at >= ra->size || ra->keys[*at] != key)
        return T_ZERO;
    uint8_t type = ra->typecodes[*at];
    const void *c = ra->containers[*at];
    if (type == SHARED_CONTAINER_TYPE_CODE) {
        type = ((const shared_container_t *)c)->typecode;
        c = ((const shared_container_t *)c)->container;
    }
    if (type == BITSET_CONTAINER_TYPE_CODE) {
        const bitset_container_t *s = c;
        *w = s->array;
        return s->cardinality == 65536 ? T_ONES : T_WORDS;
    }
    *w = tmp;
    if (type == ARRAY_CONTAINER_TYPE_CODE) {
        const array_container_t *a = c;
        memset(tmp, 0, CHUNK_WORDS * sizeof *tmp);
        for (int32_t i = 0; i < a->cardinality; i++)
            tmp[a->array[i] >> 6] |= 1ULL << (a->array[i] & 63);
        return T_WORDS;
    }
    const run_container_t *r = c;
    if (run_full(r))
        return T_ONES;
    memset(tmp, 0, CHUNK_WORDS * sizeof *tmp);
    for (int32_t i = 0; i < r->n_runs; i++) {
        uint32_t lo = r->runs[i].value, hi = lo + r->runs[i].length; /* inclusive */
        for (uint32_t x = lo >> 6; x <= hi >> 6; x++) {
            uint64_t m = ~0ULL;
            if (x == lo >> 6)
                m &= ~0ULL << (lo & 63);
            if (x == hi >> 6)
                m &= ~0ULL >> (63 - (hi & 63));
            tmp[x] |= m;
        }
    }
    return T_WORDS;
}

/*
 * The fused pass over a chunk: word i is of ^ (w[0][i] ^ flip[0] | … | w[n-1][i] ^ flip[n-1]),
 * ∩ mask[i] when mask; stored into out when out; the number of bits set is returned. Every
 * and / or / not of leaves is one such pass (an AND is NOT of the OR of NOTs), so the leaves'
 * containers are read once, straight from where they are, and nothing is stored in between.
 * Three builds of the same loop: 512-bit words with the vector popcount where the CPU has them
 * (chosen at run time; the library is built for the baseline CPU), else 64 words at a time with
 * the popcnt instruction, else without it.
 */
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512vpopcntdq"))) static uint64_t
fuse_avx512(const uint64_t *const *w, const uint64_t *flip, size_t n, uint64_t of,
            const uint64_t *mask, uint64_t *out) {
    __m512i sum = _mm512_setzero_si512();
    __m512i vof = _mm512_set1_epi64((long long)of);
    for (size_t i = 0; i < CHUNK_WORDS; i += 8) {
        __m512i x = _mm512_setzero_si512();
        for (size_t j = 0; j < n; j++)
            x = _mm512_or_si512(x, _mm512_xor_si512(_mm512_loadu_si512(w[j] + i),
                                                    _mm512_set1_epi64((long long)flip[j])));
        x = _mm512_xor_si512(x, vof);
        if (mask)
            x = _mm512_and_si512(x, _mm512_loadu_si512(mask + i));
        if (out)
            _mm512_storeu_si512(out + i, x);
        sum = _mm512_add_epi64(sum, _mm512_popcnt_epi64(x));
    }
    return (uint64_t)_mm512_reduce_add_epi64(sum);
}
#endif

#define FUSE_BLOCK 64

static inline __attribute__((always_inline)) uint64_t fuse_blocks(const uint64_t *const *w,
                                                                  const uint64_t *flip, size_t n,
                                                                  uint64_t of, const uint64_t *mask,
                                                                  uint64_t *out) {
    uint64_t c = 0;
    for (size_t b = 0; b < CHUNK_WORDS; b += FUSE_BLOCK) {
        uint64_t x[FUSE_BLOCK] = {0};
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < FUSE_BLOCK; i++)
                x[i] |= w[j][b + i] ^ flip[j];
        for (size_t i = 0; i < FUSE_BLOCK; i++) {
            uint64_t y = x[i] ^ of;
            if (mask)
                y &= mask[b + i];
            if (out)
                out[b + i] = y;
            c += (uint64_t)__builtin_popcountll(y);
        }
    }
    return c;
}

#if defined(__x86_64__)
__attribute__((target("popcnt"))) static uint64_t fuse_popcnt(const uint64_t *const *w,
                                                              const uint64_t *flip, size_t n,
                                                              uint64_t of, const uint64_t *mask,
                                                              uint64_t *out) {
    return fuse_blocks(w, flip, n, of, mask, out);
}
#endif

static uint64_t fuse_plain(const uint64_t *const *w, const uint64_t *flip, size_t n, uint64_t of,
                           const uint64_t *mask, uint64_t *out) {
    return fuse_blocks(w, flip, n, of, mask, out);
}

#ifdef COHORTD_FAULTS
static enum segment_pass forced_pass = SEGMENT_PASS_BEST;
void segment_force_pass(enum segment_pass pass) {
    forced_pass = pass;
}
#define PASS_FORCED(p) (forced_pass == (p))
#else
#define PASS_FORCED(p) false
#endif

/* the 512-bit build of the pass runs here */
static bool fuse_wide(void) {
#if defined(__x86_64__)
    if (PASS_FORCED(SEGMENT_PASS_POPCNT) || PASS_FORCED(SEGMENT_PASS_PLAIN))
        return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#else
    return false;
#endif
}

static bool is_leaf(const struct seg_node *n) {
    return n->kind != SEG_AND && n->kind != SEG_OR && n->kind != SEG_NOT;
}

/* n under its NOTs, *flip toggled once per NOT */
static const struct seg_node *unnot(const struct seg_node *n, bool *flip) {
    while (n->kind == SEG_NOT) {
        *flip = !*flip;
        n = n->kids[0];
    }
    return n;
}

static size_t leaf_count(const struct seg_node *n) {
    if (is_leaf(n))
        return 1;
    size_t c = 0;
    for (size_t k = 0; k < n->n_kids; k++)
        c += leaf_count(n->kids[k]);
    return c;
}

/*
 * n's bits for the chunk: their count (∩ mask when mask), and the bits themselves in
 * ch->buf[depth] when store. The node is read as of ^ OR of terms (for an AND, of is all ones
 * and each term its child's complement): the leaves' terms go through one fused pass, an inner
 * child's bits are evaluated into the next depth's buffer and or-ed in after it. A term that is
 * all ones (an OR with a full container, an AND with a missing one) settles the chunk unread.
 */
static uint64_t chunk_node(const struct seg_node *n, struct chunks *ch, size_t depth,
                           const uint64_t *mask, bool store) {
    bool neg = false;
    n = unnot(n, &neg);
    size_t first = ch->next, n_kids = is_leaf(n) ? 1 : n->n_kids;
    const struct seg_node *const *kids = is_leaf(n) ? &n : (const struct seg_node *const *)n->kids;
    uint64_t inv = n->kind == SEG_AND ? ~0ULL : 0; /* term = child ^ inv */
    uint64_t of = inv ^ (neg ? ~0ULL : 0);
    const uint64_t *w[SEGMENT_MAX_NODES];
    uint64_t flip[SEGMENT_MAX_NODES];
    size_t n_terms = 0;
    bool ones = false, inner = false;
    for (size_t k = 0; k < n_kids && !ones; k++) {
        bool kneg = false;
        const struct seg_node *kid = unnot(kids[k], &kneg);
        if (!is_leaf(kid)) {
            ch->next += leaf_count(kid);
            inner = true;
            continue;
        }
        size_t i = ch->next++;
        uint64_t f = ((kneg != ch->leaves[i].neg) ? ~0ULL : 0) ^ inv;
        enum term t = chunk_words(ch->leaves[i].b, &ch->at[i], ch->key, ch->tmp[i], &w[n_terms]);
        if (t == T_WORDS)
            flip[n_terms++] = f;
        else
            ones = (t == T_ONES) != (f != 0);
    }
    uint64_t *out = store || (inner && !ones) ? ch->buf[depth] : NULL;
    if (ones) {
        ch->next = first + leaf_count(n);
        return ch->fuse(NULL, NULL, 0, ~of, mask, out); /* the constant ~of */
    }
    if (!inner)
        return ch->fuse(w, flip, n_terms, of, mask, out);
    ch->fuse(w, flip, n_terms, 0, NULL, out);
    ch->next = first;
    for (size_t k = 0; k < n_kids; k++) {
        bool kneg = false;
        const struct seg_node *kid = unnot(kids[k], &kneg);
        if (is_leaf(kid)) {
            ch->next++;
            continue;
        }
        chunk_node(kids[k], ch, depth + 1, NULL, true);
        const uint64_t *kw = ch->buf[depth + 1];
        for (size_t i = 0; i < CHUNK_WORDS; i++)
            out[i] |= kw[i] ^ inv;
    }
    const uint64_t *acc = out;
    return ch->fuse(&acc, &(uint64_t){0}, 1, of, mask, out);
}

/* the uids of a set node are all within a live-only (in_live, not negated) leaf */
static bool within_live(const struct seg_node *n, struct chunks *ch) {
    if (is_leaf(n)) {
        const struct opnd *o = &ch->leaves[ch->next++];
        return !o->neg && o->in_live;
    }
    bool any = false, all = true;
    for (size_t k = 0; k < n->n_kids; k++) {
        bool w = within_live(n->kids[k], ch);
        any = any || w;
        all = all && w;
    }
    return n->kind == SEG_AND ? any : n->kind == SEG_OR ? all : false;
}

struct leaf_list {
    const struct workspace *ws;
    int64_t now_ms;
    struct opnd *v;
    size_t n;
    bool failed;
};

static int collect_leaf(void *ctx, const struct seg_node *n) {
    struct leaf_list *l = ctx;
    if (is_leaf(n)) {
        l->v[l->n] = eval(n, l->ws, l->now_ms);
        l->failed = l->failed || l->v[l->n].failed;
        l->n++;
    }
    return 0;
}

static int count_node(void *ctx, const struct seg_node *n) {
    (void)n;
    (*(size_t *)ctx)++;
    return 0;
}

static size_t tree_depth(const struct seg_node *n) {
    size_t d = 0;
    for (size_t k = 0; !is_leaf(n) && k < n->n_kids; k++) {
        size_t kd = tree_depth(n->kids[k]);
        d = kd > d ? kd : d;
    }
    return d + 1;
}

/* b has an array container or a run container short of the whole chunk: one that chunk_words
 * expands into a buffer */
static bool expands(const roaring_bitmap_t *b) {
    const roaring_array_t *ra = &b->high_low_container;
    for (int32_t i = 0; i < ra->size; i++) {
        uint8_t type = ra->typecodes[i];
        const void *c = ra->containers[i];
        if (type == SHARED_CONTAINER_TYPE_CODE) {
            type = ((const shared_container_t *)c)->typecode;
            c = ((const shared_container_t *)c)->container;
        }
        if (type == ARRAY_CONTAINER_TYPE_CODE)
            return true;
        if (type == RUN_CONTAINER_TYPE_CODE) {
            const run_container_t *r = c;
            if (!run_full(r))
                return true;
        }
    }
    return false;
}

/* The size by chunks; -1 when out of memory. */
static int chunk_size(const struct seg_node *node, const struct workspace *ws, int64_t now_ms,
                      uint64_t *size) {
    size_t n_nodes = 0, depth = tree_depth(node);
    segment_filter_walk(node, count_node, &n_nodes);
    struct chunks ch = {.leaves = calloc(n_nodes, sizeof *ch.leaves),
                        .at = calloc(n_nodes + 1, sizeof *ch.at),
                        .tmp = calloc(n_nodes + 1, sizeof *ch.tmp),
                        .buf = malloc((depth + 1) * sizeof *ch.buf)};
    if (!ch.leaves || !ch.at || !ch.tmp || !ch.buf) {
        free(ch.leaves);
        free(ch.at);
        free(ch.tmp);
        free(ch.buf);
        return -1;
    }
#if defined(__x86_64__)
    if (fuse_wide())
        ch.fuse = fuse_avx512;
    else
        ch.fuse = __builtin_cpu_supports("popcnt") && !PASS_FORCED(SEGMENT_PASS_PLAIN) ? fuse_popcnt
                                                                                       : fuse_plain;
#else
    ch.fuse = fuse_plain;
#endif
    struct leaf_list l = {ws, now_ms, ch.leaves, 0, false};
    segment_filter_walk(node, collect_leaf, &l);
    bool ok = !l.failed;
    for (size_t i = 0; ok && i <= l.n; i++) {
        const roaring_bitmap_t *b = i < l.n ? ch.leaves[i].b : ws->ident.live;
        size_t at = i < l.n ? i : n_nodes;
        if (expands(b) && !(ch.tmp[at] = malloc(CHUNK_WORDS * sizeof **ch.tmp)))
            ok = false;
    }
    int rc = -1;
    if (ok) {
        bool inside = within_live(node, &ch);
        const roaring_bitmap_t *live = ws->ident.live;
        const roaring_array_t *keys = &live->high_low_container;
        uint64_t total = 0;
        for (int32_t i = 0; i < keys->size; i++) {
            ch.key = keys->keys[i];
            ch.next = 0;
            const uint64_t *mask = NULL;
            if (!inside &&
                chunk_words(live, &ch.at[n_nodes], ch.key, ch.tmp[n_nodes], &mask) == T_ONES)
                mask = NULL; /* every uid of the chunk is live */
            total += chunk_node(node, &ch, 0, mask, false);
        }
        *size = total;
        rc = 0;
    }
    for (size_t i = 0; i < l.n; i++)
        opnd_free(&ch.leaves[i]);
    for (size_t i = 0; i <= n_nodes; i++)
        free(ch.tmp[i]);
    free(ch.leaves);
    free(ch.at);
    free(ch.tmp);
    free(ch.buf);
    return rc;
}

/* Chunks pay off when the operand path would build an intermediate: an OR, or an AND of more
 * than two children or with a non-leaf child. */
static bool by_chunks(const struct seg_node *n) {
    while (n->kind == SEG_NOT)
        n = n->kids[0];
    if (!chunks_known() || is_leaf(n) || n->n_kids < 2)
        return false;
    if (n->kind == SEG_OR || n->n_kids > 2 || fuse_wide())
        return true;
    for (size_t k = 0; k < n->n_kids; k++) {
        const struct seg_node *kid = n->kids[k];
        while (kid->kind == SEG_NOT)
            kid = kid->kids[0];
        if (!is_leaf(kid))
            return true;
    }
    return false;
}
#endif

int segment_size(const struct seg_node *node, const struct workspace *ws, int64_t now_ms,
                 uint64_t *size) {
    const roaring_bitmap_t *live = ws->ident.live;
#ifdef SEG_CHUNKS
    if (by_chunks(node))
        return chunk_size(node, ws, now_ms, size);
#endif
    if (node->kind == SEG_AND) {
        struct opnd o = eval_and(node, ws, now_ms, size);
        return o.failed ? -1 : 0;
    }
    struct opnd o = eval(node, ws, now_ms);
    if (o.failed)
        return -1;
    uint64_t in =
        o.in_live ? roaring_bitmap_get_cardinality(o.b) : roaring_bitmap_and_cardinality(o.b, live);
    *size = o.neg ? roaring_bitmap_get_cardinality(live) - in : in;
    opnd_free(&o);
    return 0;
}
