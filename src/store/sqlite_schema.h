/* sqlite_schema.h — the SQLite store's migrations (see sqlite_schema.c). */
#ifndef COHORTD_STORE_SQLITE_SCHEMA_H
#define COHORTD_STORE_SQLITE_SCHEMA_H

/* SQL that brings user_version from version-1 to version, or NULL past the latest. */
const char *sqlite_schema_migration(int version);

/* The newest schema version. */
int sqlite_schema_latest(void);

#endif
