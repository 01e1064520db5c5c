/*
 * liquid_render.c — rendering a parsed tree for one user (liquid.h): variables are looked up
 * in the render's own assignments first, then the namespaces and profile tags of the user's
 * liquid_vars; tags run as Liquid runs them (for scopes its variable and forloop, case renders
 * every matching when, abort_message stops the render). In a URL each {{ }}'s value is
 * percent-encoded unless its last filter already encoded it (url_encode, url_escape,
 * url_param_escape). Every step counts against LIQUID_MAX_STEPS, every buffer against
 * LIQUID_MAX_OUTPUT: a render ends, it never loops or grows without bound.
 */
#include "core/messaging/liquid/liquid_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum flow { FLOW_NONE, FLOW_BREAK, FLOW_CONTINUE };

#define ABORT_REASON_MAX 1024 /* bytes of an abort_message reason kept */

struct render {
    const struct liquid_vars *vars;
    json_t *locals;
    struct lq_buf *out;
    size_t steps;
    enum flow flow;
    enum liquid_result result;
    char *reason;
};

/* Stops the render with a result and reason (the first one wins). Returns false. */
static bool stop(struct render *r, enum liquid_result result, const char *reason) {
    if (r->result != LIQUID_OK)
        return false;
    r->result = result;
    r->reason = reason ? strdup(reason) : NULL;
    if (reason && !r->reason)
        r->result = LIQUID_NOMEM;
    return false;
}

static bool nomem(struct render *r) {
    return stop(r, LIQUID_NOMEM, NULL);
}

static bool step(struct render *r) {
    if (++r->steps <= LIQUID_MAX_STEPS)
        return true;
    char why[96];
    snprintf(why, sizeof why, "the template took more than %d steps", LIQUID_MAX_STEPS);
    return stop(r, LIQUID_FAILED, why);
}

static bool too_long(struct render *r) {
    char why[96];
    snprintf(why, sizeof why, "the rendered text is over %d bytes", LIQUID_MAX_OUTPUT);
    return stop(r, LIQUID_FAILED, why);
}

/* ---- values of expressions ---- */

static json_t *eval(struct render *r, const struct lq_expr *e);

/* v[key], with Liquid's size, first and last. New reference (null when absent). */
static json_t *member(const json_t *v, const char *key) {
    if (json_is_object(v)) {
        json_t *x = json_object_get(v, key);
        if (x)
            return json_incref(x);
        if (strcmp(key, "size") == 0)
            return json_integer((json_int_t)json_object_size(v));
        return json_null();
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (strcmp(key, "size") == 0)
            return json_integer((json_int_t)n);
        if (strcmp(key, "first") == 0 && n)
            return json_incref(json_array_get(v, 0));
        if (strcmp(key, "last") == 0 && n)
            return json_incref(json_array_get(v, n - 1));
        return json_null();
    }
    if (json_is_string(v) && strcmp(key, "size") == 0)
        return json_integer((json_int_t)json_string_length(v));
    return json_null();
}

static json_t *indexed(const json_t *v, const json_t *index) {
    if (json_is_array(v) && json_is_integer(index)) {
        json_int_t i = json_integer_value(index), n = (json_int_t)json_array_size(v);
        if (i < 0)
            i += n;
        json_t *x = i >= 0 && i < n ? json_array_get(v, (size_t)i) : NULL;
        return x ? json_incref(x) : json_null();
    }
    if (json_is_string(index))
        return member(v, json_string_value(index));
    return json_null();
}

