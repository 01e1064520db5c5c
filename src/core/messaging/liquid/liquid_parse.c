/*
 * liquid_parse.c — Liquid text to a tree (liquid.h). Two passes: the text is cut into text,
 * {{ output }} and {% tag %} pieces (whitespace control `{{-` `-}}` `{%-` `-%}` trims the text
 * beside them; raw and comment bodies are taken whole), then the pieces are read into nodes by
 * recursive descent, expressions and filter chains included. Every name is checked here —
 * filters, profile tags, namespaces and where they are allowed — so a render never meets a
 * syntax error. The first fault stops the parse and names its piece, line and column.
 * Cost: linear in the text; memory in the tree's arena; nesting bounded by LIQUID_MAX_DEPTH.
 */
#include "core/messaging/liquid/liquid_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum piece_kind { P_TEXT, P_OUTPUT, P_TAG };

struct piece {
    enum piece_kind kind;
    size_t start, end;          /* the whole piece in the text */
    size_t in_start, in_end;    /* inside the delimiters (and the - marks) */
    bool trim_left, trim_right; /* {{- / -}} */
};

struct parser {
    const char *text;
    size_t len;
    enum liquid_scope scope;
    struct liquid_tree *tree;
    struct liquid_fault *fault;
    struct piece *pieces;
    size_t n_pieces, cap_pieces, next;
    /* the piece being read and a cursor inside it */
    const struct piece *cur;
    size_t pos, end;
    int depth;
    bool nomem;
};

/* ---- faults ---- */

static void locate(struct parser *p, size_t at) {
    int line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    p->fault->line = line;
    p->fault->column = col;
}

/* Records the first fault, about piece pc (NULL: the current one); returns false. */
static bool fail_at(struct parser *p, const struct piece *pc, const char *why) {
    if (p->fault->why)
        return false;
    pc = pc ? pc : p->cur;
    p->fault->why = why;
    if (pc) {
        p->fault->tag = p->text + pc->start;
        p->fault->tag_len = pc->end - pc->start;
        locate(p, pc->start);
    }
    return false;
}

static bool fail(struct parser *p, const char *why) {
    return fail_at(p, NULL, why);
}

/* A fault whose message names something: "unknown filter 'x'". */
static bool fail_named(struct parser *p, const char *what, const char *name, size_t len) {
    if (p->fault->why)
        return false;
    snprintf(p->fault->detail, sizeof p->fault->detail, "%s '%.*s'", what,
             (int)(len > 60 ? 60 : len), name);
    return fail(p, what);
}

static bool oom(struct parser *p) {
    p->nomem = true;
    return fail(p, "out of memory");
}

/* ---- pass 1: pieces ---- */

static bool add_piece(struct parser *p, struct piece pc) {
    if (p->n_pieces == p->cap_pieces) {
        size_t cap = p->cap_pieces ? p->cap_pieces * 2 : 32;
        struct piece *v = realloc(p->pieces, cap * sizeof *v);
        if (!v)
            return oom(p);
        p->pieces = v;
        p->cap_pieces = cap;
    }
    p->pieces[p->n_pieces++] = pc;
    return true;
}

/* The offset of the close delimiter ("}}" or "%}") of a piece opened at `from`, skipping quoted
 * strings and ${…} (so {{${first_name}}} ends at its last two braces); len when none. */
static size_t find_close(const char *s, size_t from, size_t len, char second) {
    for (size_t i = from; i < len; i++) {
        char c = s[i];
        if (c == '\'' || c == '"') {
            const char *q = memchr(s + i + 1, c, len - i - 1);
            if (!q)
                return len;
            i = (size_t)(q - s);
        } else if (c == '$' && i + 1 < len && s[i + 1] == '{') {
            const char *q = memchr(s + i + 2, '}', len - i - 2);
            if (!q)
                return len;
            i = (size_t)(q - s);
        } else if (c == second && i + 1 < len && s[i + 1] == '}') {
            return i;
        }
    }
    return len;
}

static bool word_at(const char *s, size_t at, size_t end, const char *word, size_t *after) {
    while (at < end && isspace((unsigned char)s[at]))
        at++;
    size_t n = strlen(word);
    if (end - at < n || strncmp(s + at, word, n) != 0)
        return false;
    at += n;
    if (at < end && (isalnum((unsigned char)s[at]) || s[at] == '_'))
        return false;
    *after = at;
    return true;
}

