-- 5: one owner per workspace. The node that holds a workspace's live lease loads it, writes
-- it and runs its background work; the others forward its requests to `address`. Times are
-- UNIX ms on the database's clock, so nodes never compare their own clocks. epoch grows by
-- one at every acquire: a write transaction checks (holder, epoch), so a node that lost the
-- lease cannot commit.
CREATE TABLE workspace_leases (
  workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id),
  holder TEXT NOT NULL,
  address TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  epoch BIGINT NOT NULL);
