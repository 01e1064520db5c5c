/*
 * fuzz_template.c — libFuzzer driver for webhook templates (core/messaging/liquid/): the
 * input's first byte picks the scope (campaign or Canvas) and whether inserted values are
 * URL-encoded, the rest is a webhook url, header or body. A text liquid_parse refuses gets a
 * fault with a reason, a line and column, and a tag inside the text; a text it accepts renders
 * (with values of every JSON kind, quotes and control characters in them) within the render
 * bounds of liquid.h, or fails or aborts with a reason; a text without "{{" or "{%" renders to
 * itself.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/messaging/liquid/liquid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *attrs, *props, *campaign;

static void setup(void) {
    attrs =
        json_pack("{s:s, s:s, s:i, s:f, s:b, s:n, s:[s, i], s:{s:s}, s:s}", "first_name",
                  "Ann \"the\" \\ <b>&amp;", "plan", "trial", "age", 42, "score", 2.5, "vip", 1,
                  "gone", "tags", "a b", 3, "address", "city", "Zürich", "ctl", "\x01\x02\n\t\x1f");
    props = json_pack("{s:s, s:i, s:s}", "coupon", "SAVE 10%&more", "n", -7, "url",
                      "https://example.com/?a=1&b=2");
    campaign = json_pack("{s:s, s:s, s:s}", "api_id", "c1", "name", "Spring", "dispatch_id", "d1");
}

static void fail(const char *what, const char *text) {
    fprintf(stderr, "fuzz_template: %s for \"%s\"\n", what, text);
    abort();
}

static void check_refusal(const struct liquid_fault *fault, const char *text, size_t len) {
    if (!fault->why)
        fail("a refusal without a reason", text);
    if (fault->tag && (fault->tag < text || fault->tag + fault->tag_len > text + len))
        fail("a fault outside the text", text);
    if (fault->line < 1 || fault->column < 1)
        fail("a fault without a line and column", text);
}

static void check_render(const struct liquid_tree *tree, const char *text, bool url) {
    struct liquid_vars vars = {
        .user_id = "user 1&2",
        .braze_id = "0123456789abcdef01234567",
        .attrs = attrs,
        .props = props,
        .campaign = campaign,
        .now_ms = 1767225600000,
        .url_encode = url,
    };
    char *out = NULL, *reason = NULL;
    enum liquid_result r = liquid_render(tree, &vars, &out, &reason);
    if (r == LIQUID_OK) {
        if (!out || strlen(out) > LIQUID_MAX_OUTPUT)
            fail("a rendering out of bounds", text);
        if (!strstr(text, "{{") && !strstr(text, "{%") && strcmp(out, text) != 0)
            fail("a text without tags changed", text);
    } else if (r != LIQUID_NOMEM && !reason) {
        fail("a failed or aborted render without a reason", text);
    }
    free(out);
    free(reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!attrs)
        setup();
    if (size < 1)
        return 0;
    enum liquid_scope scope = data[0] & 1 ? LIQUID_CANVAS : LIQUID_CAMPAIGN;
    bool url = (data[0] & 2) != 0;
    size_t len = size - 1;
    char *text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    len = strlen(text); /* the template is a C string: a NUL ends it */
    struct liquid_tree *tree = NULL;
    struct liquid_fault fault;
    enum cd_err err = liquid_parse(text, scope, &tree, &fault);
    if (err == CD_E_INVALID)
        check_refusal(&fault, text, len);
    else if (err == CD_OK)
        check_render(tree, text, url);
    liquid_free(tree);
    free(text);
    return 0;
}