/* The end of the body of a raw or comment piece: the offset of its `{% endNAME %}` (*close_end
 * past it, *trim its -%} mark), or len. */
static size_t find_end_tag(const char *s, size_t from, size_t len, const char *name,
                           size_t *close_end, bool *trim_left, bool *trim_right) {
    for (size_t i = from; i + 1 < len; i++) {
        if (s[i] != '{' || s[i + 1] != '%')
            continue;
        size_t in = i + 2, after;
        bool tl = in < len && s[in] == '-';
        if (tl)
            in++;
        if (!word_at(s, in, len, name, &after))
            continue;
        while (after < len && isspace((unsigned char)s[after]))
            after++;
        bool tr = after < len && s[after] == '-';
        if (tr)
            after++;
        if (after + 1 < len && s[after] == '%' && s[after + 1] == '}') {
            *close_end = after + 2;
            *trim_left = tl;
            *trim_right = tr;
            return i;
        }
    }
    return len;
}

static bool cut_pieces(struct parser *p) {
    const char *s = p->text;
    size_t len = p->len, at = 0;
    while (at < len) {
        size_t open = at;
        while (open + 1 < len && !(s[open] == '{' && (s[open + 1] == '{' || s[open + 1] == '%')))
            open++;
        if (open + 1 >= len)
            open = len;
        if (open > at && !add_piece(p, (struct piece){P_TEXT, at, open, at, open, false, false}))
            return false;
        if (open == len)
            break;
        bool tag = s[open + 1] == '%';
        struct piece pc = {tag ? P_TAG : P_OUTPUT, open, 0, open + 2, 0, false, false};
        if (pc.in_start < len && s[pc.in_start] == '-') {
            pc.trim_left = true;
            pc.in_start++;
        }
        size_t close = find_close(s, pc.in_start, len, tag ? '%' : '}');
        if (close == len) {
            pc.end = len;
            return fail_at(p, &pc, tag ? "expected %}" : "expected }}");
        }
        pc.end = close + 2;
        pc.in_end = close;
        if (pc.in_end > pc.in_start && s[pc.in_end - 1] == '-') {
            pc.trim_right = true;
            pc.in_end--;
        }
        if (!add_piece(p, pc))
            return false;
        at = pc.end;
        size_t after;
        const char *body_of = NULL;
        if (tag && word_at(s, pc.in_start, pc.in_end, "raw", &after))
            body_of = "endraw";
        else if (tag && word_at(s, pc.in_start, pc.in_end, "comment", &after))
            body_of = "endcomment";
        if (body_of) {
            size_t close_end = 0;
            bool tl = false, tr = false;
            size_t stop = find_end_tag(s, at, len, body_of, &close_end, &tl, &tr);
            if (stop == len)
                return fail_at(p, &p->pieces[p->n_pieces - 1],
                               body_of[3] == 'r' ? "raw has no endraw"
                                                 : "comment has no endcomment");
            /* the body as text (raw) or nothing (comment), then the end piece */
            if (body_of[3] == 'r' && stop > at &&
                !add_piece(p, (struct piece){P_TEXT, at, stop, at, stop, false, false}))
                return false;
            if (!add_piece(p, (struct piece){P_TAG, stop, close_end, stop + 2 + tl,
                                             close_end - 2 - tr, tl, tr}))
                return false;
            at = close_end;
        }
    }
    /* whitespace control: a - mark trims the whitespace of the text beside it */
    for (size_t i = 0; i < p->n_pieces; i++) {
        struct piece *pc = &p->pieces[i];
        if (pc->kind == P_TEXT)
            continue;
        if (pc->trim_left && i > 0 && p->pieces[i - 1].kind == P_TEXT) {
            struct piece *t = &p->pieces[i - 1];
            while (t->in_end > t->in_start && isspace((unsigned char)s[t->in_end - 1]))
                t->in_end--;
        }
        if (pc->trim_right && i + 1 < p->n_pieces && p->pieces[i + 1].kind == P_TEXT) {
            struct piece *t = &p->pieces[i + 1];
            while (t->in_start < t->in_end && isspace((unsigned char)s[t->in_start]))
                t->in_start++;
        }
    }
    return true;
}

