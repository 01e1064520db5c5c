-- 4: an import's counters travel in its log row, so that imports of one cohort do not update
-- (and lock) the cohort's row: a ticketed COMMIT still flushing would hold that lock, and the
-- next import of the cohort would wait for the flush. The cohort's counters are its row's plus
-- those of its log rows; a checkpoint folds the rows it deletes into the cohort's row, in one
-- statement. Rows written before this migration have their counters in the cohort's row.
ALTER TABLE cohort_log
  ADD COLUMN n_received BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN n_matched BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN n_unmatched BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
