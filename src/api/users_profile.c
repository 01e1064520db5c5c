/*
 * users_profile.c — the standard profile fields of a /users/track attributes object
 * (Braze's user attributes object): each value checked and brought to the form core stores
 * (core/users/profile.h). A value of the wrong kind refuses the whole request, 400, with a
 * message that names the field and the value; a country that maps to no ISO-3166-1 alpha-2
 * code is stored as null (removed), as Braze does. Cost: constant per field (the country
 * table is a scan of 249 two-letter codes).
 */
#include "api/users_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/users/profile.h"
#include "util/timeutil.h"

/* ISO 3166-1 alpha-2, the officially assigned codes. */
static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ "
    "BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
    "DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR "
    "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY "
    "HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP "
    "KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY "
    "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ "
    "NA NC NE NF NG NI NL NO NP NR NU NZ OM "
    "PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ "
    "TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ "
    "VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/* The code of a country given as a code in any case (with white space around it), or NULL. */
static const char *country_code(const char *text, char code[3]) {
    while (isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    if (len != 2 || !isalpha((unsigned char)text[0]) || !isalpha((unsigned char)text[1]))
        return NULL;
    code[0] = (char)toupper((unsigned char)text[0]);
    code[1] = (char)toupper((unsigned char)text[1]);
    code[2] = '\0';
    for (const char *p = countries; *p; p += p[2] ? 3 : 2)
        if (p[0] == code[0] && p[1] == code[1])
            return code;
    return NULL;
}

static bool leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DD" naming a real day. */
static bool is_dob(const char *s) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1)
        return false;
    return d <= days[m - 1] + (m == 2 && leap(y));
}

