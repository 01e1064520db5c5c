/*
 * json_text.h — JSON string literals written straight into a caller's buffer, byte for byte
 * what jansson's compact dump writes for the same string (so a hand-written line equals the
 * json_dumps of the object it stands for): '"' and '\\' escaped, \b \f \n \r \t by name, the
 * other control characters below 0x20 as \u00XX (upper-case hex), everything else (DEL, '/',
 * valid UTF-8) as is. A string that is not valid UTF-8 (jansson's json_string refuses it) is
 * reported, never written.
 */
#ifndef COHORTD_UTIL_JSON_TEXT_H
#define COHORTD_UTIL_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The most bytes json_text_string writes for a string of len bytes (quotes included). */
#define JSON_TEXT_STRING_MAX(len) (6 * (len) + 2)

/* Whether s[0..len) is valid UTF-8 as jansson checks it (no overlong forms, no surrogates,
 * nothing above U+10FFFF; NUL bytes are refused, as json_string sees a C string). */
bool json_text_utf8_valid(const char *s, size_t len);

/* Whether every byte of s[0..len) is plain ASCII (0x20..0x7F, neither '"' nor '\\'): then s is
 * valid UTF-8 and json_text_string writes its bytes unchanged between quotes. Eight bytes at a
 * time: for the short identifiers of an export line, one or two steps instead of two passes. */
bool json_text_plain(const char *s, size_t len);

/* Writes s[0..len) as a quoted JSON string at out (room for JSON_TEXT_STRING_MAX(len) bytes)
 * and returns the bytes written. The caller has checked json_text_utf8_valid. */
size_t json_text_string(char *out, const char *s, size_t len);

#endif
