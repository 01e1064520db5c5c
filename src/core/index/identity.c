/*
 * identity.c — the identity index of identity.h. Alias keys are stored as
 * "<label length, 4 bytes><label><name>" so no separator byte can make two aliases collide;
 * they are built on the stack when short, else in an exact-size allocation (no length limit).
 * Under a journal (id->undo) each change records the user slot and counters before it.
 */
#include "core/index/identity.h"

#include <stdlib.h>
#include <string.h>

#include "core/index/bitmap.h"
#include "util/crypto.h"

const char *identity_miss_name(enum match_miss miss) {
    switch (miss) {
    case MATCH_OK:
        return "matched";
    case MISS_UNKNOWN_EXTERNAL_ID:
        return "unknown external_id";
    case MISS_UNKNOWN_ALIAS:
        return "unknown alias";
    case MISS_UNKNOWN_DEVICE:
        return "unknown device";
    case MISS_DEVICE_IDENTIFIED:
        return "device of an identified user";
    }
    return "unknown";
}

void identity_init(struct identity *id) {
    memset(id, 0, sizeof *id);
    strmap_init(&id->ext);
    strmap_init(&id->alias);
    strmap_init(&id->device);
    strmap_init(&id->contact[IDENTITY_EMAIL]);
    strmap_init(&id->contact[IDENTITY_PHONE]);
    id->live = roaring_bitmap_create();
    id->identified = roaring_bitmap_create();
    id->n_users = 1;
}

void identity_free(struct identity *id) {
    free(id->users);
    if (id->live)
        roaring_bitmap_free(id->live);
    if (id->identified)
        roaring_bitmap_free(id->identified);
    strmap_free(&id->ext);
    strmap_free(&id->alias);
    strmap_free(&id->device);
    strmap_free(&id->contact[IDENTITY_EMAIL]);
    strmap_free(&id->contact[IDENTITY_PHONE]);
    memset(id, 0, sizeof *id);
}

int identity_reserve(struct identity *id, uint32_t uid) {
    if (uid < id->users_cap)
        return 0;
    size_t cap = id->users_cap ? id->users_cap : 1024;
    while (cap <= uid)
        cap += cap < ((size_t)1 << 20) ? cap : cap / 8;
    if (cap > UINT32_MAX)
        return -1;
    struct user_mem *u = realloc(id->users, cap * sizeof *u);
    if (!u)
        return -1;
    memset(u + id->users_cap, 0, (cap - id->users_cap) * sizeof *u);
    id->users = u;
    id->users_cap = (uint32_t)cap;
    return 0;
}

void identity_load_begin(struct identity *id) {
    id->loading = true;
}

int identity_load_end(struct identity *id) {
    id->loading = false;
    if (strmap_place(&id->ext) != 0 || strmap_place(&id->alias) != 0 ||
        strmap_place(&id->device) != 0)
        return -1;
    identity_trim_users(id);
    return 0;
}

void identity_trim_users(struct identity *id) {
    /* the table grew in steps; keep only the users there are (and uid 0) */
    if (id->users && id->n_users < id->users_cap) {
        struct user_mem *u = realloc(id->users, (size_t)id->n_users * sizeof *u);
        if (u) {
            id->users = u;
            id->users_cap = id->n_users;
        }
    }
}

void identity_mem_bytes(const struct identity *id, struct identity_bytes *out) {
    out->users = (size_t)id->users_cap * sizeof *id->users;
    out->live = bitmap_mem_bytes(id->live) + bitmap_mem_bytes(id->identified);
    out->external = strmap_bytes(&id->ext);
    out->alias = strmap_bytes(&id->alias);
    out->device = strmap_bytes(&id->device);
    out->contact =
        strmap_bytes(&id->contact[IDENTITY_EMAIL]) + strmap_bytes(&id->contact[IDENTITY_PHONE]);
}

