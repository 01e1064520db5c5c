/*
 * json_text.c — JSON string literals into a buffer, as jansson's compact dump writes them
 * (json_text.h). Runs of bytes that need no escape are copied at once.
 */
#include "util/json_text.h"

#include <stdint.h>
#include <string.h>

/* Whether one of the 8 bytes of w is not plain (below 0x20, '"', '\\', or from 0x80): a high bit
 * where a byte was below 0x20 (w - 0x20 borrowed into it) or is zero after the xor with '"' or
 * '\\' (the classic "has a zero byte" test, exact as a yes / no). */
static bool word_not_plain(uint64_t w) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    return ((((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
             ((backslash - ones) & ~backslash) | w) &
            highs) != 0;
}

bool json_text_plain(const char *s, size_t len) {
    size_t i = 0;
    uint64_t w;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        if (word_not_plain(w))
            return false;
    }
    if (i == len)
        return true;
    w = 0x6161616161616161u; /* "aaaaaaaa": plain */
    memcpy(&w, s + i, len - i);
    return !word_not_plain(w);
}

/* Length of the UTF-8 sequence led by byte c (0 when c cannot lead one). */
static size_t lead_len(unsigned char c) {
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

bool json_text_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        }
        size_t n = lead_len(c);
        if (n == 0 || i + n > len)
            return false;
        uint32_t cp = c & (0xFFu >> (n + 1));
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3Fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Whether byte c is written escaped. */
static bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

size_t json_text_string(char *out, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    *o++ = '"';
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && !needs_escape((unsigned char)s[run]))
            run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        if (run == len)
            break;
        unsigned char c = (unsigned char)s[run];
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
        i = run + 1;
    }
    *o++ = '"';
    return (size_t)(o - out);
}
