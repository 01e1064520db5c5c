/*
 * identity.h — the in-memory identity index of one workspace: who a user is (braze_id,
 * whether identified, whether created anonymous) and the maps that find a user by
 * external_id, by alias (label, name), by device id, and by email address and phone number
 * (which, as in Braze, several users may share). Rebuilt from the store at start-up;
 * changed only after (or inside) the store transaction that makes the change durable.
 *
 * The matching rules of DESIGN.md live here: device ids match only users anonymous now.
 * uid 0 means "nobody"; real uids start at 1 and are never reused.
 * Not thread-safe: the workspace lock guards it.
 */
#ifndef COHORTD_CORE_INDEX_IDENTITY_H
#define COHORTD_CORE_INDEX_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "core/index/strmap.h"
#include "core/index/undo.h"

#define BRAZE_ID_LEN 24

enum user_flag {
    USER_LIVE = 1,
    USER_IDENTIFIED = 2, /* has an external_id */
    USER_CREATED_ANON = 4,
};

struct user_mem {
    uint8_t bid[12]; /* braze_id: created seconds, 4 random bytes, uid (big-endian) */
    uint8_t flags;
};

struct identity {
    struct user_mem *users; /* indexed by uid */
    uint32_t n_users;       /* next uid to hand out */
    uint32_t users_cap;
    uint32_t n_live;
    roaring_bitmap_t *live;       /* every live uid: the universe of NOT in segments */
    roaring_bitmap_t *identified; /* live uids with an external_id */
    struct strmap ext;
    struct strmap alias;
    struct strmap device;
    /* Contact maps, one per enum identity_contact: normalised address -> holders. Only users
     * with an email (phone) have entries, so users without one cost nothing here. Key
     * "<address>" holds the number n of live holders; key "\0<k, 4 bytes><address>" holds the
     * k-th holder (0 <= k < n). Normalised addresses hold no NUL, so the two never collide. */
    struct strmap contact[2];
    struct undo *undo; /* the open write's journal, or NULL (see undo.h) */
    bool loading;      /* between identity_load_begin and identity_load_end */
};

/* Why an identifier matched nobody (reported in cohort import counters). */
enum match_miss {
    MATCH_OK = 0,
    MISS_UNKNOWN_EXTERNAL_ID,
    MISS_UNKNOWN_ALIAS,
    MISS_UNKNOWN_DEVICE,
    MISS_DEVICE_IDENTIFIED,
};

/* Stable text of a miss reason ("unknown external_id", …). */
const char *identity_miss_name(enum match_miss miss);

void identity_init(struct identity *id);
void identity_free(struct identity *id);

/* Grows the user table so uid fits (by an eighth at a time once large: the table is not
 * moved, so a small step costs no copy). Returns 0 or -1 (no memory). */
int identity_reserve(struct identity *id, uint32_t uid);

/*
 * A start-up load into a fresh index: between begin and end, external ids, aliases and device
 * ids are only collected (strmap_defer), and end builds their maps in one pass each, sized for
 * what was loaded, and trims the user table to the users there are. Until end, the finders do
 * not see those identifiers. end returns 0, or -1 when memory ran out (the index is then
 * unusable: free it).
 */
void identity_load_begin(struct identity *id);
int identity_load_end(struct identity *id);

/*
 * Forgets the users of `gone` (a snapshot load about to load them again from the store): their
 * flags, their live and identified bits, and every external id, alias, device and contact entry
 * that names one of them; the user table keeps its size. One pass over each map's slots. No
 * journal: for an index nobody reads yet. Returns 0, or -1 when memory ran out (the index is
 * then unusable: free it).
 */
int identity_drop_users(struct identity *id, const roaring_bitmap_t *gone);

/* Cuts the user table to the users there are (and uid 0), as identity_load_end does. */
void identity_trim_users(struct identity *id);

