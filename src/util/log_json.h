/*
 * log_json.h — the json format of log.h: one formatted log message (key=value pairs as log_q
 * writes them, and plain words) turned into one JSON object on one line. Folder-private to
 * util/log.c; tests call it directly.
 */
#ifndef COHORTD_UTIL_LOG_JSON_H
#define COHORTD_UTIL_LOG_JSON_H

#include <stddef.h>

/*
 * {"time":time_text,"level":level,"module":module, then a field per key=value of msg (len
 * bytes), then "msg" with the other words in order when there are any}, and a newline.
 * A key named time, level, module, msg or truncated_bytes is written with a leading '_'.
 * Values: a quoted value is unquoted (log_q's escapes undone); an unquoted whole decimal
 * number (no leading zero, at most 15 digits) is a JSON number; anything else a string, with
 * bytes that are not UTF-8 written as the text \xHH. When the object would be longer than max
 * bytes, every value is cut to an equal share (at a character boundary) and the object ends
 * with "truncated_bytes": the bytes of values dropped. malloc'd; *out_len its length; NULL
 * when memory runs out.
 */
char *log_json_line(const char *time_text, const char *level, const char *module, const char *msg,
                    size_t len, size_t max, size_t *out_len);

#endif