static json_t *variable(struct render *r, const struct lq_expr *e) {
    json_t *v;
    if (e->profile) {
        v = lq_profile_value(r->vars, e->root);
    } else if ((v = json_object_get(r->locals, e->root))) {
        json_incref(v);
    } else {
        const json_t *ns = lq_namespace(r->vars, e->root);
        v = ns ? json_incref((json_t *)ns) : json_null();
    }
    for (size_t i = 0; v && i < e->n_segs; i++) {
        json_t *next;
        if (e->segs[i].key) {
            next = member(v, e->segs[i].key);
        } else {
            json_t *index = eval(r, e->segs[i].index);
            if (!index) {
                json_decref(v);
                return NULL;
            }
            next = indexed(v, index);
            json_decref(index);
        }
        json_decref(v);
        v = next;
    }
    if (!v)
        nomem(r);
    return v;
}

static json_t *range(struct render *r, const struct lq_expr *e) {
    json_t *from = eval(r, e->from), *to = from ? eval(r, e->to) : NULL;
    json_t *out = NULL;
    if (from && to) {
        long long a = lq_count(from), b = lq_count(to);
        if (b - a + 1 > LIQUID_MAX_ITERATIONS) {
            char why[96];
            snprintf(why, sizeof why, "a range longer than %d", LIQUID_MAX_ITERATIONS);
            stop(r, LIQUID_FAILED, why);
        } else if ((out = json_array())) {
            for (long long i = a; i <= b; i++)
                if (json_array_append_new(out, json_integer(i)) != 0) {
                    json_decref(out);
                    out = NULL;
                    break;
                }
            if (!out)
                nomem(r);
        } else {
            nomem(r);
        }
    }
    json_decref(from);
    json_decref(to);
    return out;
}

/* A new reference, or NULL when the render stops. */
static json_t *eval(struct render *r, const struct lq_expr *e) {
    if (!step(r))
        return NULL;
    switch (e->kind) {
    case LQ_LITERAL:
        return json_incref(e->literal);
    case LQ_VARIABLE:
        return variable(r, e);
    case LQ_RANGE:
        return range(r, e);
    }
    return NULL;
}

/* What a filter's result costs beyond its step: its copying, so that large values made again
 * and again meet the step bound. */
static bool charge(struct render *r, const json_t *v) {
    size_t cost = json_is_string(v)  ? json_string_length(v) / 256
                  : json_is_array(v) ? json_array_size(v) / 16
                                     : 0;
    r->steps += cost;
    return step(r);
}

static json_t *eval_output(struct render *r, const struct lq_output *o) {
    json_t *v = eval(r, o->expr);
    for (size_t i = 0; v && i < o->n_filters; i++) {
        const struct lq_filter *f = &o->filters[i];
        json_t *args[8] = {0};
        size_t n = f->n_args < 8 ? f->n_args : 8;
        bool ok = step(r);
        for (size_t k = 0; ok && k < n; k++)
            ok = (args[k] = eval(r, f->args[k])) != NULL;
        struct lq_filter_ctx c = {r->vars, NULL};
        json_t *next = ok ? f->def->fn(&c, v, args, n) : NULL;
        for (size_t k = 0; k < n; k++)
            json_decref(args[k]);
        json_decref(v);
        v = next;
        if (ok && c.error) {
            json_decref(v);
            v = NULL;
            stop(r, LIQUID_FAILED, c.error);
        } else if (ok && !v) {
            nomem(r);
        } else if (v && json_is_string(v) && json_string_length(v) > LIQUID_MAX_OUTPUT) {
            json_decref(v);
            v = NULL;
            too_long(r);
        } else if (v && json_is_array(v) && json_array_size(v) > LIQUID_MAX_ITEMS) {
            json_decref(v);
            v = NULL;
            char why[96];
            snprintf(why, sizeof why, "an array grew over %d items", LIQUID_MAX_ITEMS);
            stop(r, LIQUID_FAILED, why);
        } else if (v && !charge(r, v)) {
            json_decref(v);
            v = NULL;
        }
    }
    return v;
}

/* ---- conditions ---- */

static bool special_match(enum lq_special sp, const json_t *v) {
    return sp == LQ_EMPTY ? lq_is_empty(v) : lq_is_blank(v);
}

