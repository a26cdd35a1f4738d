-- Contract v1.1: target metrics in the value form (a mean of 27 minutes against 18, lower is
-- better) and feedback in the counts form (a month's responses per rating in one event).
-- A share keeps `value` NULL and `unit` empty; a value leaves numerator and denominator 0.
ALTER TABLE {db}.target_metrics
    ADD COLUMN IF NOT EXISTS value Nullable(Float64) AFTER denominator,
    ADD COLUMN IF NOT EXISTS unit LowCardinality(String) DEFAULT '' AFTER value;

-- `responses` is how many responses the event carries (1 for a single one, whose counts hold
-- a 1 at its rating); a batch keeps `rating` 0 and its period.
ALTER TABLE {db}.patient_feedback
    ADD COLUMN IF NOT EXISTS period_start Nullable(DateTime64(6, 'UTC')) AFTER rating,
    ADD COLUMN IF NOT EXISTS period_end Nullable(DateTime64(6, 'UTC')) AFTER period_start,
    ADD COLUMN IF NOT EXISTS counts Array(UInt32) AFTER period_end,
    ADD COLUMN IF NOT EXISTS responses UInt32 DEFAULT 1 AFTER counts;

-- Per window and metric, parallel to target_metrics: the unit ('' for a share), the direction,
-- the core's verdict (met) and the signed distance to the target in the target's unit. Views
-- read the verdict instead of working out "met" again.
ALTER TABLE {db}.unit_windows
    ADD COLUMN IF NOT EXISTS target_units Array(LowCardinality(String)) AFTER target_denominators,
    ADD COLUMN IF NOT EXISTS target_higher_is_better Array(UInt8) AFTER target_units,
    ADD COLUMN IF NOT EXISTS target_met Array(UInt8) AFTER target_higher_is_better,
    ADD COLUMN IF NOT EXISTS target_distances Array(Float64) AFTER target_met;
