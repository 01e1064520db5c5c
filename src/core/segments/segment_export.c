/*
 * segment_export.c — the users of a saved segment's audience for the NDJSON export
 * (segments.h, "export"), a chunk at a time, in uid order.
 *
 * The audience is a bitmap snapshot taken at open. Without profile fields every exported field
 * is in memory: the braze_id in the identity index, the external_id in its map. The map finds
 * a uid by key, not a key by uid, so open takes one pass over the map's slots (under the read
 * lock; the slots alone, not the keys) into `slot`, which gives the map slot of uid lo + i
 * (4 bytes per uid of the audience's range); each chunk then takes the read lock, checks that
 * the identity index has not changed since (ws->ident_version), and reads the users of the
 * chunk from memory, each key from its slot. Once it has changed (a write of the workspace
 * landed, or a reload), or when the snapshot could not be taken, or when profile fields are
 * wanted, the users are read from the store in uid order instead, `rows` rows per chunk, as
 * committed at the time of the chunk's read.
 */
#include <stdlib.h>
#include <string.h>

#include "core/segments/segments.h"
#include "core/workspace/workspace_int.h"

/* Users looked at per chunk from memory are capped so the read lock is held briefly. */
#define MEM_CHUNK_MAX 8192

struct segment_export {
    struct app *app;
    struct workspace *ws;
    roaring_bitmap_t *audience;
    roaring_uint32_iterator_t *it;
    bool from_store;  /* read users from the store (see above) */
    bool profile;     /* created_at and attrs wanted */
    uint64_t version; /* ws->ident_version when slot was taken */
    uint32_t *slot;   /* uid lo + i: 1 + the slot of its key in ws->ident.ext; 0: none */
    uint32_t lo, n_ext;
    bool conflict; /* a uid holds two keys in the map (the store says which is its own), or the
                    * map is too big for `slot` */
    void (*cb)(void *ctx, const struct segment_export_user *u);
    void *ctx;
    int64_t n_rows; /* rows seen by the current chunk read */
};

/* How far ahead the walk and the chunks prefetch: the walk reads the slots in order but writes
 * each uid's entry anywhere in `slot`, and a chunk reads the uids in order but each one's map
 * slot lies anywhere in the table, so without it every user waits for a cache miss in turn. */
#define AHEAD 16

/* The walk of snapshot_ext: each entry's slot into `slot` under its uid, from the slots alone
 * (their keys, scattered over the arena, are read only when a chunk writes them). */
static void take_slots(struct segment_export *ex, const struct strmap *m) {
    uint32_t *slot = ex->slot;
    size_t n = strmap_n_slots(m);
    for (size_t i = 0; i < n; i++) {
        uint32_t value;
        /* a hint only (a prefetch never faults; a slot without an entry prefetches anything) */
        if (i + AHEAD < n) {
            (void)strmap_slot_value(m, i + AHEAD, &value);
            if (value - ex->lo < ex->n_ext)
                __builtin_prefetch(&slot[value - ex->lo], 1);
        }
        if (!strmap_slot_value(m, i, &value) || value - ex->lo >= ex->n_ext)
            continue;
        uint32_t *e = &slot[value - ex->lo];
        if (*e)
            ex->conflict = true;
        *e = (uint32_t)i + 1;
    }
}

/* Takes the map slots of the external_ids of the audience's uid range from memory; on failure
 * the export reads from the store. */
static void snapshot_ext(struct segment_export *ex) {
    if (roaring_bitmap_is_empty(ex->audience)) {
        ex->from_store = true;
        return;
    }
    ex->lo = roaring_bitmap_minimum(ex->audience);
    ex->n_ext = roaring_bitmap_maximum(ex->audience) - ex->lo + 1;
    ex->slot = calloc(ex->n_ext, sizeof *ex->slot);
    if (!ex->slot) {
        ex->from_store = true;
        return;
    }
    workspace_read_begin(ex->ws);
    ex->version = ex->ws->ident_version;
    const struct strmap *m = &ex->ws->ident.ext;
    if (strmap_n_slots(m) < UINT32_MAX) /* a slot number + 1 fits in the entry */
        take_slots(ex, m);
    else
        ex->conflict = true;
    workspace_read_end(ex->ws);
    if (ex->conflict) {
        free(ex->slot);
        ex->slot = NULL;
        ex->from_store = true;
    }
}

