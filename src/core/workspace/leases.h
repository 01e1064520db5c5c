/*
 * leases.h — several nodes on one store: a workspace is loaded, written and worked on only by
 * the node that holds its lease in the store (store.h, store_lease_ops). A node that does not
 * hold it answers CD_E_MOVED for the workspace (the API forwards the request to the owner);
 * when no node holds a live lease, the first node to want the workspace takes it and loads it.
 *
 * The lease is renewed every lease_ms / 3 (app_leases_renew); a node that fails to renew it
 * before lease_ms (measured on its own monotonic clock from before the store took the
 * lease, so it gives up before the store lets another node in) stops serving the workspace at
 * once and drops its memory. Every write transaction checks the lease's epoch in the store, so
 * a node that lost its lease cannot commit even if its clock or scheduler lags.
 *
 * An app made by app_new owns every workspace and never calls the store's leases (SQLite: one
 * process has the file).
 */
#ifndef COHORTD_CORE_WORKSPACE_LEASES_H
#define COHORTD_CORE_WORKSPACE_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workspace/workspace.h"
#include "store/store.h"
#include "util/err.h"

/* app_new_leased (workspace.h) makes a leased app; app_set_node then says who this node is. */

/* This node's id and the base URL other nodes reach it at (each within the store's
 * STORE_LEASE_*_MAX), and the lease time. Until it succeeds, a leased app serves nothing.
 * It claims node_id in the store for this process (a random instance token, renewed with the
 * leases), replacing `previous` (NULL: none) at once: when another process holds the id, it
 * waits at most that claim's remaining time (the other may have died) and then answers
 * CD_E_EXISTS with msg saying who holds it. */
enum cd_err app_set_node(struct app *app, const char *node_id, const char *address,
                         int64_t lease_ms, const char *previous, struct cd_msg *msg);
/* This process's instance token (32 hex digits) once app_set_node succeeded: kept beside the
 * node's data, it is the `previous` of the next process there, which then replaces this one
 * at once instead of waiting for its claim to run out (store.h, node_claim). */
const char *app_node_instance(const struct app *app);

/* Whether app uses leases; its lease time (0 when not). */
bool app_leased(const struct app *app);
int64_t app_lease_ms(const struct app *app);
const char *app_node_id(const struct app *app);

/* Renews this process's claim of its node id, then every lease this node holds; one it lost
 * (taken, expired, or unrenewable past its time) stops being served and its memory is
 * dropped. When another process took the node id (this one was stalled past its claim), every
 * lease is dropped and none is taken again: this process serves nothing itself any more. */
void app_leases_renew(struct app *app);
/* Takes the lease of every workspace of the store that no node holds a live lease of, and
 * loads it (new workspaces are registered on the way). */
void app_leases_take(struct app *app);
/* Releases every lease this node holds and its node id's claim (at shutdown, after the last
 * request and write), so another node may take them at once. */
void app_leases_release(struct app *app);

/* Whether this node serves ws now: it holds the live lease (always, without leases) and the
 * workspace is loaded. Background workers work only on workspaces they own. */
bool workspace_owned(const struct workspace *ws);
/* Whether this node serves workspace ws_id (by internal id): always without leases; with them,
 * false for a workspace it has not taken. */
bool app_owns_workspace(struct app *app, int64_t ws_id);
/* The lease check of workspace ws_id at the start of transaction t of a background worker
 * (a Current's position): CD_OK while this node holds the live lease (always, without
 * leases), and then the lease cannot change hands before t ends; CD_E_MOVED otherwise (the
 * workspace stops being served here). */
enum cd_err app_lease_check_txn(struct app *app, struct store_txn *t, int64_t ws_id);
/* Whether this node runs the store-wide chores (retention): the one that owns the oldest
 * workspace; always without leases. */
bool app_leads(struct app *app);

/* Calls cb with the public id of every workspace this node serves, in registry order. */
void app_owned_each(struct app *app, void (*cb)(void *ctx, const char *public_id), void *ctx);

/* A CD_E_MOVED answer of app_workspace_msg (and the verbs that call it) names the owner in its
 * message: this copies the owner's advertised address into address ("" when unknown) and
 * returns the explanation for the client. */
const char *lease_moved_owner(const struct cd_msg *msg, char *address, size_t len);

/* The advertised address of the node that holds the live lease of ws_id, into out: CD_OK;
 * CD_E_NOT_FOUND when no node holds a live one (or without leases). */
enum cd_err app_workspace_owner(struct app *app, int64_t ws_id, char *out, size_t len);

#endif
