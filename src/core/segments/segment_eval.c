/* segment_eval.c — a filter tree's audience and its size from the workspace's indexes (see
 * segment_filter.h). Memory only; reads the indexes, never changes them.
 *
 * Each node evaluates to an operand: a bitmap `b` standing for b ∩ live, or, negated, for
 * live \ b. Leaves borrow the index's bitmaps where they can (a cohort's members, the identified
 * set), NOT flips the flag, AND and OR combine their children's operands with the fewest
 * materialised intermediates, and a size is counted with the cardinality-only operations
 * (roaring_bitmap_and_cardinality / andnot_cardinality) on the last step, so "cohort AND NOT
 * cohort" allocates nothing. Cohort members are always live users (cohort.h), so a cohort
 * never needs "∩ live". */
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
        roaring_bitmap_t *eq = attr_index_equals(ix, n->name, n->value);
        if (has && eq)
            roaring_bitmap_andnot_inplace(has, eq);
        if (eq)
            roaring_bitmap_free(eq);
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
static roaring_bitmap_t *chain(const roaring_bitmap_t *start, const struct step *steps,
                               size_t n, uint64_t *size) {
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
        const roaring_bitmap_t **v = malloc(n_neg * sizeof *v);
        bool in_live = true;
        for (size_t i = 0; v && i < n_neg; i++) {
            v[i] = kids[i].b;
            in_live = in_live && kids[i].in_live;
        }
        if (n_neg == 1) {
            out = kids[0];
            kids[0].own = NULL;
        } else if (v) {
            out = owned(roaring_bitmap_or_many(n_neg, v), true, in_live);
        }
        free(v);
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
    const roaring_bitmap_t **v = malloc(n->n_kids * sizeof *v);
    size_t n_pos = 0;
    struct opnd out = {.failed = true};
    if (!kids || !v || !eval_kids(n, ws, now_ms, kids, &n_pos)) {
        free(kids);
        free(v);
        return out;
    }
    size_t n_neg = n->n_kids - n_pos;
    if (n_neg == 0) {
        bool in_live = true;
        for (size_t i = 0; i < n_pos; i++) {
            v[i] = kids[i].b;
            in_live = in_live && kids[i].in_live;
        }
        if (n_pos == 1) {
            out = kids[0];
            kids[0].own = NULL;
        } else {
            out = owned(roaring_bitmap_or_many(n_pos, v), false, in_live);
        }
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
    free(v);
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
    case SEG_ATTR:
        return owned(eval_attr(n, ws), n->op == SEG_NOT_EXISTS, false);
    case SEG_EVENT: {
        int64_t since = n->within_days ? now_ms - n->within_days * 86400000LL : 0;
        return owned(event_index_performed(&ws->events, n->name, n->min_count, since),
                     n->negate, false);
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

int segment_size(const struct seg_node *node, const struct workspace *ws, int64_t now_ms,
                 uint64_t *size) {
    const roaring_bitmap_t *live = ws->ident.live;
    if (node->kind == SEG_AND) {
        struct opnd o = eval_and(node, ws, now_ms, size);
        return o.failed ? -1 : 0;
    }
    struct opnd o = eval(node, ws, now_ms);
    if (o.failed)
        return -1;
    uint64_t in = o.in_live ? roaring_bitmap_get_cardinality(o.b)
                            : roaring_bitmap_and_cardinality(o.b, live);
    *size = o.neg ? roaring_bitmap_get_cardinality(live) - in : in;
    opnd_free(&o);
    return 0;
}
