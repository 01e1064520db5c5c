/*
 * liquid_int.h — the Liquid module's insides, shared by its files: the tree (nodes,
 * expressions, filter calls), the value helpers (values are Jansson values), the filter table
 * and the growable text buffer. Nothing outside src/core/messaging/liquid/ includes it.
 */
#ifndef COHORTD_CORE_MESSAGING_LIQUID_LIQUID_INT_H
#define COHORTD_CORE_MESSAGING_LIQUID_LIQUID_INT_H

#include "core/messaging/liquid/liquid.h"

/* ---- the tree ---- */

enum lq_special { LQ_NONE, LQ_EMPTY, LQ_BLANK };

enum lq_expr_kind { LQ_LITERAL, LQ_VARIABLE, LQ_RANGE };

struct lq_expr;

struct lq_segment {
    char *key;             /* .key, .${key} or ["key"]; NULL when index is used */
    struct lq_expr *index; /* [expr] */
};

struct lq_expr {
    enum lq_expr_kind kind;
    json_t *literal;         /* LQ_LITERAL: borrowed from the tree's literal list */
    enum lq_special special; /* LQ_LITERAL: empty / blank (literal is null) */
    bool profile;            /* LQ_VARIABLE: root is a ${tag} of the profile */
    char *root;              /* LQ_VARIABLE: the tag or the first name */
    struct lq_segment *segs;
    size_t n_segs;
    struct lq_expr *from, *to; /* LQ_RANGE */
};

struct lq_filter_def;

struct lq_filter {
    const struct lq_filter_def *def;
    struct lq_expr **args;
    size_t n_args;
};

/* An expression with its filter chain: {{ }} and assign. */
struct lq_output {
    struct lq_expr *expr;
    struct lq_filter *filters;
    size_t n_filters;
};

enum lq_op { LQ_EQ, LQ_NE, LQ_LT, LQ_GT, LQ_LE, LQ_GE, LQ_CONTAINS, LQ_TRUTHY };

/* `a op b`, or `left and/or right` (Liquid reads them right to left, no precedence). */
struct lq_cond {
    enum { LQ_CMP, LQ_AND, LQ_OR } kind;
    enum lq_op op;
    struct lq_expr *a, *b;        /* LQ_CMP; b NULL for LQ_TRUTHY */
    struct lq_cond *left, *right; /* LQ_AND, LQ_OR */
};

struct lq_node;

struct lq_block {
    struct lq_node **v;
    size_t n, cap;
};

/* One branch of if / unless / case: its condition (NULL: else), or the values of a when. */
struct lq_branch {
    struct lq_cond *cond;
    bool negate; /* unless */
    struct lq_expr **whens;
    size_t n_whens;
    bool is_else;
    struct lq_block body;
};

enum lq_node_kind {
    LQ_TEXT,
    LQ_OUTPUT,
    LQ_IF,
    LQ_CASE,
    LQ_ASSIGN,
    LQ_CAPTURE,
    LQ_FOR,
    LQ_BREAK,
    LQ_CONTINUE,
    LQ_ABORT,
};

struct lq_node {
    enum lq_node_kind kind;
    char *text; /* LQ_TEXT */
    size_t len;
    struct lq_output out; /* LQ_OUTPUT, LQ_ASSIGN */
    char *name;           /* LQ_ASSIGN, LQ_CAPTURE, LQ_FOR (the loop variable) */
    struct lq_branch *branches;
    size_t n_branches;       /* LQ_IF, LQ_CASE */
    struct lq_expr *subject; /* LQ_CASE; LQ_FOR (the collection); LQ_ABORT (NULL: no reason) */
    struct lq_expr *limit, *offset;
    bool reversed;
    struct lq_block body, else_body; /* LQ_CAPTURE, LQ_FOR */
};

/* All of a tree's memory comes from its arena; literals are kept in one array. */
struct lq_chunk;