static bool contains(const json_t *a, const json_t *b) {
    if (json_is_string(a)) {
        json_t *s = lq_to_string(b, LIQUID_MAX_OUTPUT);
        bool yes = s && strstr(json_string_value(a), json_string_value(s)) != NULL;
        json_decref(s);
        return yes;
    }
    if (json_is_array(a)) {
        for (size_t i = 0; i < json_array_size(a); i++)
            if (lq_equal(json_array_get(a, i), b))
                return true;
        return false;
    }
    if (json_is_object(a) && json_is_string(b))
        return json_object_get(a, json_string_value(b)) != NULL;
    return false;
}

static bool compare(enum lq_op op, const struct lq_expr *ea, const json_t *a,
                    const struct lq_expr *eb, const json_t *b) {
    if (op == LQ_EQ || op == LQ_NE) {
        bool eq;
        if (eb->kind == LQ_LITERAL && eb->special != LQ_NONE)
            eq = special_match(eb->special, a);
        else if (ea->kind == LQ_LITERAL && ea->special != LQ_NONE)
            eq = special_match(ea->special, b);
        else
            eq = lq_equal(a, b);
        return op == LQ_EQ ? eq : !eq;
    }
    if (op == LQ_CONTAINS)
        return contains(a, b);
    bool ok = false;
    int c = lq_compare(a, b, &ok);
    if (!ok)
        return false;
    switch (op) {
    case LQ_LT:
        return c < 0;
    case LQ_GT:
        return c > 0;
    case LQ_LE:
        return c <= 0;
    case LQ_GE:
        return c >= 0;
    default:
        return false;
    }
}

/* *yes set; false when the render stops. */
static bool cond(struct render *r, const struct lq_cond *c, bool *yes) {
    if (!step(r))
        return false;
    if (c->kind != LQ_CMP) {
        bool left = false, right = false;
        if (!cond(r, c->left, &left))
            return false;
        if (c->kind == LQ_AND && !left) {
            *yes = false;
            return true;
        }
        if (c->kind == LQ_OR && left) {
            *yes = true;
            return true;
        }
        if (!cond(r, c->right, &right))
            return false;
        *yes = right;
        return true;
    }
    json_t *a = eval(r, c->a);
    if (!a)
        return false;
    if (c->op == LQ_TRUTHY) {
        *yes = lq_truthy(a);
        json_decref(a);
        return true;
    }
    json_t *b = eval(r, c->b);
    if (!b) {
        json_decref(a);
        return false;
    }
    *yes = compare(c->op, c->a, a, c->b, b);
    json_decref(a);
    json_decref(b);
    return true;
}

/* ---- nodes ---- */

static bool run_block(struct render *r, const struct lq_block *b);

/* Percent-encodes all but the unreserved characters (RFC 3986): a value stays one path
 * segment or query value. */
static void put_url_encoded(struct lq_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || strchr("-._~", c)) {
            lq_put(b, s + i, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            lq_put(b, esc, 3);
        }
    }
}

static bool run_output(struct render *r, const struct lq_output *o) {
    json_t *v = eval_output(r, o);
    if (!v)
        return false;
    bool encoded = o->n_filters && o->filters[o->n_filters - 1].def->url_safe;
    if (r->vars->url_encode && !encoded) {
        struct lq_buf tmp = {0};
        lq_put_value(&tmp, v);
        char *text = lq_buf_take(&tmp);
        if (!text) {
            json_decref(v);
            return tmp.full ? too_long(r) : nomem(r);
        }
        put_url_encoded(r->out, text, strlen(text));
        free(text);
    } else {
        lq_put_value(r->out, v);
    }
    json_decref(v);
    return true;
}

static bool run_if(struct render *r, const struct lq_node *n) {
    for (size_t i = 0; i < n->n_branches; i++) {
        const struct lq_branch *br = &n->branches[i];
        bool yes = true;
        if (!br->is_else && !cond(r, br->cond, &yes))
            return false;
        if (br->negate)
            yes = !yes;
        if (yes)
            return run_block(r, &br->body);
    }
    return true;
}

