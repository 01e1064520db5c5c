/*
 * profile.h — Braze's standard profile fields as cohortd keeps them. A user's stored attribute
 * object holds its profile fields and its custom attributes side by side under their names
 * (one namespace: a custom attribute can never be named like a profile field), so the index,
 * export and segment filters tell them apart by this list alone. api/ checks and normalises
 * the values before they are stored (api/users_profile.c); core stores what it is given.
 */
#ifndef COHORTD_CORE_USERS_PROFILE_H
#define COHORTD_CORE_USERS_PROFILE_H

#include <stdbool.h>

/* The stored names of the profile fields, NULL-terminated, in Braze's order of the user
 * attributes object (current_location is stored as last_coordinates, [longitude, latitude]),
 * then total_revenue, which only purchases change (the sum of price × quantity, currencies
 * not converted). */
extern const char *const profile_fields[];

/* Whether a stored attribute name is a profile field. */
bool profile_field_is(const char *name);

#endif
