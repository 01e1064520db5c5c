/* heap_sync.c — validating a segment.users.sync page (see heap_sync.h). Memory only. */
#include "core/cohorts/heap_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HEAP_SYNC_MAX_IDS 100000

static enum heap_sync_parse invalid(char *reason, size_t len, const char *text) {
    snprintf(reason, len, "%s", text);
    return HEAP_SYNC_INVALID;
}

/* Checks a list of {"id": non-empty string}. */
static bool valid_ids(const json_t *arr) {
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (!json_is_object(v) || !id || !*id)
            return false;
    }
    return true;
}

static bool positive_int(const json_t *v) {
    return json_is_integer(v) && json_integer_value(v) >= 1;
}

enum heap_sync_parse heap_sync_parse(const json_t *body, struct heap_sync_page *page, char *reason,
                                     size_t len) {
    memset(page, 0, sizeof *page);
    const json_t *action = json_object_get(body, "action_type");
    if (!json_is_string(action))
        return invalid(reason, len, "'action_type' must be a string");
    if (strcmp(json_string_value(action), "segment.users.sync") != 0) {
        snprintf(reason, len, "%.100s", json_string_value(action));
        return HEAP_SYNC_IGNORED;
    }
    const json_t *data = json_object_get(body, "data");
    if (!json_is_object(data))
        return invalid(reason, len, "'data' must be an object");
    const json_t *segment = json_object_get(data, "segment");
    const json_t *seg_id = json_object_get(segment, "id");
    if (!json_is_object(segment) || !json_is_integer(seg_id) || json_integer_value(seg_id) <= 0)
        return invalid(reason, len, "'data.segment.id' must be a positive integer");
    snprintf(page->cohort_id, sizeof page->cohort_id, "%" JSON_INTEGER_FORMAT,
             json_integer_value(seg_id));
    const json_t *name = json_object_get(segment, "name");
    if (name && !json_is_null(name) && (!json_is_string(name) || !*json_string_value(name)))
        return invalid(reason, len, "'data.segment.name' must be a non-empty string");
    page->name = json_string_value(name);
    const json_t *info = json_object_get(data, "sync_info");
    if (info && !json_is_null(info)) {
        const json_t *task = json_object_get(info, "sync_task_id");
        const json_t *pn = json_object_get(info, "page_number");
        const json_t *tp = json_object_get(info, "total_pages");
        if (!json_is_object(info) || !json_is_string(task) || !*json_string_value(task) ||
            strlen(json_string_value(task)) > 200 || !positive_int(pn) || !positive_int(tp) ||
            json_integer_value(pn) > json_integer_value(tp))
            return invalid(reason, len,
                           "'data.sync_info' must hold a non-empty 'sync_task_id' and integers "
                           "1 <= 'page_number' <= 'total_pages'");
        page->has_sync_info = true;
        page->sync_task_id = json_string_value(task);
        page->page_number = json_integer_value(pn);
        page->total_pages = json_integer_value(tp);
    }
    /* add and remove apply in the order the body lists them */
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)data, key, v) {
        bool is_add = strcmp(key, "add") == 0, is_remove = strcmp(key, "remove") == 0;
        if (!is_add && !is_remove)
            continue;
        if (json_is_null(v))
            continue;
        if (!json_is_array(v) || !valid_ids(v))
            return invalid(reason, len,
                           "'data.add' and 'data.remove' must be arrays of {\"id\": string}");
        page->lists[page->n_lists].remove = is_remove;
        page->lists[page->n_lists].ids = v;
        page->n_lists++;
        if (is_add)
            page->n_add = (int64_t)json_array_size(v);
        else
            page->n_remove = (int64_t)json_array_size(v);
    }
    if (page->n_lists == 0)
        return invalid(reason, len, "'data.add' or 'data.remove' is required");
    if (page->n_add + page->n_remove > HEAP_SYNC_MAX_IDS)
        return invalid(reason, len, "a page holds at most 100000 ids");
    return HEAP_SYNC_OK;
}
