/*
 * identity.c — the identity index of identity.h. Alias keys are stored as
 * "<label length, 4 bytes><label><name>" so no separator byte can make two aliases collide.
 */
#include "core/index/identity.h"

#include <stdlib.h>
#include <string.h>

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
    memset(id, 0, sizeof *id);
}

int identity_reserve(struct identity *id, uint32_t uid) {
    if (uid < id->users_cap)
        return 0;
    size_t cap = id->users_cap ? id->users_cap : 1024;
    while (cap <= uid)
        cap *= 2;
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

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int identity_braze_id_parse(const char *text, uint8_t bid[12]) {
    if (strlen(text) != BRAZE_ID_LEN)
        return -1;
    for (size_t i = 0; i < 12; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        bid[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Builds an alias key into buf (cap bytes); returns its length, or 0 when it does not fit. */
static size_t alias_key(const char *label, const char *name, char *buf, size_t cap) {
    size_t ll = strlen(label), nl = strlen(name);
    if (4 + ll + nl > cap || ll > UINT32_MAX)
        return 0;
    uint32_t l32 = (uint32_t)ll;
    memcpy(buf, &l32, 4);
    memcpy(buf + 4, label, ll);
    memcpy(buf + 4 + ll, name, nl);
    return 4 + ll + nl;
}

#define ALIAS_KEY_CAP 2048

int identity_add_user(struct identity *id, uint32_t uid, const uint8_t bid[12], const char *ext,
                      bool created_anon, bool deleted) {
    if (uid == 0 || identity_reserve(id, uid) != 0)
        return -1;
    struct user_mem *u = &id->users[uid];
    memcpy(u->bid, bid, 12);
    u->flags = (uint8_t)((deleted ? 0 : USER_LIVE) | (created_anon ? USER_CREATED_ANON : 0));
    if (uid >= id->n_users)
        id->n_users = uid + 1;
    if (deleted)
        return 0;
    id->n_live++;
    roaring_bitmap_add(id->live, uid);
    return ext ? identity_set_external(id, uid, ext) : 0;
}

int identity_set_external(struct identity *id, uint32_t uid, const char *ext) {
    if (strmap_put(&id->ext, ext, strlen(ext), uid) != 0)
        return -1;
    id->users[uid].flags |= USER_IDENTIFIED;
    roaring_bitmap_add(id->identified, uid);
    return 0;
}

int identity_put_alias(struct identity *id, const char *label, const char *name, uint32_t uid) {
    char key[ALIAS_KEY_CAP];
    size_t len = alias_key(label, name, key, sizeof key);
    return len ? strmap_put(&id->alias, key, len, uid) : -1;
}

int identity_put_device(struct identity *id, const char *device_id, uint32_t uid) {
    return strmap_put(&id->device, device_id, strlen(device_id), uid);
}

void identity_del_alias(struct identity *id, const char *label, const char *name) {
    char key[ALIAS_KEY_CAP];
    size_t len = alias_key(label, name, key, sizeof key);
    if (len)
        strmap_del(&id->alias, key, len);
}

void identity_del_device(struct identity *id, const char *device_id) {
    strmap_del(&id->device, device_id, strlen(device_id));
}

void identity_del_external(struct identity *id, const char *ext) {
    strmap_del(&id->ext, ext, strlen(ext));
}

void identity_kill_user(struct identity *id, uint32_t uid) {
    if (identity_is_live(id, uid)) {
        id->users[uid].flags = 0;
        id->n_live--;
        roaring_bitmap_remove(id->live, uid);
        roaring_bitmap_remove(id->identified, uid);
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
    char key[ALIAS_KEY_CAP];
    size_t len = alias_key(label, name, key, sizeof key);
    uint32_t uid = len ? live_in(id, &id->alias, key, len) : 0;
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
        char key[ALIAS_KEY_CAP];
        size_t len = alias_key(a, b, key, sizeof key);
        if (len)
            strmap_prefetch(&id->alias, key, len, stage);
        return;
    }
    strmap_prefetch(map == IDENTITY_EXTERNAL ? &id->ext : &id->device, a, strlen(a), stage);
}
