/*
 * workspace_stats.c — the figures of workspace_stats.h. Copies the registry's pointers under
 * reg_lock (workspaces live as long as app), then reads each workspace under its read lock, so
 * a scrape waits at most for one write of one workspace at a time and never holds up the
 * registry.
 */
#include "core/workspace/workspace_stats.h"

#include <stdlib.h>

#include "core/workspace/workspace_int.h"

void app_workspace_stats(struct app *app, void (*cb)(void *ctx, const struct workspace_stats *),
                         void *ctx) {
    pthread_mutex_lock(&app->reg_lock);
    size_t n = app->n_ws;
    struct workspace **v = malloc((n ? n : 1) * sizeof(struct workspace *));
    for (size_t i = 0; v && i < n; i++)
        v[i] = app->ws[i];
    pthread_mutex_unlock(&app->reg_lock);
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        struct workspace *ws = v[i];
        struct workspace_stats st = {.public_id = ws->public_id};
        workspace_read_begin(ws);
        if (atomic_load(&ws->loaded)) {
            st.loaded = true;
            st.users = ws->ident.n_live;
            st.cohorts = ws->cohorts.n;
            for (size_t k = 0; k < ws->cohorts.n; k++) {
                const roaring_bitmap_t *m = ws->cohorts.v[k]->members;
                if (!m)
                    continue;
                st.cohort_members += roaring_bitmap_get_cardinality(m);
            }
            index_bytes(&ws->ident, &ws->attrs, &ws->events, &ws->cohorts, st.index_bytes);
            st.cohort_bitmap_bytes = st.index_bytes[WS_INDEX_COHORTS];
        }
        cb(ctx, &st);
        workspace_read_end(ws);
    }
    free(v);
}