/* ---- pass 2: expressions inside a piece ---- */

static void skip_ws(struct parser *p) {
    while (p->pos < p->end && isspace((unsigned char)p->text[p->pos]))
        p->pos++;
}

static bool at_end(struct parser *p) {
    skip_ws(p);
    return p->pos >= p->end;
}

static bool peek(struct parser *p, const char *tok) {
    skip_ws(p);
    size_t n = strlen(tok);
    return p->end - p->pos >= n && strncmp(p->text + p->pos, tok, n) == 0;
}

static bool eat(struct parser *p, const char *tok) {
    if (!peek(p, tok))
        return false;
    p->pos += strlen(tok);
    return true;
}

static bool ident_char(char c, bool first) {
    return isalpha((unsigned char)c) || c == '_' ||
           (!first && (isdigit((unsigned char)c) || c == '-' || c == '?'));
}

/* An identifier at the cursor: its length (0 when none), cursor past it. */
static size_t ident(struct parser *p, const char **name) {
    skip_ws(p);
    size_t at = p->pos;
    if (at >= p->end || !ident_char(p->text[at], true))
        return 0;
    while (at < p->end && ident_char(p->text[at], false))
        at++;
    /* a trailing - is an operator's or a trim mark's, not the name's */
    *name = p->text + p->pos;
    size_t n = at - p->pos;
    p->pos = at;
    return n;
}

/* The next word without taking it (for keywords: and, or, in, limit, …). */
static bool peek_word(struct parser *p, const char *word) {
    size_t save = p->pos;
    const char *name = NULL;
    size_t n = ident(p, &name);
    p->pos = save;
    return n == strlen(word) && strncmp(name, word, n) == 0;
}

static bool eat_word(struct parser *p, const char *word) {
    if (!peek_word(p, word))
        return false;
    const char *name;
    ident(p, &name);
    return true;
}

static struct lq_expr *new_expr(struct parser *p, enum lq_expr_kind kind) {
    struct lq_expr *e = lq_alloc(p->tree, sizeof *e);
    if (!e) {
        oom(p);
        return NULL;
    }
    e->kind = kind;
    return e;
}

static struct lq_expr *literal(struct parser *p, json_t *v) {
    struct lq_expr *e = v ? new_expr(p, LQ_LITERAL) : NULL;
    if (!e || json_array_append_new(p->tree->literals, v) != 0) {
        if (!e)
            json_decref(v);
        oom(p);
        return NULL;
    }
    e->literal = v;
    return e;
}

static struct lq_expr *parse_expr(struct parser *p);

/* ${name}: the name inside (cursor past the brace), or NULL. */
static char *dollar_name(struct parser *p) {
    if (!eat(p, "${")) {
        fail(p, "expected ${ after $");
        return NULL;
    }
    const char *start = p->text + p->pos;
    const char *close = memchr(start, '}', p->end - p->pos);
    if (!close || close == start) {
        fail(p, "a name is needed inside ${…}");
        return NULL;
    }
    p->pos += (size_t)(close - start) + 1;
    char *name = lq_strndup(p->tree, start, (size_t)(close - start));
    if (!name)
        oom(p);
    return name;
}

static bool add_segment(struct parser *p, struct lq_expr *e, char *key, struct lq_expr *index) {
    struct lq_segment *segs = lq_alloc(p->tree, (e->n_segs + 1) * sizeof *segs);
    if (!segs)
        return oom(p);
    if (e->n_segs)
        memcpy(segs, e->segs, e->n_segs * sizeof *segs);
    segs[e->n_segs].key = key;
    segs[e->n_segs].index = index;
    e->segs = segs;
    e->n_segs++;
    return true;
}

