/*
 * fuzz_template.c — libFuzzer driver for personalisation templates (core/messaging/template.c):
 * the input's first byte picks the scope (campaign or Canvas) and whether inserted values are
 * URL-encoded, the rest is a webhook url, header or body. A text tmpl_check refuses gets a fault
 * that points inside it and a bounded message; a text it accepts renders (with values of every
 * JSON kind, quotes and control characters in them) into a bounded text: every byte of the
 * template expands at most 6 times (json_escape of a control character) and every tag adds at
 * most the escaped longest value; a text without "{{" renders to itself.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/messaging/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *attrs, *props;
static size_t longest; /* bytes of the longest value as inserted before escaping */

static void note(const json_t *obj) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t n = json_is_string(v) ? json_string_length(v) : text ? strlen(text) : 0;
        longest = n > longest ? n : longest;
        free(text);
    }
}

static void setup(void) {
    attrs =
        json_pack("{s:s, s:s, s:i, s:f, s:b, s:n, s:[s, i], s:{s:s}, s:s}", "first_name",
                  "Ann \"the\" \\ <b>&amp;", "plan", "trial", "age", 42, "score", 2.5, "vip", 1,
                  "gone", "tags", "a b", 3, "address", "city", "Zürich", "ctl", "\x01\x02\n\t\x1f");
    props = json_pack("{s:s, s:i, s:s}", "coupon", "SAVE 10%&more", "n", -7, "url",
                      "https://example.com/?a=1&b=2");
    note(attrs);
    note(props);
}

static void fail(const char *what, const char *text) {
    fprintf(stderr, "fuzz_template: %s for \"%s\"\n", what, text);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!attrs)
        setup();
    if (size < 1)
        return 0;
    enum tmpl_scope scope = data[0] & 1 ? TMPL_CANVAS : TMPL_CAMPAIGN;
    bool url = (data[0] & 2) != 0;
    size_t len = size - 1;
    char *text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    len = strlen(text); /* the template is a C string: a NUL ends it */
    struct tmpl_fault fault;
    if (tmpl_check(text, scope, &fault) != CD_OK) {
        if (!fault.why)
            fail("a refusal without a reason", text);
        if (fault.tag && (fault.tag < text || fault.tag + fault.tag_len > text + len))
            fail("a fault outside the text", text);
        char *msg = tmpl_fault_text(&fault);
        if (!msg || strlen(msg) > strlen(fault.why) + 2 + TMPL_QUOTE_MAX + strlen("…"))
            fail("a fault message too long", text);
        free(msg);
    } else {
        struct tmpl_vars vars = {"user 1&2", "0123456789abcdef01234567", attrs, props, url};
        char *out = tmpl_render(text, &vars);
        if (!out)
            fail("an accepted template does not render", text);
        size_t max_tags = len / 15 + 1; /* the shortest tag, {{${braze_id}}}, has 15 bytes */
        if (strlen(out) > 6 * len + max_tags * 6 * longest)
            fail("a rendering out of bounds", text);
        if (!strstr(text, "{{") && strcmp(out, text) != 0)
            fail("a text without tags changed", text);
        free(out);
    }
    free(text);
    return 0;
}
