/*
 * liquid_vars.c — what Braze's personalisation tags stand for: the ${tag} of a standard
 * profile field mapped to where the profile keeps it, and the namespaces (custom_attribute.,
 * api_trigger_properties., campaign., …) mapped to the render's objects. To support one more
 * standard field, add a row to profile_tags.
 */
#include "core/messaging/liquid/liquid_int.h"

#include <string.h>

enum source { FROM_USER_ID, FROM_BRAZE_ID, FROM_ATTRIBUTE };

/* ${tag} → where its value is. Standard attributes are kept in the profile's attribute object
 * under the names /users/track takes them by (email, phone, home_city, dob). */
static const struct {
    const char *tag;
    enum source source;
    const char *attribute;
} profile_tags[] = {
    {"user_id", FROM_USER_ID, NULL},
    {"external_id", FROM_USER_ID, NULL}, /* cohortd's older name, kept for stored templates */
    {"braze_id", FROM_BRAZE_ID, NULL},
    {"first_name", FROM_ATTRIBUTE, "first_name"},
    {"last_name", FROM_ATTRIBUTE, "last_name"},
    {"email_address", FROM_ATTRIBUTE, "email"},
    {"phone_number", FROM_ATTRIBUTE, "phone"},
    {"country", FROM_ATTRIBUTE, "country"},
    {"language", FROM_ATTRIBUTE, "language"},
    {"city", FROM_ATTRIBUTE, "home_city"},
    {"gender", FROM_ATTRIBUTE, "gender"},
    {"date_of_birth", FROM_ATTRIBUTE, "dob"},
    {"time_zone", FROM_ATTRIBUTE, "time_zone"},
};

#define N_PROFILE_TAGS (sizeof profile_tags / sizeof profile_tags[0])

static int profile_row(const char *tag) {
    for (size_t i = 0; i < N_PROFILE_TAGS; i++)
        if (strcmp(profile_tags[i].tag, tag) == 0)
            return (int)i;
    return -1;
}

bool lq_profile_known(const char *tag) {
    return profile_row(tag) >= 0;
}

json_t *lq_profile_value(const struct liquid_vars *vars, const char *tag) {
    int i = profile_row(tag);
    const char *s = NULL;
    if (i < 0)
        return json_null();
    switch (profile_tags[i].source) {
    case FROM_USER_ID:
        s = vars->user_id && *vars->user_id ? vars->user_id : NULL;
        break;
    case FROM_BRAZE_ID:
        s = vars->braze_id && *vars->braze_id ? vars->braze_id : NULL;
        break;
    case FROM_ATTRIBUTE: {
        json_t *v = json_is_object(vars->attrs)
                        ? json_object_get(vars->attrs, profile_tags[i].attribute)
                        : NULL;
        return v ? json_incref(v) : json_null();
    }
    }
    return s ? json_string(s) : json_null();
}

#define ANY_SCOPE ((1 << LIQUID_CAMPAIGN) | (1 << LIQUID_CANVAS))

enum ns { NS_ATTRS, NS_PROPS, NS_EVENT, NS_CAMPAIGN, NS_CANVAS };

static const struct {
    const char *name;
    enum ns ns;
    int scopes; /* bit per enum liquid_scope */
} namespaces[] = {
    {"custom_attribute", NS_ATTRS, ANY_SCOPE},
    {"api_trigger_properties", NS_PROPS, 1 << LIQUID_CAMPAIGN},
    {"canvas_entry_properties", NS_PROPS, 1 << LIQUID_CANVAS},
    {"context", NS_PROPS, 1 << LIQUID_CANVAS},
    {"event_properties", NS_EVENT, ANY_SCOPE},
    {"campaign", NS_CAMPAIGN, ANY_SCOPE},
    {"canvas", NS_CANVAS, ANY_SCOPE},
};

#define N_NAMESPACES (sizeof namespaces / sizeof namespaces[0])

bool lq_namespace_known(const char *name, enum liquid_scope scope, bool *allowed) {
    for (size_t i = 0; i < N_NAMESPACES; i++)
        if (strcmp(namespaces[i].name, name) == 0) {
            *allowed = scope == LIQUID_ANY || (namespaces[i].scopes & (1 << scope));
            return true;
        }
    *allowed = false;
    return false;
}

const json_t *lq_namespace(const struct liquid_vars *vars, const char *name) {
    for (size_t i = 0; i < N_NAMESPACES; i++) {
        if (strcmp(namespaces[i].name, name) != 0)
            continue;
        switch (namespaces[i].ns) {
        case NS_ATTRS:
            return vars->attrs;
        case NS_PROPS:
            return vars->props;
        case NS_EVENT:
            return vars->event_props;
        case NS_CAMPAIGN:
            return vars->campaign;
        case NS_CANVAS:
            return vars->canvas;
        }
    }
    return NULL;
}