enum cd_err segments_export_open(struct app *app, struct workspace *ws, const char *segment_id,
                                 bool profile, struct segment_export **out) {
    roaring_bitmap_t *aud = NULL;
    enum cd_err err = segments_audience(app, ws, segment_id, &aud);
    if (err != CD_OK)
        return err;
    struct segment_export *ex = calloc(1, sizeof *ex);
    roaring_uint32_iterator_t *it = ex ? roaring_create_iterator(aud) : NULL;
    if (!it) {
        free(ex);
        roaring_bitmap_free(aud);
        return CD_E_NOMEM;
    }
    *ex = (struct segment_export){
        .app = app, .ws = ws, .audience = aud, .it = it, .from_store = profile, .profile = profile};
    if (!ex->from_store)
        snapshot_ext(ex);
    *out = ex;
    return CD_OK;
}

/* A hint only (a prefetch never faults): the map slot a chunk will read for uid. */
static void prefetch_slot(const struct segment_export *ex, const struct strmap *m, uint32_t uid) {
    uint32_t sl = ex->slot[uid - ex->lo];
    if (sl)
        strmap_slot_prefetch(m, sl - 1);
}

/* The chunk from memory; false (nothing given) when the snapshot no longer holds. */
static bool next_from_memory(struct segment_export *ex, int64_t rows,
                             void (*cb)(void *ctx, const struct segment_export_user *u),
                             void *ctx) {
    uint32_t uids[512];
    int64_t left = rows < MEM_CHUNK_MAX ? rows : MEM_CHUNK_MAX;
    struct workspace *ws = ex->ws;
    workspace_read_begin(ws);
    if (ws->ident_version != ex->version || !atomic_load(&ws->loaded)) {
        workspace_read_end(ws);
        return false;
    }
    const struct identity *id = &ws->ident;
    const struct strmap *m = &id->ext;
    while (left > 0 && ex->it->has_value) {
        uint32_t want = left < 512 ? (uint32_t)left : 512;
        uint32_t n = roaring_read_uint32_iterator(ex->it, uids, want);
        left -= n;
        for (uint32_t i = 0; i < n && i < AHEAD; i++)
            prefetch_slot(ex, m, uids[i]);
        for (uint32_t i = 0; i < n; i++) {
            if (i + AHEAD < n)
                prefetch_slot(ex, m, uids[i + AHEAD]);
            uint32_t uid = uids[i];
            if (!identity_is_live(id, uid))
                continue;
            char bid[BRAZE_ID_LEN + 1];
            identity_braze_id_text(id->users[uid].bid, bid);
            struct segment_export_user eu = {.braze_id = bid, .attrs = "{}"};
            uint32_t sl = ex->slot[uid - ex->lo], value;
            const char *key;
            size_t key_len;
            if (sl && (id->users[uid].flags & USER_IDENTIFIED) &&
                strmap_slot_entry(m, sl - 1, &key, &key_len, &value) && value == uid) {
                eu.external_id = key;
                eu.external_id_len = key_len;
            }
            cb(ctx, &eu);
        }
        if (n < want)
            break;
    }
    workspace_read_end(ws);
    return true;
}

static void take_row(void *ctx, const struct user_row *u) {
    struct segment_export *ex = ctx;
    ex->n_rows++;
    while (ex->it->has_value && ex->it->current_value < u->uid)
        roaring_advance_uint32_iterator(ex->it);
    if (!ex->it->has_value || ex->it->current_value != u->uid || u->deleted)
        return;
    roaring_advance_uint32_iterator(ex->it);
    struct segment_export_user eu = {u->braze_id, u->external_id,
                                     u->external_id ? strlen(u->external_id) : 0, u->created_at,
                                     u->attrs ? u->attrs : "{}"};
    ex->cb(ex->ctx, &eu);
}

enum cd_err segments_export_next(struct segment_export *ex, int64_t rows,
                                 void (*cb)(void *ctx, const struct segment_export_user *u),
                                 void *ctx, bool *done) {
    *done = !ex->it->has_value;
    if (*done)
        return CD_OK;
    if (!ex->from_store) {
        if (next_from_memory(ex, rows, cb, ctx)) {
            *done = !ex->it->has_value;
            return CD_OK;
        }
        ex->from_store = true; /* the identity changed: the store from here on */
        free(ex->slot);
        ex->slot = NULL;
    }
    ex->cb = cb;
    ex->ctx = ctx;
    ex->n_rows = 0;
    enum cd_err err =
        STORE_OPS(ex->app->store)
            ->users->range(ex->app->store, ex->ws->id, ex->it->current_value, rows, take_row, ex);
    *done = err != CD_OK || ex->n_rows == 0 || !ex->it->has_value;
    return err;
}

void segments_export_close(struct segment_export *ex) {
    if (!ex)
        return;
    free(ex->slot);
    roaring_free_uint32_iterator(ex->it);
    roaring_bitmap_free(ex->audience);
    free(ex);
}
