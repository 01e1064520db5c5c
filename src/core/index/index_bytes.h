/*
 * index_bytes.h — the bytes each in-memory index of a workspace holds, part by part: what a
 * user costs in memory. Read for /metrics (workspace_stats.h) and logged when a workspace
 * loads.
 */
#ifndef COHORTD_CORE_INDEX_INDEX_BYTES_H
#define COHORTD_CORE_INDEX_INDEX_BYTES_H

#include <stdint.h>

#include "core/index/attr_index.h"
#include "core/index/cohort.h"
#include "core/index/event_index.h"
#include "core/index/identity.h"

/* The in-memory indexes of a workspace, as /metrics names them (label index="…"). */
enum index_kind {
    WS_INDEX_USERS,    /* "user_table": braze id and flags per uid */
    WS_INDEX_LIVE,     /* "live": the live and identified bitmaps */
    WS_INDEX_EXTERNAL, /* "external_ids": external id map and keys */
    WS_INDEX_ALIAS,    /* "aliases" */
    WS_INDEX_DEVICE,   /* "devices" */
    WS_INDEX_CONTACT,  /* "contacts": email and phone maps */
    WS_INDEX_ATTRS,    /* "attributes": custom attribute value bitmaps */
    WS_INDEX_EVENTS,   /* "events": custom event summaries */
    WS_INDEX_COHORTS,  /* "cohort_bitmaps" */
    WS_INDEX_KINDS
};

/* The label text of each kind. */
const char *index_kind_name(enum index_kind k);

/* Bytes each index holds (the owner keeps them still meanwhile). Cost: one pass over the
 * containers of every bitmap. */
void index_bytes(const struct identity *ident, const struct attr_index *attrs,
                 const struct event_index *events, const struct cohort_set *cohorts,
                 uint64_t out[WS_INDEX_KINDS]);

#endif
