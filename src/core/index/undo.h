/*
 * undo.h — the undo journal of one workspace write. While a write is open, every mutating
 * function of the in-memory indexes (identity, strmap, attribute index, cohort set, event
 * index) records here how to put its change back before (or instead of, when recording
 * fails) making it; the workspace replays the journal backwards when the write fails, so a
 * failed write leaves memory exactly as it was without rebuilding it from the store.
 *
 * An entry is an undo function, an optional drop function (frees what the entry owns when
 * the write commits and the entry is discarded), the object it acts on and a copy of a few
 * bytes of state. Undo functions never allocate: they restore saved bytes, shrink counters,
 * remove bits or free what the change created. An index that holds no journal (NULL) records
 * nothing (loading, tests). When an entry cannot be recorded (no memory), the journal is
 * marked lost: the write's rollback then has to rebuild memory from the store. A function
 * that reports failure may leave its change unmade; one that cannot (a delete) makes it.
 *
 * Cost: one entry (48 bytes + its state) per index change of the write; kept until it ends.
 * Not thread-safe: the workspace write lock guards it.
 */
#ifndef COHORTD_CORE_INDEX_UNDO_H
#define COHORTD_CORE_INDEX_UNDO_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Puts a change back (undo) or frees what an entry owns (drop); state is the recorded copy. */
typedef void (*undo_fn)(void *obj, void *state);

struct undo_entry {
    undo_fn undo;
    undo_fn drop; /* NULL: nothing to free on commit */
    void *obj;
    size_t state_off; /* into undo.state */
};

struct undo {
    struct undo_entry *v;
    size_t n;
    size_t cap;
    unsigned char *state; /* recorded state bytes, 16-byte aligned per entry */
    size_t state_len;
    size_t state_cap;
    bool lost; /* an entry could not be recorded: memory cannot be put back from the journal */
};

void undo_init(struct undo *u);
/* Drops every entry (as a commit does) and frees the journal's memory. */
void undo_free(struct undo *u);

/*
 * Records an entry with a copy of state_len bytes of state. Returns 0, or -1 when memory ran
 * out (the journal is then marked lost). u NULL: records nothing and returns 0.
 */
int undo_push(struct undo *u, undo_fn undo, undo_fn drop, void *obj, const void *state,
              size_t state_len);

/* Replays the entries backwards, newest first, then empties the journal (kept allocated). */
void undo_rollback(struct undo *u);
/* Drops the entries (the change stays), then empties the journal. */
void undo_commit(struct undo *u);

/* roaring_bitmap_add / _remove that record their inverse in u when they change b. The change
 * is made even when it cannot be recorded: then they return -1 and the journal is lost (a
 * rollback must rebuild memory). u may be NULL. */
int undo_bitmap_add(struct undo *u, roaring_bitmap_t *b, uint32_t x);
int undo_bitmap_remove(struct undo *u, roaring_bitmap_t *b, uint32_t x);

#endif