struct liquid_tree {
    struct lq_chunk *chunks;
    json_t *literals;
    struct lq_block root;
};

void *lq_alloc(struct liquid_tree *t, size_t n); /* zeroed; NULL when out of memory */
char *lq_strndup(struct liquid_tree *t, const char *s, size_t n);

/* ---- text buffers ---- */

struct lq_buf {
    char *p;
    size_t len, cap;
    size_t max;  /* the most bytes it may hold */
    bool failed; /* out of memory */
    bool full;   /* a put would have passed max */
};

void lq_put(struct lq_buf *b, const char *s, size_t n);
void lq_puts(struct lq_buf *b, const char *s);
/* The text (owned by the caller; "" when nothing was put), or NULL after a failure. */
char *lq_buf_take(struct lq_buf *b);

/* ---- values ---- */

bool lq_truthy(const json_t *v);
bool lq_is_blank(const json_t *v);
bool lq_is_empty(const json_t *v);
/* Liquid's == (numbers by value, 1 == 1.0). */
bool lq_equal(const json_t *a, const json_t *b);
/* <0, 0, >0 for two numbers or two strings; *ok false for any other pair. */
int lq_compare(const json_t *a, const json_t *b, bool *ok);
/* Appends v as Liquid prints it: nil "", arrays their elements, hashes as Ruby writes them. */
void lq_put_value(struct lq_buf *b, const json_t *v);
/* v as text (new string value), as lq_put_value writes it; NULL when out of memory. */
json_t *lq_to_string(const json_t *v, size_t max);
/* v as a number: numbers as they are, numeric strings parsed, anything else 0. New reference. */
json_t *lq_to_number(const json_t *v);
double lq_number(const json_t *v);
/* lq_number as a whole count for lengths, offsets and range bounds: truncated toward zero and
 * clamped to +-LQ_COUNT_MAX (NaN gives 0), so no conversion can overflow. */
#define LQ_COUNT_MAX 1000000000000000LL
long long lq_count(const json_t *v);

/* ---- filters ---- */

struct lq_filter_ctx {
    const struct liquid_vars *vars;
    const char *error; /* set by a filter that cannot go on (a bound passed) */
};

typedef json_t *(*lq_filter_fn)(struct lq_filter_ctx *c, const json_t *in, json_t *const *args,
                                size_t n_args);

struct lq_filter_def {
    const char *name;
    int min_args, max_args;
    lq_filter_fn fn; /* a new reference, or NULL when out of memory */
    bool url_safe;   /* its output is already fit for a URL (not percent-encoded again) */
};

/* The filter named name[0..len), or NULL. Standard ones first, then Braze's. */
const struct lq_filter_def *lq_filter_find(const char *name, size_t len);
const struct lq_filter_def *lq_filter_find_braze(const char *name, size_t len);

/* The filters of liquid_date.c. */
json_t *lq_filter_date(struct lq_filter_ctx *c, const json_t *in, json_t *const *a, size_t n);
json_t *lq_filter_time_zone(struct lq_filter_ctx *c, const json_t *in, json_t *const *a, size_t n);

/* Time helpers of the date filters: a value as Unix seconds and a UTC offset, false when it is
 * no time. */
bool lq_time_of(const json_t *v, int64_t now_ms, int64_t *secs, int *offset_min);

/* ---- variables ---- */

/* The value of a ${tag} of the profile (new reference; JSON null when the profile has none). */
json_t *lq_profile_value(const struct liquid_vars *vars, const char *tag);
/* True when tag names a profile value. */
bool lq_profile_known(const char *tag);
/* The object a namespace name stands for (borrowed), or NULL when name is no namespace in the
 * render's vars. */
const json_t *lq_namespace(const struct liquid_vars *vars, const char *name);
/* Whether a namespace name is known at all, and allowed in scope (*allowed). */
bool lq_namespace_known(const char *name, enum liquid_scope scope, bool *allowed);

#endif
