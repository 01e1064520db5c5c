/* postgres.h — opening the PostgreSQL store with the reason of a failure (store.c). */
#ifndef COHORTD_STORE_POSTGRES_H
#define COHORTD_STORE_POSTGRES_H

#include <stddef.h>

#include "store/store.h"

/* Opens (creating and migrating the schema as needed) the store at a postgresql:// URL;
 * err_msg says why not (the connection problem, the password left out). */
enum cd_err postgres_open(const char *url, struct store **out, char *err_msg, size_t err_len);

extern const struct store_ops postgres_store_ops;

#endif
