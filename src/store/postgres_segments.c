/* postgres_segments.c — segment definitions in PostgreSQL (store_segment_ops). Deleted
 * segments keep their row (deleted_at set) so an id is never reused. */
#include "store/postgres_int.h"

#define SEGMENT_COLS "segment_id, name, description, filter, created_at, updated_at"

struct segment_cb {
    void (*cb)(void *, const struct segment_row *);
    void *ctx;
};

static void row_segment(struct pg_row *r, void *ctx) {
    struct segment_cb *sc = ctx;
    struct segment_row row = {
        .segment_id = pg_text(r, 0),
        .name = pg_text(r, 1),
        .description = pg_text(r, 2),
        .filter = pg_text(r, 3),
        .created_at = pg_int(r, 4),
        .updated_at = pg_int(r, 5),
    };
    sc->cb(sc->ctx, &row);
}

static enum cd_err create(struct store *s, int64_t ws, const struct segment_row *row) {
    const char *t[] = {row->segment_id, row->name, row->description, row->filter};
    int64_t i[] = {ws, row->created_at, row->updated_at};
    return pg_write(s,
                    "INSERT INTO segments(segment_id, name, description, filter, workspace_id, "
                    "created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                    "ttttiii", t, i, NULL);
}

static enum cd_err update(struct store *s, int64_t ws, const char *segment_id, const char *name,
                          const char *description, const char *filter, int64_t now) {
    const char *t[] = {segment_id, name, description, filter};
    int64_t i[] = {ws, now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE segments SET name = coalesce($2, name), description = "
                               "coalesce($3, description), filter = coalesce($4, filter), "
                               "updated_at = $6 WHERE segment_id = $1 AND workspace_id = $5 "
                               "AND deleted_at IS NULL",
                               "ttttii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err remove_segment(struct store *s, int64_t ws, const char *segment_id,
                                  int64_t now) {
    const char *t[] = {segment_id};
    int64_t i[] = {ws, now};
    int64_t changes = 0;
    enum cd_err err = pg_write(s,
                               "UPDATE segments SET deleted_at = $3 WHERE segment_id = $1 AND "
                               "workspace_id = $2 AND deleted_at IS NULL",
                               "tii", t, i, &changes);
    return err == CD_OK && changes == 0 ? CD_E_NOT_FOUND : err;
}

static enum cd_err get(struct store *s, int64_t ws, const char *segment_id,
                       void (*cb)(void *, const struct segment_row *), void *ctx) {
    struct segment_cb sc = {cb, ctx};
    const char *t[] = {segment_id};
    int64_t i[] = {ws};
    return pg_read_row(s,
                       "SELECT " SEGMENT_COLS " FROM segments WHERE segment_id = $1 AND "
                       "workspace_id = $2 AND deleted_at IS NULL",
                       "ti", t, i, row_segment, &sc);
}

static enum cd_err list(struct store *s, int64_t ws, bool ascending, int64_t offset, int64_t limit,
                        void (*cb)(void *, const struct segment_row *), void *ctx) {
    struct segment_cb sc = {cb, ctx};
    int64_t i[] = {ws, limit < 0 ? INT64_MAX : limit, offset};
    return pg_rows(s,
                   ascending ? "SELECT " SEGMENT_COLS " FROM segments WHERE workspace_id = $1 AND "
                               "deleted_at IS NULL ORDER BY created_at, id LIMIT $2 OFFSET $3"
                             : "SELECT " SEGMENT_COLS " FROM segments WHERE workspace_id = $1 AND "
                               "deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $2 "
                               "OFFSET $3",
                   "iii", NULL, i, row_segment, &sc);
}

const struct store_segment_ops postgres_segment_ops = {
    .create = create,
    .update = update,
    .remove = remove_segment,
    .get = get,
    .list = list,
};
