-- 3: what SQLite's migration 14 added: why a delivery failed (the answer's status and first
-- bytes, or the transport error), for the last failures of a campaign or Canvas (found through
-- its dispatches); NULL for a sent one and for those recorded before.
ALTER TABLE deliveries ADD COLUMN reason TEXT;
CREATE INDEX dispatches_campaign ON dispatches(campaign);