static struct lq_expr *parse_variable(struct parser *p) {
    struct lq_expr *e = new_expr(p, LQ_VARIABLE);
    if (!e)
        return NULL;
    if (peek(p, "${")) {
        e->profile = true;
        if (!(e->root = dollar_name(p)))
            return NULL;
        if (!lq_profile_known(e->root)) {
            char tag[72];
            snprintf(tag, sizeof tag, "${%.60s}", e->root);
            fail_named(p, "unknown tag", tag, strlen(tag));
            return NULL;
        }
    } else {
        const char *name = NULL;
        size_t n = ident(p, &name);
        if (!n) {
            fail(p, "expected a value");
            return NULL;
        }
        if (!(e->root = lq_strndup(p->tree, name, n))) {
            oom(p);
            return NULL;
        }
        bool allowed = false;
        if (lq_namespace_known(e->root, p->scope, &allowed) && !allowed) {
            fail(p, p->scope == LIQUID_CAMPAIGN ? "Canvas entry properties exist only in Canvases"
                                                : "API trigger properties exist only in campaigns");
            return NULL;
        }
    }
    for (;;) {
        if (p->pos < p->end && p->text[p->pos] == '.' &&
            !(p->pos + 1 < p->end && p->text[p->pos + 1] == '.')) {
            p->pos++;
            char *key = NULL;
            if (p->pos < p->end && p->text[p->pos] == '$') {
                key = dollar_name(p);
            } else {
                const char *name = NULL;
                size_t n = ident(p, &name);
                if (!n) {
                    fail(p, "expected a name after '.'");
                    return NULL;
                }
                key = lq_strndup(p->tree, name, n);
                if (!key)
                    oom(p);
            }
            if (!key || !add_segment(p, e, key, NULL))
                return NULL;
        } else if (p->pos < p->end && p->text[p->pos] == '[') {
            p->pos++;
            if (++p->depth > LIQUID_MAX_DEPTH) {
                fail(p, "nested too deep");
                return NULL;
            }
            struct lq_expr *index = parse_expr(p);
            p->depth--;
            if (!index)
                return NULL;
            if (!eat(p, "]")) {
                fail(p, "expected ]");
                return NULL;
            }
            if (!add_segment(p, e, NULL, index))
                return NULL;
        } else {
            return e;
        }
    }
}

static struct lq_expr *parse_string(struct parser *p) {
    char q = p->text[p->pos];
    const char *start = p->text + p->pos + 1;
    const char *close = memchr(start, q, p->end - p->pos - 1);
    if (!close) {
        fail(p, "unterminated string");
        return NULL;
    }
    p->pos += (size_t)(close - start) + 2;
    return literal(p, json_stringn_nocheck(start, (size_t)(close - start)));
}

