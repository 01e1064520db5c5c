/*
 * heap_sync.h — reading one page of Heap's `segment.users.sync` webhook (CONTRACT.md §2.2)
 * into plain data: the segment (its id as a decimal string becomes the cohort_id), the page of
 * the sync run, and the add / remove lists in the order they appear in the body.
 * Validation is strict about what cohortd needs and lenient about the rest (§5).
 */
#ifndef COHORTD_CORE_COHORTS_HEAP_SYNC_H
#define COHORTD_CORE_COHORTS_HEAP_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct heap_sync_list {
    bool remove;       /* a "remove" list; else "add" */
    const json_t *ids; /* array of {"id": string}, borrowed from the body */
};

struct heap_sync_page {
    char cohort_id[24]; /* data.segment.id in decimal */
    const char *name;   /* data.segment.name, or NULL (borrowed) */
    bool has_sync_info;
    const char *sync_task_id; /* borrowed */
    int64_t page_number;
    int64_t total_pages;
    struct heap_sync_list lists[2];
    int n_lists;
    int64_t n_add;
    int64_t n_remove;
};

enum heap_sync_parse {
    HEAP_SYNC_OK = 0,
    HEAP_SYNC_IGNORED, /* a valid body whose action_type is not segment.users.sync */
    HEAP_SYNC_INVALID, /* reason set */
};

/*
 * Reads `body` (borrowed for as long as `page` is used). On HEAP_SYNC_INVALID `reason` says
 * what is wrong; on HEAP_SYNC_IGNORED `reason` holds the action type.
 */
enum heap_sync_parse heap_sync_parse(const json_t *body, struct heap_sync_page *page, char *reason,
                                     size_t reason_len);

#endif