static bool run_case(struct render *r, const struct lq_node *n) {
    json_t *subject = eval(r, n->subject);
    if (!subject)
        return false;
    bool matched = false, ok = true;
    for (size_t i = 0; ok && i < n->n_branches && r->flow == FLOW_NONE; i++) {
        const struct lq_branch *br = &n->branches[i];
        if (br->is_else) {
            if (!matched)
                ok = run_block(r, &br->body);
            continue;
        }
        for (size_t k = 0; ok && k < br->n_whens; k++) {
            json_t *v = eval(r, br->whens[k]);
            if (!v) {
                ok = false;
                break;
            }
            bool eq = lq_equal(subject, v);
            json_decref(v);
            if (eq) {
                matched = true;
                ok = run_block(r, &br->body);
                break;
            }
        }
    }
    json_decref(subject);
    return ok;
}

/* The items a for loop walks: an array's elements, a hash's [key, value] pairs, a string as
 * one item; nil and the rest none. New array, or NULL when out of memory. */
static json_t *loop_items(const json_t *v) {
    if (json_is_array(v))
        return json_incref((json_t *)v);
    json_t *items = json_array();
    if (!items)
        return NULL;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            json_array_append_new(items, json_pack("[sO]", k, x));
        }
    } else if (json_is_string(v) && json_string_length(v)) {
        json_array_append(items, (json_t *)v);
    }
    return items;
}

static json_t *forloop(size_t i, size_t n) {
    return json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:I}", "index", (json_int_t)i + 1, "index0",
                     (json_int_t)i, "rindex", (json_int_t)(n - i), "rindex0",
                     (json_int_t)(n - i - 1), "first", i == 0, "last", i + 1 == n, "length",
                     (json_int_t)n);
}

/* Puts back a local that a for loop shadowed (NULL: it did not exist). */
static void restore(json_t *locals, const char *name, json_t *saved) {
    if (saved)
        json_object_set_new(locals, name, saved);
    else
        json_object_del(locals, name);
}

static bool run_for(struct render *r, const struct lq_node *n) {
    json_t *v = eval(r, n->subject);
    if (!v)
        return false;
    json_t *items = loop_items(v);
    json_decref(v);
    if (!items)
        return nomem(r);
    long long total = (long long)json_array_size(items), from = 0, count;
    json_t *off = n->offset ? eval(r, n->offset) : NULL, *lim = n->limit ? eval(r, n->limit) : NULL;
    bool ok = (!n->offset || off) && (!n->limit || lim);
    if (off)
        from = lq_count(off);
    if (from < 0)
        from = 0;
    if (from > total)
        from = total;
    count = total - from;
    if (lim && lq_count(lim) < count)
        count = lq_count(lim) < 0 ? 0 : lq_count(lim);
    json_decref(off);
    json_decref(lim);
    if (ok && count > LIQUID_MAX_ITERATIONS) {
        char why[96];
        snprintf(why, sizeof why, "a for loop over more than %d items", LIQUID_MAX_ITERATIONS);
        ok = stop(r, LIQUID_FAILED, why);
    }
    if (!ok || count == 0) {
        json_decref(items);
        return ok ? run_block(r, &n->else_body) : false;
    }
    json_t *saved_var = json_incref(json_object_get(r->locals, n->name));
    json_t *saved_loop = json_incref(json_object_get(r->locals, "forloop"));
    for (long long i = 0; ok && i < count; i++) {
        if (!step(r)) { /* each turn is a step, even of an empty body */
            ok = false;
            break;
        }
        long long at = n->reversed ? from + count - 1 - i : from + i;
        json_t *loop = forloop((size_t)i, (size_t)count);
        if (!loop || json_object_set(r->locals, n->name, json_array_get(items, (size_t)at)) != 0 ||
            json_object_set_new(r->locals, "forloop", loop) != 0) {
            ok = nomem(r);
            break;
        }
        ok = run_block(r, &n->body);
        if (r->flow == FLOW_BREAK) {
            r->flow = FLOW_NONE;
            break;
        }
        r->flow = FLOW_NONE;
    }
    restore(r->locals, n->name, saved_var);
    restore(r->locals, "forloop", saved_loop);
    json_decref(items);
    return ok;
}

