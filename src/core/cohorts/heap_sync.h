/*
 * heap_sync.h — applying one page of Heap's `segment.users.sync` webhook (CONTRACT.md §2).
 * api/ reads the body into a struct heap_page (the segment, whose id in decimal is the
 * cohort_id, the page of the sync run, and the add / remove lists in body order) or marks it
 * as another action type or invalid; heap_page_apply then does everything that needs the
 * store or the integration's secret, in the contract's order: the integration exists, the
 * Heap-Hash signature verifies within the window, the page is a sync page, and then one write
 * records the page (a page seen before with the same content is acknowledged and not applied
 * again; one whose content differs, by a digest of segment, name, total pages and lists, is
 * applied), names the cohort and applies the lists, so no page is acknowledged that is not
 * durable.
 */
#ifndef COHORTD_CORE_COHORTS_HEAP_SYNC_H
#define COHORTD_CORE_COHORTS_HEAP_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cohorts/cohort_import.h"
#include "core/cohorts/heap_signature.h"
#include "util/err.h"

struct app;

struct heap_page_list {
    bool remove;            /* a "remove" list; else "add" */
    const char *const *ids; /* the Heap identities, borrowed */
    size_t n_ids;
};

/* What the body is, as api/ read it. */
enum heap_page_kind {
    HEAP_PAGE_SYNC = 0,  /* a valid segment.users.sync page: the fields below are set */
    HEAP_PAGE_OTHER,     /* a valid body of another action type: acknowledged and counted */
    HEAP_PAGE_MALFORMED, /* not a valid body: refused after the signature verifies */
};

struct heap_page {
    /* the request as signed */
    const char *signature; /* the Heap-Hash header, or NULL */
    const char *body;
    size_t body_len;
    int64_t now_ms;
    struct heap_sig_window window;
    /* the body */
    enum heap_page_kind kind;
    char cohort_id[24]; /* data.segment.id in decimal */
    const char *name;   /* data.segment.name, or NULL (borrowed) */
    bool has_sync_info;
    const char *sync_task_id; /* borrowed */
    int64_t page_number;
    int64_t total_pages;
    struct heap_page_list lists[2];
    int n_lists;
};

enum heap_page_outcome {
    HEAP_PAGE_APPLIED = 0,    /* counts set */
    HEAP_PAGE_DUPLICATE,      /* seen before: nothing changed */
    HEAP_PAGE_IGNORED,        /* HEAP_PAGE_OTHER, counted on the integration */
    HEAP_PAGE_REFUSED,        /* HEAP_PAGE_MALFORMED with a valid signature */
    HEAP_PAGE_NO_INTEGRATION, /* no live integration with this id */
    HEAP_PAGE_BAD_SIGNATURE,  /* sig says why */
};

struct heap_page_result {
    enum heap_page_outcome outcome;
    enum heap_sig_result sig;
    struct cohort_apply_result counts;
    struct cd_msg msg; /* CD_E_MOVED: names the node that owns the workspace (leases.h) */
};

/* Number of ids in the page's add lists (remove: true, its remove lists). */
int64_t heap_page_ids(const struct heap_page *page, bool remove);

/*
 * Handles a page delivered to /heap/webhooks/{integration_id}. Returns CD_OK with out->outcome
 * set, or the error that stopped it (the store, memory); nothing is changed then.
 */
enum cd_err heap_page_apply(struct app *app, const char *integration_id,
                            const struct heap_page *page, struct heap_page_result *out);

#endif