/* put, or only collect while loading (identity_load_begin) */
static int map_put(struct identity *id, struct strmap *m, const char *key, size_t key_len,
                   uint32_t uid) {
    if (id->loading)
        return strmap_defer(m, key, key_len, uid);
    return strmap_put_undo(m, key, key_len, uid, id->undo);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int identity_new_braze_id(uint32_t uid, int64_t now_ms, uint8_t bid[12]) {
    put_be32(bid, (uint32_t)(now_ms / 1000));
    if (crypto_random(bid + 4, 4) != 0)
        return -1;
    put_be32(bid + 8, uid);
    return 0;
}

void identity_braze_id_text(const uint8_t bid[12], char out[BRAZE_ID_LEN + 1]) {
    crypto_hex(bid, 12, out);
}

/* 1 + the value of each hex digit; 0 for any other byte (NUL included). */
static const uint8_t hex1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int identity_braze_id_parse(const char *text, uint8_t bid[12]) {
    for (size_t i = 0; i < 12; i++) {
        /* a NUL is not a digit: a short text stops the loop where it ends */
        uint8_t hi = hex1[(uint8_t)text[2 * i]];
        if (!hi)
            return -1;
        uint8_t lo = hex1[(uint8_t)text[2 * i + 1]];
        if (!lo)
            return -1;
        bid[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    return text[BRAZE_ID_LEN] == '\0' ? 0 : -1;
}

/* An alias key, in a stack buffer when short and an exact-size allocation otherwise. */
struct alias_key {
    char stack[256];
    char *p;
    size_t len;
};

/* Builds the key of (label, name); returns 0, or -1 when memory ran out. */
static int alias_key(struct alias_key *k, const char *label, const char *name) {
    size_t ll = strlen(label), nl = strlen(name);
    k->p = k->stack;
    k->len = 0;
    if (ll > UINT32_MAX || nl > SIZE_MAX - 4 - ll)
        return -1;
    size_t len = 4 + ll + nl;
    if (len > sizeof k->stack && !(k->p = malloc(len)))
        return -1;
    uint32_t l32 = (uint32_t)ll;
    memcpy(k->p, &l32, 4);
    memcpy(k->p + 4, label, ll);
    memcpy(k->p + 4 + ll, name, nl);
    k->len = len;
    return 0;
}

static void alias_key_done(struct alias_key *k) {
    if (k->p != k->stack)
        free(k->p);
}

/* The state of one user before a change: its slot and the counters. */
struct user_undo {
    uint32_t uid;
    uint32_t n_users;
    uint32_t n_live;
    struct user_mem mem;
};

static void user_undo(void *obj, void *state) {
    struct identity *id = obj;
    struct user_undo uu;
    memcpy(&uu, state, sizeof uu);
    id->users[uu.uid] = uu.mem;
    id->n_users = uu.n_users;
    id->n_live = uu.n_live;
}

/* Records user uid (which fits the table) as it is now; returns 0 or -1. */
static int record_user(struct identity *id, uint32_t uid) {
    if (!id->undo)
        return 0;
    struct user_undo uu = {uid, id->n_users, id->n_live, id->users[uid]};
    return undo_push(id->undo, user_undo, NULL, id, &uu, sizeof uu);
}

int identity_add_user(struct identity *id, uint32_t uid, const uint8_t bid[12], const char *ext,
                      bool created_anon, bool deleted) {
    if (uid == 0 || identity_reserve(id, uid) != 0 || record_user(id, uid) != 0)
        return -1;
    struct user_mem *u = &id->users[uid];
    memcpy(u->bid, bid, 12);
    u->flags = (uint8_t)((deleted ? 0 : USER_LIVE) | (created_anon ? USER_CREATED_ANON : 0));
    if (uid >= id->n_users)
        id->n_users = uid + 1;
    if (deleted)
        return 0;
    id->n_live++;
    if (undo_bitmap_add(id->undo, id->live, uid) != 0)
        return -1;
    return ext ? identity_set_external(id, uid, ext) : 0;
}

int identity_set_external(struct identity *id, uint32_t uid, const char *ext) {
    if (uid == 0 || uid >= id->users_cap || record_user(id, uid) != 0 ||
        map_put(id, &id->ext, ext, strlen(ext), uid) != 0)
        return -1;
    id->users[uid].flags |= USER_IDENTIFIED;
    return undo_bitmap_add(id->undo, id->identified, uid);
}

int identity_put_alias(struct identity *id, const char *label, const char *name, uint32_t uid) {
    struct alias_key k;
    int rc = alias_key(&k, label, name);
    if (rc == 0)
        rc = map_put(id, &id->alias, k.p, k.len, uid);
    alias_key_done(&k);
    return rc;
}

int identity_put_device(struct identity *id, const char *device_id, uint32_t uid) {
    return map_put(id, &id->device, device_id, strlen(device_id), uid);
}

void identity_del_alias(struct identity *id, const char *label, const char *name) {
    struct alias_key k;
    if (alias_key(&k, label, name) == 0)
        strmap_del_undo(&id->alias, k.p, k.len, id->undo);
    else if (id->undo)
        id->undo->lost = true; /* the alias stays in memory: only a reload can drop it */
    alias_key_done(&k);
}

void identity_del_device(struct identity *id, const char *device_id) {
    strmap_del_undo(&id->device, device_id, strlen(device_id), id->undo);
}

void identity_del_external(struct identity *id, const char *ext) {
    strmap_del_undo(&id->ext, ext, strlen(ext), id->undo);
}

void identity_kill_user(struct identity *id, uint32_t uid) {
    if (identity_is_live(id, uid)) {
        record_user(id, uid); /* a failure marks the journal lost; the kill goes on */
        id->users[uid].flags = 0;
        id->n_live--;
        undo_bitmap_remove(id->undo, id->live, uid);
        undo_bitmap_remove(id->undo, id->identified, uid);
    }
}

bool identity_is_live(const struct identity *id, uint32_t uid) {
    return uid > 0 && uid < id->n_users && (id->users[uid].flags & USER_LIVE);
}

bool identity_is_identified(const struct identity *id, uint32_t uid) {
    return identity_is_live(id, uid) && (id->users[uid].flags & USER_IDENTIFIED);
}

/* The live user a map holds for key, or 0. */
static uint32_t live_in(const struct identity *id, const struct strmap *m, const char *key,
                        size_t key_len) {
    uint32_t uid = 0;
    if (!strmap_get(m, key, key_len, &uid) || !identity_is_live(id, uid))
        return 0;
    return uid;
}

uint32_t identity_by_external(const struct identity *id, const char *ext, enum match_miss *miss) {
    uint32_t uid = live_in(id, &id->ext, ext, strlen(ext));
    if (miss)
        *miss = uid ? MATCH_OK : MISS_UNKNOWN_EXTERNAL_ID;
    return uid;
}

uint32_t identity_by_alias(const struct identity *id, const char *label, const char *name,
                           enum match_miss *miss) {
    struct alias_key k;
    uint32_t uid = alias_key(&k, label, name) == 0 ? live_in(id, &id->alias, k.p, k.len) : 0;
    alias_key_done(&k);
    if (miss)
        *miss = uid ? MATCH_OK : MISS_UNKNOWN_ALIAS;
    return uid;
}

uint32_t identity_device_owner(const struct identity *id, const char *device_id) {
    return live_in(id, &id->device, device_id, strlen(device_id));
}

uint32_t identity_by_device(const struct identity *id, const char *device_id,
                            enum match_miss *miss) {
    uint32_t uid = identity_device_owner(id, device_id);
    enum match_miss m = MATCH_OK;
    if (!uid) {
        m = MISS_UNKNOWN_DEVICE;
    } else if (id->users[uid].flags & USER_IDENTIFIED) {
        m = MISS_DEVICE_IDENTIFIED;
        uid = 0;
    }
    if (miss)
        *miss = m;
    return uid;
}

uint32_t identity_by_braze_id(const struct identity *id, const char *braze_id) {
    uint8_t bid[12];
    if (identity_braze_id_parse(braze_id, bid) != 0)
        return 0;
    uint32_t uid = (uint32_t)bid[8] << 24 | (uint32_t)bid[9] << 16 | (uint32_t)bid[10] << 8 |
                   (uint32_t)bid[11];
    if (!identity_is_live(id, uid) || memcmp(id->users[uid].bid, bid, 12) != 0)
        return 0;
    return uid;
}

void identity_prefetch(const struct identity *id, enum identity_map map, const char *a,
                       const char *b, int stage) {
    if (map == IDENTITY_ALIAS) {
        struct alias_key k;
        if (alias_key(&k, a, b) == 0)
            strmap_prefetch(&id->alias, k.p, k.len, stage);
        alias_key_done(&k);
        return;
    }
    strmap_prefetch(map == IDENTITY_EXTERNAL ? &id->ext : &id->device, a, strlen(a), stage);
}

/* ---- contacts: a multimap in one strmap (see identity.h) ---- */

/* The longest contact key: emails and phone numbers are far shorter (api/limits.h). */
#define CONTACT_KEY_MAX 512

size_t identity_contact_key(enum identity_contact c, const char *addr, size_t addr_len, char *out,
                            size_t cap) {
    size_t b = 0, e = addr_len, n = 0;
    if (c == IDENTITY_EMAIL) {
        while (b < e && (addr[b] == ' ' || addr[b] == '\t' || addr[b] == '\r' || addr[b] == '\n'))
            b++;
        while (e > b && (addr[e - 1] == ' ' || addr[e - 1] == '\t' || addr[e - 1] == '\r' ||
                         addr[e - 1] == '\n'))
            e--;
    }
    for (size_t i = b; i < e; i++) {
        char ch = addr[i];
        if (ch == '\0')
            return 0;
        if (c == IDENTITY_PHONE && (ch < '0' || ch > '9'))
            continue;
        if (c == IDENTITY_EMAIL && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (n + 1 >= cap)
            return 0;
        out[n++] = ch;
    }
    out[n] = '\0';
    return n;
}

/* The key of the k-th holder of `key`: NUL, k (4 bytes), key. */
static size_t member_key(char *out, const char *key, size_t key_len, uint32_t k) {
    out[0] = '\0';
    put_be32((uint8_t *)out + 1, k);
    memcpy(out + 5, key, key_len);
    return key_len + 5;
}

static uint32_t holders_of(const struct strmap *m, const char *key, size_t key_len) {
    uint32_t n = 0;
    return strmap_get(m, key, key_len, &n) ? n : 0;
}

int identity_put_contact(struct identity *id, enum identity_contact c, const char *addr,
                         size_t addr_len, uint32_t uid) {
    char key[CONTACT_KEY_MAX], mk[CONTACT_KEY_MAX + 5];
    size_t kl = identity_contact_key(c, addr, addr_len, key, sizeof key);
    if (kl == 0)
        return 0;
    struct strmap *m = &id->contact[c];
    uint32_t n = holders_of(m, key, kl);
    if (strmap_put_undo(m, mk, member_key(mk, key, kl, n), uid, id->undo) != 0)
        return -1;
    return strmap_put_undo(m, key, kl, n + 1, id->undo);
}

void identity_del_contact(struct identity *id, enum identity_contact c, const char *addr,
                          size_t addr_len, uint32_t uid) {
    char key[CONTACT_KEY_MAX], mk[CONTACT_KEY_MAX + 5];
    size_t kl = identity_contact_key(c, addr, addr_len, key, sizeof key);
    if (kl == 0)
        return;
    struct strmap *m = &id->contact[c];
    uint32_t n = holders_of(m, key, kl);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = 0;
        if (!strmap_get(m, mk, member_key(mk, key, kl, k), &v) || v != uid)
            continue;
        /* the last holder takes slot k; the last slot goes */
        uint32_t last = 0;
        strmap_get(m, mk, member_key(mk, key, kl, n - 1), &last);
        if ((k != n - 1 &&
             strmap_put_undo(m, mk, member_key(mk, key, kl, k), last, id->undo) != 0) ||
            strmap_del_undo(m, mk, member_key(mk, key, kl, n - 1), id->undo) < 0 ||
            (n == 1 ? strmap_del_undo(m, key, kl, id->undo) < 0
                    : strmap_put_undo(m, key, kl, n - 1, id->undo) != 0)) {
            if (id->undo)
                id->undo->lost = true; /* only a reload can make memory right again */
        }
        return;
    }
}

size_t identity_by_contact(const struct identity *id, enum identity_contact c, const char *addr,
                           size_t addr_len, uint32_t *out, size_t max) {
    char key[CONTACT_KEY_MAX], mk[CONTACT_KEY_MAX + 5];
    size_t kl = identity_contact_key(c, addr, addr_len, key, sizeof key);
    if (kl == 0)
        return 0;
    const struct strmap *m = &id->contact[c];
    uint32_t n = holders_of(m, key, kl);
    size_t found = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = 0;
        if (!strmap_get(m, mk, member_key(mk, key, kl, k), &v) || !identity_is_live(id, v))
            continue;
        if (found < max)
            out[found] = v;
        found++;
    }
    return found;
}

/* ---- dropping users (snapshot replay) ---- */

struct drop_set {
    const uint64_t *bits; /* one bit per uid below n */
    uint32_t n;
};

static bool dropped(const struct drop_set *d, uint32_t uid) {
    return uid < d->n && (d->bits[uid >> 6] >> (uid & 63) & 1);
}

static bool drop_named(void *ctx, const char *key, size_t key_len, uint32_t value) {
    (void)key;
    (void)key_len;
    return dropped(ctx, value);
}

/* The holder entries of the dropped users in a contact map, copied out (the holders of an
 * address are renumbered as they go, so they are removed one by one afterwards). */
struct contact_drops {
    const struct drop_set *d;
    char *keys; /* each address after its length (4 bytes) and holder (4 bytes) */
    size_t len, cap;
    int failed;
};

static bool collect_contact(void *ctx, const char *key, size_t key_len, uint32_t value) {
    struct contact_drops *cd = ctx;
    /* "\0<k, 4 bytes><address>" holds a holder; "<address>" a count (identity.h) */
    if (key_len <= 5 || key[0] != '\0' || !dropped(cd->d, value) || cd->failed)
        return false;
    uint32_t alen = (uint32_t)(key_len - 5);
    if (cd->len + 8 + alen > cd->cap) {
        size_t cap = cd->cap ? cd->cap * 2 : 4096;
        while (cap < cd->len + 8 + alen)
            cap *= 2;
        char *k = realloc(cd->keys, cap);
        if (!k) {
            cd->failed = 1;
            return false;
        }
        cd->keys = k;
        cd->cap = cap;
    }
    memcpy(cd->keys + cd->len, &alen, 4);
    memcpy(cd->keys + cd->len + 4, &value, 4);
    memcpy(cd->keys + cd->len + 8, key + 5, alen);
    cd->len += 8 + alen;
    return false;
}

int identity_drop_users(struct identity *id, const roaring_bitmap_t *gone) {
    uint32_t n = id->users ? id->n_users : 0;
    uint64_t *bits = calloc((size_t)n / 64 + 1, sizeof *bits);
    if (!bits)
        return -1;
    roaring_uint32_iterator_t *it = roaring_create_iterator(gone);
    if (!it) {
        free(bits);
        return -1;
    }
    for (; it->has_value && it->current_value < n; roaring_advance_uint32_iterator(it)) {
        uint32_t uid = it->current_value;
        bits[uid >> 6] |= 1ull << (uid & 63);
        if (id->users[uid].flags & USER_LIVE)
            id->n_live--;
        id->users[uid].flags = 0;
    }
    roaring_free_uint32_iterator(it);
    roaring_bitmap_andnot_inplace(id->live, gone);
    roaring_bitmap_andnot_inplace(id->identified, gone);
    struct drop_set d = {bits, n};
    strmap_del_if(&id->ext, drop_named, &d);
    strmap_del_if(&id->alias, drop_named, &d);
    strmap_del_if(&id->device, drop_named, &d);
    int rc = 0;
    for (int c = IDENTITY_EMAIL; c <= IDENTITY_PHONE && rc == 0; c++) {
        struct contact_drops cd = {&d, NULL, 0, 0, 0};
        strmap_del_if(&id->contact[c], collect_contact, &cd);
        for (size_t off = 0; off < cd.len;) {
            uint32_t alen, uid;
            memcpy(&alen, cd.keys + off, 4);
            memcpy(&uid, cd.keys + off + 4, 4);
            /* the stored address is a key already: normalising it again gives itself */
            identity_del_contact(id, (enum identity_contact)c, cd.keys + off + 8, alen, uid);
            off += 8 + alen;
        }
        free(cd.keys);
        rc = cd.failed ? -1 : 0;
    }
    free(bits);
    return rc;
}
