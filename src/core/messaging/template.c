/* template.c — checking and rendering personalisation tags (see template.h). */
#include "core/messaging/template.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tag_kind { TAG_EXTERNAL_ID, TAG_BRAZE_ID, TAG_ATTRIBUTE, TAG_PROPERTY };

struct tag {
    enum tag_kind kind;
    const char *name; /* attribute or property name (not terminated) */
    size_t name_len;
    const char *def; /* default text (not terminated), or NULL */
    size_t def_len;
    bool json_escape; /* escape the value for the inside of a JSON string */
};

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool starts(const char *p, const char *prefix) {
    return strncmp(p, prefix, strlen(prefix)) == 0;
}

#define ANY_SCOPE 3

/* Namespaces of NAME tags and where they are allowed. */
static const struct {
    const char *prefix;
    enum tag_kind kind;
    int scopes; /* bit per enum tmpl_scope */
} namespaces[] = {
    {"custom_attribute.${", TAG_ATTRIBUTE, ANY_SCOPE},
    {"api_trigger_properties.${", TAG_PROPERTY, 1 << TMPL_CAMPAIGN},
    {"canvas_entry_properties.${", TAG_PROPERTY, 1 << TMPL_CANVAS},
    {"context.${", TAG_PROPERTY, 1 << TMPL_CANVAS},
};

/*
 * Parses the tag whose "{{" is at p. Sets *end past its "}}". Returns NULL, or why the tag is
 * invalid in the scopes of the mask `scopes` (bits of enum tmpl_scope).
 */
static const char *parse_tag(const char *p, int scopes, struct tag *t, const char **end) {
    memset(t, 0, sizeof *t);
    p = skip_ws(p + 2);
    if (starts(p, "${external_id}")) {
        t->kind = TAG_EXTERNAL_ID;
        p += strlen("${external_id}");
    } else if (starts(p, "${braze_id}")) {
        t->kind = TAG_BRAZE_ID;
        p += strlen("${braze_id}");
    } else {
        size_t i = 0, n = sizeof namespaces / sizeof namespaces[0];
        while (i < n && !starts(p, namespaces[i].prefix))
            i++;
        if (i == n)
            return "unknown tag";
        if (!(namespaces[i].scopes & scopes))
            return scopes == 1 << TMPL_CAMPAIGN ? "Canvas entry properties exist only in Canvases"
                                                : "API trigger properties exist only in campaigns";
        t->kind = namespaces[i].kind;
        p += strlen(namespaces[i].prefix);
        t->name = p;
        while (*p && *p != '}' && *p != '{')
            p++;
        t->name_len = (size_t)(p - t->name);
        if (*p != '}' || t->name_len == 0)
            return "a name is needed inside ${…}";
        p++;
    }
    for (p = skip_ws(p); *p == '|'; p = skip_ws(p)) {
        p = skip_ws(p + 1);
        if (starts(p, "json_escape")) {
            t->json_escape = true;
            p += strlen("json_escape");
            continue;
        }
        if (!starts(p, "default:"))
            return "the only filters are default and json_escape";
        p = skip_ws(p + strlen("default:"));
        char quote = *p;
        if (quote != '\'' && quote != '"')
            return "default needs a quoted text";
        t->def = ++p;
        while (*p && *p != quote)
            p++;
        if (!*p)
            return "unterminated default text";
        t->def_len = (size_t)(p - t->def);
        p++;
    }
    if (!starts(p, "}}"))
        return "expected }}";
    *end = p + 2;
    return NULL;
}

enum cd_err tmpl_check(const char *text, enum tmpl_scope scope, struct tmpl_fault *fault) {
    memset(fault, 0, sizeof *fault);
    for (const char *p = text; (p = strpbrk(p, "{")) != NULL;) {
        if (p[1] == '%') {
            fault->why = "Liquid blocks ({% … %}) are not supported";
            return CD_E_INVALID;
        }
        if (p[1] != '{') {
            p++;
            continue;
        }
        struct tag t;
        const char *end = NULL;
        const char *why = parse_tag(p, 1 << scope, &t, &end);
        if (why) {
            const char *close = strstr(p, "}}");
            while (close && close[2] == '}')
                close++;
            fault->why = why;
            fault->tag = p;
            fault->tag_len = close ? (size_t)(close - p) + 2 : strlen(p);
            return CD_E_INVALID;
        }
        p = end;
    }
    return CD_OK;
}

