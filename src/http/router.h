/* router.h — matching a method and path against the route table (folder-private). */
#ifndef COHORTD_HTTP_ROUTER_H
#define COHORTD_HTTP_ROUTER_H

#include <stdbool.h>

#include "http/http.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_CAP 256
/* A pattern's last segment "{path}" matches the rest of the path, the slashes in it kept, and
 * may be empty (the files below a directory: "/dashboard/{path}" matches "/dashboard/" and
 * "/dashboard/js/app.js"). */
#define ROUTER_REST "{path}"
#define ROUTER_REST_LEN 6

struct route_params {
    int n;
    char values[ROUTER_MAX_PARAMS][ROUTER_PARAM_CAP];
};

/*
 * The route whose pattern matches path and whose method equals method, filling params.
 * NULL when none; then *path_known says whether some route matched the path with another
 * method (405 rather than 404).
 */
const struct http_route *router_match(const struct http_route *routes, size_t n_routes,
                                      const char *method, const char *path,
                                      struct route_params *params, bool *path_known);

#endif
