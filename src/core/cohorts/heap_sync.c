/* heap_sync.c — applying a segment.users.sync page (see heap_sync.h). */
#include "core/cohorts/heap_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workspace/workspace.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/timeutil.h"

/* The integration a page names, copied out of the store's callback. */
struct integration {
    int64_t id;
    int64_t ws;
    enum heap_mapping mapping;
    char *alias_label; /* HEAP_MAP_ALIAS only */
    char *secret;
    bool failed; /* memory ran out while copying */
};

static void copy_integration(void *ctx, const struct heap_integration_row *r) {
    struct integration *in = ctx;
    in->id = r->id;
    in->ws = r->workspace_id;
    in->mapping = r->mapping;
    in->alias_label = strdup(r->alias_label ? r->alias_label : "");
    in->secret = strdup(r->secret);
    in->failed = !in->alias_label || !in->secret;
}

int64_t heap_page_ids(const struct heap_page *page, bool remove) {
    int64_t n = 0;
    for (int l = 0; l < page->n_lists; l++)
        if (page->lists[l].remove == remove)
            n += (int64_t)page->lists[l].n_ids;
    return n;
}

/* Turns the page's lists into cohort changes; ids has room for every id of the page. */
static void build_changes(const struct heap_page *p, const struct integration *in,
                          struct cohort_change *changes, struct cohort_ident *ids) {
    size_t n = 0;
    for (int l = 0; l < p->n_lists; l++) {
        struct cohort_ident *start = ids + n;
        for (size_t i = 0; i < p->lists[l].n_ids; i++) {
            const char *id = p->lists[l].ids[i];
            if (in->mapping == HEAP_MAP_ALIAS)
                ids[n++] = (struct cohort_ident){COHORT_ID_ALIAS, in->alias_label, id};
            else if (in->mapping == HEAP_MAP_DEVICE_ID)
                ids[n++] = (struct cohort_ident){COHORT_ID_DEVICE, id, NULL};
            else
                ids[n++] = (struct cohort_ident){COHORT_ID_EXTERNAL, id, NULL};
        }
        changes[l] = (struct cohort_change){p->lists[l].remove, start, (size_t)(ids + n - start)};
    }
}

/* Appends "<length>:<bytes>" of text (NULL: "-") to *buf; -1 when memory runs out. */
static int digest_put(char **buf, size_t *len, size_t *cap, const char *text) {
    size_t n = text ? strlen(text) : 0;
    if (*len + n + 32 > *cap) {
        size_t cap2 = (*cap + n + 32) * 2;
        char *b = realloc(*buf, cap2);
        if (!b)
            return -1;
        *buf = b;
        *cap = cap2;
    }
    *len += (size_t)snprintf(*buf + *len, *cap - *len, text ? "%zu:" : "-", n);
    if (text)
        memcpy(*buf + *len, text, n);
    *len += n;
    return 0;
}

/* The digest of what a page says (segment, name, total pages, its lists in order), 64 hex:
 * Heap's test tool sends every page with the same sync_task_id, so (sync_task_id, page) alone
 * cannot tell a new page from a retried one. Length-prefixed, so no two pages share a text. */
static int page_digest(const struct heap_page *p, char out[65]) {
    char *buf = NULL, num[32];
    size_t len = 0, cap = 0;
    snprintf(num, sizeof num, "%lld", (long long)p->total_pages);
    int rc = digest_put(&buf, &len, &cap, p->cohort_id) | digest_put(&buf, &len, &cap, p->name) |
             digest_put(&buf, &len, &cap, num);
    for (int l = 0; l < p->n_lists && rc == 0; l++) {
        rc |= digest_put(&buf, &len, &cap, p->lists[l].remove ? "remove" : "add");
        for (size_t i = 0; i < p->lists[l].n_ids && rc == 0; i++)
            rc |= digest_put(&buf, &len, &cap, p->lists[l].ids[i]);
    }
    if (rc == 0)
        crypto_sha256_hex(buf, len, out);
    free(buf);
    return rc;
}

/* Records and applies a sync page in one write. */
static enum cd_err apply_sync(struct app *app, const struct integration *in,
                              const struct heap_page *p, struct heap_page_result *out) {
    struct workspace *ws = NULL;
    enum cd_err err = app_workspace_msg(app, in->ws, &ws, &out->msg);
    if (err != CD_OK)
        return err;
    int64_t n_add = heap_page_ids(p, false), n_remove = heap_page_ids(p, true);
    struct cohort_change changes[2];
    struct cohort_ident *ids = calloc((size_t)(n_add + n_remove) + 1, sizeof *ids);
    if (!ids)
        return CD_E_NOMEM;
    build_changes(p, in, changes, ids);
    int64_t now = time_now_ms();
    struct store *st = app->store;
    bool duplicate = false;
    char digest[65];
    if (page_digest(p, digest) != 0) {
        err = CD_E_NOMEM;
        goto fail;
    }
    err = workspace_write_begin(app, ws);
    if (err != CD_OK)
        goto fail;
    if (p->has_sync_info)
        err = STORE_OPS(st)->heap->page_record(workspace_txn(ws), in->id, p->sync_task_id,
                                               p->cohort_id, p->page_number, p->total_pages, n_add,
                                               n_remove, digest, now, &duplicate);
    if (err == CD_OK && !duplicate && p->name)
        err = cohort_name_locked(app, ws, "heap", p->cohort_id, p->name, now);
    if (err == CD_OK && !duplicate)
        err = cohort_apply_locked(app, ws, "heap", p->cohort_id, changes, (size_t)p->n_lists, now,
                                  &out->counts);
    err = workspace_write_end(app, ws, err);
    if (err == CD_OK)
        out->outcome = duplicate ? HEAP_PAGE_DUPLICATE : HEAP_PAGE_APPLIED;
    if (err == CD_OK && !duplicate)
        cohort_ids_count(ws, "heap", "heap_webhook", &out->counts);
fail:
    free(ids);
    return err;
}

enum cd_err heap_page_apply(struct app *app, const char *integration_id,
                            const struct heap_page *page, struct heap_page_result *out) {
    memset(out, 0, sizeof *out);
    struct store *st = app->store;
    struct integration in = {0};
    enum cd_err err = STORE_OPS(st)->heap->get(st, integration_id, copy_integration, &in);
    if (err == CD_E_NOT_FOUND) {
        out->outcome = HEAP_PAGE_NO_INTEGRATION;
        err = CD_OK;
        goto done;
    }
    if (err == CD_OK && in.failed)
        err = CD_E_NOMEM;
    if (err != CD_OK)
        goto done;
    out->sig = heap_sig_verify(page->signature, in.secret, page->body, page->body_len, page->now_ms,
                               &page->window);
    if (out->sig != HEAP_SIG_OK) {
        out->outcome = HEAP_PAGE_BAD_SIGNATURE;
    } else if (page->kind == HEAP_PAGE_MALFORMED) {
        out->outcome = HEAP_PAGE_REFUSED;
    } else if (page->kind == HEAP_PAGE_OTHER) {
        err = STORE_OPS(st)->heap->count_ignored(st, in.id);
        out->outcome = HEAP_PAGE_IGNORED;
    } else {
        err = apply_sync(app, &in, page, out);
    }
done:
    free(in.alias_label);
    free(in.secret);
    return err;
}
