-- 6: what several nodes must share besides the data.
-- Dashboard login sessions, by the SHA-256 of their token (the token itself is never stored):
-- a marketer logged in through one node is logged in on every node, and a logout ends the
-- session everywhere.
CREATE TABLE dashboard_sessions (
  hash TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  password_set_at BIGINT NOT NULL,
  ws_id BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions(user_id);
-- One row per node id: the process that holds the id (a random instance token drawn at start),
-- renewed with the leases. A second process started with the same --node-id while the row is
-- live refuses to start; a process whose row another one took (it was frozen past the node
-- time) holds and takes no lease any more. Times are UNIX ms on the database's clock.
CREATE TABLE cohortd_nodes (
  node_id TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  address TEXT NOT NULL,
  expires_at BIGINT NOT NULL);
