/* router.c — segment-wise matching of paths against route patterns (see router.h). */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

/* Matches path against pattern; captures "{…}" segments. */
static bool match(const char *pattern, const char *path, struct route_params *params) {
    params->n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        size_t sl = se ? (size_t)(se - s) : strlen(s);
        if (pl == ROUTER_REST_LEN && memcmp(p, ROUTER_REST, pl) == 0 && p[pl] == '\0') {
            /* the last segment "{path}" takes the rest of the path, slashes and all */
            sl = strlen(s);
            if (sl >= ROUTER_PARAM_CAP || params->n >= ROUTER_MAX_PARAMS)
                return false;
            memcpy(params->values[params->n], s, sl + 1);
            params->n++;
        } else if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (sl == 0 || sl >= ROUTER_PARAM_CAP || params->n >= ROUTER_MAX_PARAMS)
                return false;
            memcpy(params->values[params->n], s, sl);
            params->values[params->n][sl] = '\0';
            params->n++;
        } else if (pl != sl || memcmp(p, s, pl) != 0) {
            return false;
        }
        p += pl;
        s += sl;
    }
    return *p == '\0' && *s == '\0';
}

const struct http_route *router_match(const struct http_route *routes, size_t n_routes,
                                      const char *method, const char *path,
                                      struct route_params *params, bool *path_known) {
    *path_known = false;
    for (size_t i = 0; i < n_routes; i++) {
        if (!match(routes[i].pattern, path, params))
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        *path_known = true;
    }
    return NULL;
}
