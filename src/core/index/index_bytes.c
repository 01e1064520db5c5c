/* index_bytes.c — the memory of a workspace's indexes, part by part (see index_bytes.h). */
#include "core/index/index_bytes.h"

#include "core/index/bitmap.h"

const char *index_kind_name(enum index_kind k) {
    static const char *const names[WS_INDEX_KINDS] = {"user_table", "live",    "external_ids",
                                                      "aliases",    "devices", "contacts",
                                                      "attributes", "events",  "cohort_bitmaps"};
    return k < WS_INDEX_KINDS ? names[k] : "unknown";
}

void index_bytes(const struct identity *ident, const struct attr_index *attrs,
                 const struct event_index *events, const struct cohort_set *cohorts,
                 uint64_t out[WS_INDEX_KINDS]) {
    struct identity_bytes ib;
    identity_mem_bytes(ident, &ib);
    out[WS_INDEX_USERS] = ib.users;
    out[WS_INDEX_LIVE] = ib.live;
    out[WS_INDEX_EXTERNAL] = ib.external;
    out[WS_INDEX_ALIAS] = ib.alias;
    out[WS_INDEX_DEVICE] = ib.device;
    out[WS_INDEX_CONTACT] = ib.contact;
    out[WS_INDEX_ATTRS] = attr_index_bytes(attrs);
    out[WS_INDEX_EVENTS] = event_index_bytes(events);
    out[WS_INDEX_COHORTS] = 0;
    for (size_t k = 0; k < cohorts->n; k++)
        out[WS_INDEX_COHORTS] += bitmap_mem_bytes(cohorts->v[k]->members);
}