/* Bytes each part of the index holds (for /metrics and the start-up log line). */
struct identity_bytes {
    size_t users;    /* the user table */
    size_t live;     /* the live and identified bitmaps */
    size_t external; /* the external id map and its keys */
    size_t alias;
    size_t device;
    size_t contact; /* the email and phone maps */
};
void identity_mem_bytes(const struct identity *id, struct identity_bytes *out);

/* Makes a fresh braze_id for `uid` created at `now_ms`; returns 0 or -1. */
int identity_new_braze_id(uint32_t uid, int64_t now_ms, uint8_t bid[12]);
void identity_braze_id_text(const uint8_t bid[12], char out[BRAZE_ID_LEN + 1]);
/* Parses 24 hex characters; returns 0 or -1. */
int identity_braze_id_parse(const char *text, uint8_t bid[12]);

/* Registers a user (live unless `deleted`). Returns 0 or -1 (no memory). */
int identity_add_user(struct identity *id, uint32_t uid, const uint8_t bid[12], const char *ext,
                      bool created_anon, bool deleted);
int identity_set_external(struct identity *id, uint32_t uid, const char *ext);
int identity_put_alias(struct identity *id, const char *label, const char *name, uint32_t uid);
int identity_put_device(struct identity *id, const char *device_id, uint32_t uid);
void identity_del_alias(struct identity *id, const char *label, const char *name);
void identity_del_device(struct identity *id, const char *device_id);
void identity_del_external(struct identity *id, const char *ext);
/* Marks the user not live (its identifiers must be removed by the caller). */
void identity_kill_user(struct identity *id, uint32_t uid);

/* Email addresses and phone numbers identify users too; several users may share one. */
enum identity_contact { IDENTITY_EMAIL, IDENTITY_PHONE };

/* The index key of an address into out (at most `cap` bytes with the NUL): an email trimmed of
 * surrounding white space and lower-cased (ASCII), a phone number's digits only ("+1 (504)
 * 327-7269" and "15043277269" are one number). Returns the key length, or 0 when the address
 * gives no key (empty, holds a NUL, or longer than cap - 1). */
size_t identity_contact_key(enum identity_contact c, const char *addr, size_t addr_len, char *out,
                            size_t cap);
/* Adds / removes uid as a holder of the address (raw, normalised here); an address that gives
 * no key is ignored. put returns 0 or -1 (no memory). del is linear in the holders of that
 * address. */
int identity_put_contact(struct identity *id, enum identity_contact c, const char *addr,
                         size_t addr_len, uint32_t uid);
void identity_del_contact(struct identity *id, enum identity_contact c, const char *addr,
                          size_t addr_len, uint32_t uid);
/* The live holders of the address: their number, and the first min(number, max) in out[]. */
size_t identity_by_contact(const struct identity *id, enum identity_contact c, const char *addr,
                           size_t addr_len, uint32_t *out, size_t max);

bool identity_is_live(const struct identity *id, uint32_t uid);
bool identity_is_identified(const struct identity *id, uint32_t uid);

enum identity_map { IDENTITY_EXTERNAL, IDENTITY_ALIAS, IDENTITY_DEVICE };

/* Prefetches the index memory a finder will touch for (a, b) in `map` (see strmap_prefetch);
 * call it with stage 0, then 1, over a batch before resolving the batch. */
void identity_prefetch(const struct identity *id, enum identity_map map, const char *a,
                       const char *b, int stage);

/* Finders: the uid, or 0 with *miss set (miss may be NULL). */
uint32_t identity_by_external(const struct identity *id, const char *ext, enum match_miss *miss);
uint32_t identity_by_alias(const struct identity *id, const char *label, const char *name,
                           enum match_miss *miss);
/* Matches only a user that is anonymous now (no external_id). */
uint32_t identity_by_device(const struct identity *id, const char *device_id,
                            enum match_miss *miss);
/* The device's owner whatever its state (for moving devices between users). */
uint32_t identity_device_owner(const struct identity *id, const char *device_id);
uint32_t identity_by_braze_id(const struct identity *id, const char *braze_id);

#endif