char *tmpl_fault_text(const struct tmpl_fault *fault) {
    const char *why = fault->why ? fault->why : "invalid template";
    size_t quote = fault->tag ? fault->tag_len : 0;
    bool cut = quote > TMPL_QUOTE_MAX;
    if (cut) { /* back off to the start of a UTF-8 character */
        quote = TMPL_QUOTE_MAX;
        while (quote > 0 && ((unsigned char)fault->tag[quote] & 0xC0) == 0x80)
            quote--;
    }
    size_t len = strlen(why) + (fault->tag ? 2 + quote : 0) + (cut ? strlen("…") : 0) + 1;
    char *text = malloc(len);
    if (!text)
        return NULL;
    if (fault->tag)
        snprintf(text, len, "%s: %.*s%s", why, (int)quote, fault->tag, cut ? "…" : "");
    else
        snprintf(text, len, "%s", why);
    return text;
}

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct buf *b, const char *s, size_t n) {
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

enum escape { ESCAPE_NONE, ESCAPE_URL, ESCAPE_JSON };

/* Puts an inserted value, escaped for a URL (all but unreserved characters percent-encoded) or
 * for the inside of a JSON string when asked. */
static void put_inserted(struct buf *b, const char *s, size_t n, enum escape how) {
    static const char hex[] = "0123456789ABCDEF";
    if (how == ESCAPE_NONE) {
        put(b, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (how == ESCAPE_URL && (c == 0 || (!isalnum(c) && !strchr("-._~", c)))) {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(b, esc, 3);
        } else if (how == ESCAPE_JSON && (c == '"' || c == '\\')) {
            char esc[2] = {'\\', (char)c};
            put(b, esc, 2);
        } else if (how == ESCAPE_JSON && c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, esc, 6);
        } else {
            put(b, s + i, 1);
        }
    }
}

static void put_value(struct buf *b, const json_t *v, enum escape how) {
    if (json_is_string(v)) {
        put_inserted(b, json_string_value(v), json_string_length(v), how);
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        b->failed = true;
        return;
    }
    put_inserted(b, text, strlen(text), how);
    free(text);
}

static const json_t *lookup(const json_t *obj, const char *name, size_t len) {
    return json_is_object(obj) ? json_object_getn(obj, name, len) : NULL;
}

char *tmpl_render(const char *text, const struct tmpl_vars *vars) {
    struct buf b = {0};
    put(&b, "", 0);
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "{{");
        struct tag t;
        const char *end = NULL;
        if (!open || parse_tag(open, ANY_SCOPE, &t, &end) != NULL) {
            /* text, or braces that are not a tag: copied as they are */
            const char *stop = open ? open + 2 : p + strlen(p);
            put(&b, p, (size_t)(stop - p));
            if (!open)
                break;
            p = stop;
            continue;
        }
        put(&b, p, (size_t)(open - p));
        const char *s = NULL;
        const json_t *v = NULL;
        switch (t.kind) {
        case TAG_EXTERNAL_ID:
            s = vars->external_id && *vars->external_id ? vars->external_id : NULL;
            break;
        case TAG_BRAZE_ID:
            s = vars->braze_id;
            break;
        case TAG_ATTRIBUTE:
            v = lookup(vars->attrs, t.name, t.name_len);
            break;
        case TAG_PROPERTY:
            v = lookup(vars->props, t.name, t.name_len);
            break;
        }
        enum escape how = vars->url_encode ? ESCAPE_URL : t.json_escape ? ESCAPE_JSON : ESCAPE_NONE;
        if (s)
            put_inserted(&b, s, strlen(s), how);
        else if (v && !json_is_null(v))
            put_value(&b, v, how);
        else if (t.def)
            put_inserted(&b, t.def, t.def_len, how);
        p = end;
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