static struct lq_expr *parse_number(struct parser *p) {
    const char *s = p->text + p->pos;
    size_t n = 0, avail = p->end - p->pos;
    bool real = false;
    if (n < avail && (s[n] == '-' || s[n] == '+'))
        n++;
    while (n < avail && isdigit((unsigned char)s[n]))
        n++;
    /* 1.5 is a real; 1..5 is a range's start */
    if (n + 1 < avail && s[n] == '.' && isdigit((unsigned char)s[n + 1])) {
        real = true;
        n++;
        while (n < avail && isdigit((unsigned char)s[n]))
            n++;
    }
    char buf[64];
    if (n >= sizeof buf) {
        fail(p, "number too long");
        return NULL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    p->pos += n;
    return literal(p, real ? json_real(strtod(buf, NULL)) : json_integer(strtoll(buf, NULL, 10)));
}

static struct lq_expr *parse_expr(struct parser *p) {
    skip_ws(p);
    if (p->pos >= p->end) {
        fail(p, "expected a value");
        return NULL;
    }
    char c = p->text[p->pos];
    if (c == '\'' || c == '"')
        return parse_string(p);
    if (isdigit((unsigned char)c) || ((c == '-' || c == '+') && p->pos + 1 < p->end &&
                                      isdigit((unsigned char)p->text[p->pos + 1])))
        return parse_number(p);
    if (c == '(') {
        p->pos++;
        if (++p->depth > LIQUID_MAX_DEPTH) {
            fail(p, "nested too deep");
            return NULL;
        }
        struct lq_expr *e = new_expr(p, LQ_RANGE);
        if (!e || !(e->from = parse_expr(p)))
            return NULL;
        if (!eat(p, "..")) {
            fail(p, "expected .. in a range");
            return NULL;
        }
        if (!(e->to = parse_expr(p)))
            return NULL;
        if (!eat(p, ")")) {
            fail(p, "expected ) after a range");
            return NULL;
        }
        p->depth--;
        return e;
    }
    static const struct {
        const char *word;
        int what; /* 0 nil, 1 true, 2 false, 3 empty, 4 blank */
    } words[] = {{"nil", 0}, {"null", 0}, {"true", 1}, {"false", 2}, {"empty", 3}, {"blank", 4}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t save = p->pos;
        if (!eat_word(p, words[i].word))
            continue;
        /* `empty.x` or `blank?`-like uses are names, not the literal */
        if (p->pos < p->end && (p->text[p->pos] == '.' || p->text[p->pos] == '[')) {
            p->pos = save;
            break;
        }
        struct lq_expr *e = literal(p, words[i].what == 1   ? json_true()
                                       : words[i].what == 2 ? json_false()
                                                            : json_null());
        if (e)
            e->special = words[i].what == 3 ? LQ_EMPTY : words[i].what == 4 ? LQ_BLANK : LQ_NONE;
        return e;
    }
    return parse_variable(p);
}

/* `| name[: arg, arg…]`, as many as there are. */
static bool parse_filters(struct parser *p, struct lq_output *out) {
    while (eat(p, "|")) {
        const char *name = NULL;
        size_t n = ident(p, &name);
        if (!n)
            return fail(p, "expected a filter name after |");
        const struct lq_filter_def *def = lq_filter_find(name, n);
        if (!def)
            def = lq_filter_find_braze(name, n);
        if (!def)
            return fail_named(p, "unknown filter", name, n);
        struct lq_filter *fs = lq_alloc(p->tree, (out->n_filters + 1) * sizeof *fs);
        if (!fs)
            return oom(p);
        if (out->n_filters)
            memcpy(fs, out->filters, out->n_filters * sizeof *fs);
        struct lq_filter *f = &fs[out->n_filters];
        f->def = def;
        out->filters = fs;
        out->n_filters++;
        if (eat(p, ":")) {
            do {
                struct lq_expr *arg = parse_expr(p);
                if (!arg)
                    return false;
                struct lq_expr **args =
                    lq_alloc(p->tree, (f->n_args + 1) * sizeof(struct lq_expr *));
                if (!args)
                    return oom(p);
                if (f->n_args)
                    memcpy(args, f->args, f->n_args * sizeof(struct lq_expr *));
                args[f->n_args++] = arg;
                f->args = args;
            } while (eat(p, ","));
        }
        if ((int)f->n_args < def->min_args || (int)f->n_args > def->max_args)
            return fail_named(p, "wrong number of arguments for filter", def->name,
                              strlen(def->name));
    }
    return true;
}

static bool parse_output_expr(struct parser *p, struct lq_output *out) {
    if (!(out->expr = parse_expr(p)))
        return false;
    if (!parse_filters(p, out))
        return false;
    if (!at_end(p))
        return fail(p, "unexpected text in a tag");
    return true;
}

static struct lq_cond *parse_cond(struct parser *p) {
    struct lq_cond *c = lq_alloc(p->tree, sizeof *c);
    if (!c) {
        oom(p);
        return NULL;
    }
    c->kind = LQ_CMP;
    if (!(c->a = parse_expr(p)))
        return NULL;
    static const struct {
        const char *tok;
        enum lq_op op;
    } ops[] = {{"==", LQ_EQ}, {"!=", LQ_NE}, {"<>", LQ_NE}, {"<=", LQ_LE},
               {">=", LQ_GE}, {"<", LQ_LT},  {">", LQ_GT}};
    c->op = LQ_TRUTHY;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (eat(p, ops[i].tok)) {
            c->op = ops[i].op;
            break;
        }
    if (c->op == LQ_TRUTHY && eat_word(p, "contains"))
        c->op = LQ_CONTAINS;
    if (c->op != LQ_TRUTHY && !(c->b = parse_expr(p)))
        return NULL;
    bool and = eat_word(p, "and");
    if (!and&&!eat_word(p, "or"))
        return c;
    if (++p->depth > LIQUID_MAX_DEPTH) {
        fail(p, "nested too deep");
        return NULL;
    }
    struct lq_cond *join = lq_alloc(p->tree, sizeof *join);
    if (!join) {
        oom(p);
        return NULL;
    }
    join->kind = and? LQ_AND : LQ_OR;
    join->left = c;
    join->right = parse_cond(p);
    p->depth--;
    return join->right ? join : NULL;
}

/* ---- pass 2: tags and blocks ---- */

static struct lq_node *new_node(struct parser *p, struct lq_block *b, enum lq_node_kind kind) {
    struct lq_node *n = lq_alloc(p->tree, sizeof *n);
    if (!n) {
        oom(p);
        return NULL;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct lq_node **v = lq_alloc(p->tree, cap * sizeof(struct lq_node *));
        if (!v) {
            oom(p);
            return NULL;
        }
        if (b->n)
            memcpy(v, b->v, b->n * sizeof(struct lq_node *));
        b->v = v;
        b->cap = cap;
    }
    n->kind = kind;
    b->v[b->n++] = n;
    return n;
}

/* Enters piece pc: the cursor at its inside. */
static void enter(struct parser *p, const struct piece *pc) {
    p->cur = pc;
    p->pos = pc->in_start;
    p->end = pc->in_end;
}

/* The tag name of a tag piece (cursor past it). */
static size_t tag_name(struct parser *p, const char **name) {
    size_t n = ident(p, name);
    return n;
}

static bool is_word(const char *name, size_t n, const char *word) {
    return n == strlen(word) && strncmp(name, word, n) == 0;
}

static bool parse_block(struct parser *p, struct lq_block *b, const char *const *ends,
                        const char **ended);

static bool add_branch(struct parser *p, struct lq_node *n, struct lq_branch **br) {
    struct lq_branch *v = lq_alloc(p->tree, (n->n_branches + 1) * sizeof *v);
    if (!v)
        return oom(p);
    if (n->n_branches)
        memcpy(v, n->branches, n->n_branches * sizeof *v);
    n->branches = v;
    *br = &v[n->n_branches++];
    return true;
}

static bool parse_if(struct parser *p, struct lq_block *b, bool unless) {
    struct lq_node *n = new_node(p, b, LQ_IF);
    struct lq_branch *br = NULL;
    if (!n || !add_branch(p, n, &br))
        return false;
    br->negate = unless;
    if (!(br->cond = parse_cond(p)))
        return false;
    if (!at_end(p))
        return fail(p, "unexpected text in a tag");
    const char *const if_ends[] = {"elsif", "else", unless ? "endunless" : "endif", NULL};
    const char *const else_ends[] = {unless ? "endunless" : "endif", NULL};
    const struct piece *opener = p->cur;
    for (;;) {
        const char *ended = NULL;
        bool in_else = br->is_else;
        if (!parse_block(p, &br->body, in_else ? else_ends : if_ends, &ended))
            return false;
        if (!ended)
            return fail_at(p, opener, unless ? "unless has no endunless" : "if has no endif");
        if (ended[0] == 'e' && ended[1] == 'n')
            return true;
        if (!add_branch(p, n, &br))
            return false;
        if (strcmp(ended, "else") == 0) {
            br->is_else = true;
            if (!at_end(p))
                return fail(p, "unexpected text in a tag");
        } else if (!(br->cond = parse_cond(p))) {
            return false;
        } else if (!at_end(p)) {
            return fail(p, "unexpected text in a tag");
        }
    }
}

static bool parse_when_values(struct parser *p, struct lq_branch *br) {
    do {
        struct lq_expr *e = parse_expr(p);
        if (!e)
            return false;
        struct lq_expr **v = lq_alloc(p->tree, (br->n_whens + 1) * sizeof(struct lq_expr *));
        if (!v)
            return oom(p);
        if (br->n_whens)
            memcpy(v, br->whens, br->n_whens * sizeof(struct lq_expr *));
        v[br->n_whens++] = e;
        br->whens = v;
    } while (eat(p, ",") || eat_word(p, "or"));
    if (!at_end(p))
        return fail(p, "unexpected text in a tag");
    return true;
}

static bool parse_case(struct parser *p, struct lq_block *b) {
    struct lq_node *n = new_node(p, b, LQ_CASE);
    if (!n || !(n->subject = parse_expr(p)))
        return false;
    if (!at_end(p))
        return fail(p, "unexpected text in a tag");
    const struct piece *opener = p->cur;
    /* text before the first when is ignored, as Liquid does */
    struct lq_block ignored = {0};
    const char *const ends[] = {"when", "else", "endcase", NULL};
    const char *ended = NULL;
    if (!parse_block(p, &ignored, ends, &ended))
        return false;
    for (;;) {
        if (!ended)
            return fail_at(p, opener, "case has no endcase");
        if (strcmp(ended, "endcase") == 0)
            return true;
        struct lq_branch *br = NULL;
        if (!add_branch(p, n, &br))
            return false;
        if (strcmp(ended, "else") == 0) {
            br->is_else = true;
            if (!at_end(p))
                return fail(p, "unexpected text in a tag");
        } else if (!parse_when_values(p, br)) {
            return false;
        }
        if (!parse_block(p, &br->body, ends, &ended))
            return false;
    }
}

static bool parse_for(struct parser *p, struct lq_block *b) {
    struct lq_node *n = new_node(p, b, LQ_FOR);
    const char *name = NULL;
    size_t len = n ? ident(p, &name) : 0;
    if (!n)
        return false;
    if (!len)
        return fail(p, "for needs a variable name");
    if (!(n->name = lq_strndup(p->tree, name, len)))
        return oom(p);
    if (!eat_word(p, "in"))
        return fail(p, "expected in");
    if (!(n->subject = parse_expr(p)))
        return false;
    for (;;) {
        if (eat_word(p, "reversed")) {
            n->reversed = true;
        } else if (eat_word(p, "limit")) {
            if (!eat(p, ":") || !(n->limit = parse_expr(p)))
                return fail(p, "limit needs a value: limit: 3");
        } else if (eat_word(p, "offset")) {
            if (!eat(p, ":") || !(n->offset = parse_expr(p)))
                return fail(p, "offset needs a value: offset: 3");
        } else if (at_end(p)) {
            break;
        } else {
            return fail(p, "unexpected text in a tag");
        }
    }
    const struct piece *opener = p->cur;
    const char *const ends[] = {"else", "endfor", NULL};
    const char *const else_ends[] = {"endfor", NULL};
    const char *ended = NULL;
    if (!parse_block(p, &n->body, ends, &ended))
        return false;
    if (ended && strcmp(ended, "else") == 0) {
        if (!at_end(p))
            return fail(p, "unexpected text in a tag");
        if (!parse_block(p, &n->else_body, else_ends, &ended))
            return false;
    }
    if (!ended)
        return fail_at(p, opener, "for has no endfor");
    return true;
}

static bool parse_assign(struct parser *p, struct lq_block *b) {
    struct lq_node *n = new_node(p, b, LQ_ASSIGN);
    const char *name = NULL;
    size_t len = n ? ident(p, &name) : 0;
    if (!n)
        return false;
    if (!len || !eat(p, "="))
        return fail(p, "assign needs a name and a value: assign x = 1");
    if (!(n->name = lq_strndup(p->tree, name, len)))
        return oom(p);
    return parse_output_expr(p, &n->out);
}

static bool parse_capture(struct parser *p, struct lq_block *b) {
    struct lq_node *n = new_node(p, b, LQ_CAPTURE);
    const char *name = NULL;
    size_t len = n ? ident(p, &name) : 0;
    if (!n)
        return false;
    if (!len || !at_end(p))
        return fail(p, "capture needs a variable name");
    if (!(n->name = lq_strndup(p->tree, name, len)))
        return oom(p);
    const struct piece *opener = p->cur;
    const char *const ends[] = {"endcapture", NULL};
    const char *ended = NULL;
    if (!parse_block(p, &n->body, ends, &ended))
        return false;
    return ended ? true : fail_at(p, opener, "capture has no endcapture");
}

static bool parse_abort(struct parser *p, struct lq_block *b) {
    struct lq_node *n = new_node(p, b, LQ_ABORT);
    if (!n)
        return false;
    if (eat(p, "(")) {
        if (!eat(p, ")")) {
            if (!(n->subject = parse_expr(p)))
                return false;
            if (!eat(p, ")"))
                return fail(p, "expected ) after the abort reason");
        }
    }
    return at_end(p) ? true : fail(p, "unexpected text in a tag");
}

/* Reads pieces into b until one of ends (NULL-terminated; *ended set to it, the cursor inside
 * it) or the end of the text (*ended NULL). An end tag of no open block is a fault. */
static bool parse_block(struct parser *p, struct lq_block *b, const char *const *ends,
                        const char **ended) {
    *ended = NULL;
    if (++p->depth > LIQUID_MAX_DEPTH)
        return fail(p, "nested too deep");
    while (p->next < p->n_pieces) {
        const struct piece *pc = &p->pieces[p->next++];
        enter(p, pc);
        if (pc->kind == P_TEXT) {
            if (pc->in_end == pc->in_start)
                continue;
            struct lq_node *n = new_node(p, b, LQ_TEXT);
            if (!n ||
                !(n->text = lq_strndup(p->tree, p->text + pc->in_start, pc->in_end - pc->in_start)))
                return oom(p);
            n->len = pc->in_end - pc->in_start;
            continue;
        }
        if (pc->kind == P_OUTPUT) {
            struct lq_node *n = new_node(p, b, LQ_OUTPUT);
            if (!n || !parse_output_expr(p, &n->out))
                return false;
            continue;
        }
        const char *name = NULL;
        size_t len = tag_name(p, &name);
        if (!len)
            return fail(p, "expected a tag name");
        for (size_t i = 0; ends && ends[i]; i++)
            if (is_word(name, len, ends[i])) {
                *ended = ends[i];
                p->depth--;
                return true;
            }
        bool ok;
        if (is_word(name, len, "if"))
            ok = parse_if(p, b, false);
        else if (is_word(name, len, "unless"))
            ok = parse_if(p, b, true);
        else if (is_word(name, len, "case"))
            ok = parse_case(p, b);
        else if (is_word(name, len, "for"))
            ok = parse_for(p, b);
        else if (is_word(name, len, "assign"))
            ok = parse_assign(p, b);
        else if (is_word(name, len, "capture"))
            ok = parse_capture(p, b);
        else if (is_word(name, len, "abort_message"))
            ok = parse_abort(p, b);
        else if (is_word(name, len, "break") || is_word(name, len, "continue")) {
            struct lq_node *n =
                new_node(p, b, is_word(name, len, "break") ? LQ_BREAK : LQ_CONTINUE);
            ok = n && (at_end(p) || fail(p, "unexpected text in a tag"));
        } else if (is_word(name, len, "raw") || is_word(name, len, "comment")) {
            /* the body is the next piece (raw: text); its end piece follows */
            const char *closing = is_word(name, len, "raw") ? "endraw" : "endcomment";
            const char *const body_ends[] = {closing, NULL};
            const char *got = NULL;
            ok = parse_block(p, b, body_ends, &got);
        } else if (is_word(name, len, "connected_content") ||
                   is_word(name, len, "content_blocks") || is_word(name, len, "catalog_items"))
            ok = fail_named(p, "not supported by cohortd: tag", name, len);
        else
            ok = fail_named(p, "unknown tag", name, len);
        if (!ok)
            return false;
    }
    p->depth--;
    return true; /* *ended NULL: the caller names the block left open */
}

enum cd_err liquid_parse(const char *text, enum liquid_scope scope, struct liquid_tree **out,
                         struct liquid_fault *fault) {
    memset(fault, 0, sizeof *fault);
    *out = NULL;
    struct liquid_tree *tree = calloc(1, sizeof *tree);
    if (!tree || !(tree->literals = json_array())) {
        free(tree);
        return CD_E_NOMEM;
    }
    struct parser p = {
        .text = text, .len = strlen(text), .scope = scope, .tree = tree, .fault = fault};
    bool ok = cut_pieces(&p);
    const char *ended = NULL;
    if (ok)
        ok = parse_block(&p, &tree->root, NULL, &ended);
    free(p.pieces);
    if (!ok) {
        liquid_free(tree);
        return p.nomem ? CD_E_NOMEM : CD_E_INVALID;
    }
    *out = tree;
    return CD_OK;
}
