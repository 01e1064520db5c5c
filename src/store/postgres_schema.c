/*
 * postgres_schema.c — the versioned schema of the PostgreSQL store: the files of
 * src/store/migrations/postgres/ (NNN_what.sql, migration N brings the schema from version N-1
 * to N), embedded at build time by CMake (cmake/embed_migrations.cmake). Never edit a
 * migration that has shipped: add a file.
 */
#include "store/postgres_int.h"

#include <stddef.h>

/* defines pg_migrations[], one NUL-terminated text per file in version order */
#include "postgres_migrations.inc"

const char *pg_schema_migration(int version) {
    if (version < 1 || (size_t)version > sizeof pg_migrations / sizeof pg_migrations[0])
        return NULL;
    return pg_migrations[version - 1];
}

int pg_schema_latest(void) {
    return (int)(sizeof pg_migrations / sizeof pg_migrations[0]);
}