/* An IANA time zone name as far as its spelling goes: "UTC", "Europe/Berlin", "Etc/GMT+1". */
static bool is_time_zone(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len > 64 || !isalpha((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return false;
    return true;
}

static bool one_of(const char *s, const char *const *set) {
    for (int i = 0; s && set[i]; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static bool is_subscription(const char *s) {
    static const char *const states[] = {"opted_in", "subscribed", "unsubscribed", NULL};
    return one_of(s, states);
}

/* A non-empty string member, or absent when optional. */
static bool str_member(const json_t *obj, const char *key, bool optional) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return optional;
    return json_is_string(v) && json_string_length(v) > 0;
}

static bool is_push_token(const json_t *v) {
    static const char *const keys[] = {"app_id", "token", "device_id", NULL};
    const char *key;
    const json_t *w;
    if (!json_is_object(v))
        return false;
    json_object_foreach((json_t *)v, key, w) if (!one_of(key, keys)) return false;
    return str_member(v, "app_id", false) && str_member(v, "token", false) &&
           str_member(v, "device_id", true);
}

static bool is_subscription_group(const json_t *v) {
    static const char *const keys[] = {"subscription_group_id", "subscription_state", NULL};
    static const char *const states[] = {"subscribed", "unsubscribed", NULL};
    const char *key;
    const json_t *w;
    if (!json_is_object(v))
        return false;
    json_object_foreach((json_t *)v, key, w) if (!one_of(key, keys)) return false;
    return str_member(v, "subscription_group_id", false) &&
           one_of(json_string_value(json_object_get(v, "subscription_state")), states);
}

static bool array_of(const json_t *v, bool (*item)(const json_t *)) {
    size_t i;
    const json_t *w;
    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, w) if (!item(w)) return false;
    return true;
}

bool api_profile_input_is(const char *key) {
    return strcmp(key, "current_location") == 0 ||
           (strcmp(key, "last_coordinates") != 0 && strcmp(key, "total_revenue") != 0 &&
            profile_field_is(key));
}

/* 400 "<path>.<key>: <value> <what>", the value shown as JSON (its first 64 bytes). */
static enum cd_err refuse(struct cd_msg *msg, const char *path, const char *key,
                          const json_t *value, const char *what) {
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    enum cd_err err = cd_invalid(msg, "%s.%s: %.64s%s %s", path, key, text ? text : "?",
                                 text && strlen(text) > 64 ? "..." : "", what);
    free(text);
    return err;
}

enum cd_err api_profile_value(const char *path, const char *key, const json_t *value,
                              const char **stored_name, json_t **stored, struct cd_msg *msg) {
    static const char *const genders[] = {"M", "F", "O", "N", "P", NULL};
    static const char *const strings[] = {"first_name", "last_name", "home_city", "image_url",
                                          NULL};
    static const char *const dates[] = {"date_of_first_session", "date_of_last_session",
                                        "marked_email_as_spam_at", NULL};
    const char *s = json_string_value(value);
    *stored_name = key;
    *stored = NULL;
    if (json_is_null(value))
        return CD_OK; /* removes the field */
    if (one_of(key, strings)) {
        if (!s)
            return refuse(msg, path, key, value, "is not a string");
    } else if (strcmp(key, "email") == 0) {
        if (!api_user_email_valid(s))
            return refuse(msg, path, key, value, "is not an email address");
    } else if (strcmp(key, "phone") == 0) {
        if (!api_user_phone_valid(s))
            return refuse(msg, path, key, value, "is not a phone number");
    } else if (strcmp(key, "gender") == 0) {
        char g[2] = {s && strlen(s) == 1 ? (char)toupper((unsigned char)s[0]) : '\0', '\0'};
        if (!one_of(g, genders))
            return refuse(msg, path, key, value,
                          "is not one of \"M\", \"F\", \"O\", \"N\", \"P\" "
                          "or null");
        *stored = json_string(g);
        return *stored ? CD_OK : CD_E_NOMEM;
    } else if (strcmp(key, "country") == 0) {
        char code[3];
        if (!s)
            return refuse(msg, path, key, value, "is not a string");
        if (!country_code(s, code))
            return CD_OK; /* unmappable: null, as Braze stores it */
        *stored = json_string(code);
        return *stored ? CD_OK : CD_E_NOMEM;
    } else if (strcmp(key, "language") == 0) {
        if (!s || strlen(s) != 2 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]))
            return refuse(msg, path, key, value, "is not an ISO-639-1 language code");
        char lang[3] = {(char)tolower((unsigned char)s[0]), (char)tolower((unsigned char)s[1]),
                        '\0'};
        *stored = json_string(lang);
        return *stored ? CD_OK : CD_E_NOMEM;
    } else if (strcmp(key, "dob") == 0) {
        if (!s || !is_dob(s))
            return refuse(msg, path, key, value, "is not a date \"YYYY-MM-DD\"");
    } else if (strcmp(key, "time_zone") == 0) {
        if (!s || !is_time_zone(s))
            return refuse(msg, path, key, value, "is not an IANA time zone name");
    } else if (strcmp(key, "email_subscribe") == 0 || strcmp(key, "push_subscribe") == 0) {
        if (!is_subscription(s))
            return refuse(msg, path, key, value,
                          "is not one of \"opted_in\", \"subscribed\" and \"unsubscribed\"");
    } else if (strcmp(key, "email_open_tracking_disabled") == 0 ||
               strcmp(key, "email_click_tracking_disabled") == 0) {
        if (!json_is_boolean(value))
            return refuse(msg, path, key, value, "is not a boolean");
    } else if (one_of(key, dates)) {
        int64_t ms;
        if (!s || time_parse_iso8601(s, &ms) != 0)
            return refuse(msg, path, key, value, "is not an ISO-8601 time");
        char text[32];
        time_format_iso8601(ms, text, sizeof text);
        *stored = json_string(text);
        return *stored ? CD_OK : CD_E_NOMEM;
    } else if (strcmp(key, "current_location") == 0) {
        const json_t *lon = json_object_get(value, "longitude");
        const json_t *lat = json_object_get(value, "latitude");
        if (!json_is_object(value) || json_object_size(value) != 2 || !json_is_number(lon) ||
            !json_is_number(lat) || fabs(json_number_value(lon)) > 180 ||
            fabs(json_number_value(lat)) > 90)
            return refuse(msg, path, key, value,
                          "is not {\"longitude\": -180 to 180, \"latitude\": -90 to 90}");
        *stored_name = "last_coordinates";
        *stored = json_pack("[f,f]", json_number_value(lon), json_number_value(lat));
        return *stored ? CD_OK : CD_E_NOMEM;
    } else if (strcmp(key, "push_tokens") == 0) {
        if (!array_of(value, is_push_token))
            return refuse(msg, path, key, value,
                          "is not an array of {\"app_id\", \"token\", \"device_id\"?}");
    } else if (strcmp(key, "subscription_groups") == 0) {
        if (!array_of(value, is_subscription_group))
            return refuse(msg, path, key, value,
                          "is not an array of {\"subscription_group_id\", \"subscription_state\": "
                          "\"subscribed\" or \"unsubscribed\"}");
    } else if (strcmp(key, "facebook") == 0 || strcmp(key, "twitter") == 0) {
        if (!json_is_object(value))
            return refuse(msg, path, key, value, "is not an object");
    }
    *stored = json_deep_copy(value);
    return *stored ? CD_OK : CD_E_NOMEM;
}
