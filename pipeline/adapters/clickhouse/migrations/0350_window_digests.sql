-- Each unit window's digest (issue 11): 16 bytes as hex that change with any figure of the
-- window detection reads (pipeline/core/judgements.py, `window_digest`), written with the
-- window's row. A restore compares an organisation's judgement mark with the digests as
-- stored instead of rebuilding and hashing every window it restores. Rows written before this
-- migration have an empty digest: the restore computes theirs, as it did before.
ALTER TABLE {db}.unit_windows ADD COLUMN IF NOT EXISTS digest String DEFAULT '';
