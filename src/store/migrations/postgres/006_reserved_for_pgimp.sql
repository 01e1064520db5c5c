-- Placeholder: migration 6 belongs to another branch (the import path's). This file keeps the
-- numbers contiguous on this branch only; the merge replaces it with that branch's 006.
SELECT 1;
