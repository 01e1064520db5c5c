/*
 * profile.c — the list of profile.h. A linear scan of two dozen short names: cheaper than a
 * hash at this size, and called once per attribute written or exported.
 */
#include "core/users/profile.h"

#include <string.h>

const char *const profile_fields[] = {"first_name",
                                      "last_name",
                                      "email",
                                      "phone",
                                      "dob",
                                      "gender",
                                      "country",
                                      "home_city",
                                      "language",
                                      "time_zone",
                                      "image_url",
                                      "email_subscribe",
                                      "push_subscribe",
                                      "email_open_tracking_disabled",
                                      "email_click_tracking_disabled",
                                      "last_coordinates",
                                      "date_of_first_session",
                                      "date_of_last_session",
                                      "marked_email_as_spam_at",
                                      "push_tokens",
                                      "subscription_groups",
                                      "facebook",
                                      "twitter",
                                      "total_revenue",
                                      NULL};

bool profile_field_is(const char *name) {
    for (int i = 0; profile_fields[i]; i++)
        if (strcmp(profile_fields[i], name) == 0)
            return true;
    return false;
}