static bool run_capture(struct render *r, const struct lq_node *n) {
    struct lq_buf buf = {0}, *outer = r->out;
    r->out = &buf;
    bool ok = run_block(r, &n->body);
    r->out = outer;
    bool full = buf.full;
    char *text = lq_buf_take(&buf);
    if (ok && !text)
        return full ? too_long(r) : nomem(r);
    if (ok &&
        json_object_set_new(r->locals, n->name, json_stringn_nocheck(text, strlen(text))) != 0)
        ok = nomem(r);
    free(text);
    return ok;
}

static bool run_abort(struct render *r, const struct lq_node *n) {
    json_t *v = n->subject ? eval(r, n->subject) : json_string("");
    json_t *s = v ? lq_to_string(v, LIQUID_MAX_OUTPUT) : NULL;
    json_decref(v);
    if (!s)
        return r->result != LIQUID_OK ? false : nomem(r);
    /* the reason goes to a log line: its first ABORT_REASON_MAX bytes, on a character boundary */
    char reason[ABORT_REASON_MAX + 1];
    size_t len = json_string_length(s);
    if (len > ABORT_REASON_MAX) {
        len = ABORT_REASON_MAX;
        while (len > 0 && ((unsigned char)json_string_value(s)[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(reason, json_string_value(s), len);
    reason[len] = '\0';
    stop(r, LIQUID_ABORTED, reason);
    json_decref(s);
    return false;
}

static bool run_node(struct render *r, const struct lq_node *n) {
    switch (n->kind) {
    case LQ_TEXT:
        lq_put(r->out, n->text, n->len);
        return true;
    case LQ_OUTPUT:
        return run_output(r, &n->out);
    case LQ_IF:
        return run_if(r, n);
    case LQ_CASE:
        return run_case(r, n);
    case LQ_ASSIGN: {
        json_t *v = eval_output(r, &n->out);
        if (!v)
            return false;
        return json_object_set_new(r->locals, n->name, v) == 0 ? true : nomem(r);
    }
    case LQ_CAPTURE:
        return run_capture(r, n);
    case LQ_FOR:
        return run_for(r, n);
    case LQ_BREAK:
        r->flow = FLOW_BREAK;
        return true;
    case LQ_CONTINUE:
        r->flow = FLOW_CONTINUE;
        return true;
    case LQ_ABORT:
        return run_abort(r, n);
    }
    return true;
}

static bool run_block(struct render *r, const struct lq_block *b) {
    for (size_t i = 0; i < b->n && r->flow == FLOW_NONE; i++) {
        if (!step(r) || !run_node(r, b->v[i]))
            return false;
        if (r->out->failed)
            return nomem(r);
        if (r->out->full)
            return too_long(r);
    }
    return true;
}

enum liquid_result liquid_render(const struct liquid_tree *tree, const struct liquid_vars *vars,
                                 char **out, char **reason) {
    *out = NULL;
    *reason = NULL;
    struct lq_buf buf = {0};
    struct render r = {.vars = vars, .locals = json_object(), .out = &buf};
    if (!r.locals)
        return LIQUID_NOMEM;
    run_block(&r, &tree->root);
    json_decref(r.locals);
    if (r.result == LIQUID_OK) {
        *out = lq_buf_take(&buf);
        return *out ? LIQUID_OK : LIQUID_NOMEM;
    }
    free(buf.p);
    *reason = r.reason;
    return r.result;
}
