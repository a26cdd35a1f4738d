-- The board's target row keeps its chart (pipeline.core.board): one point per return in
-- force, each with its period, figure as published, denominator and point type; the report
-- draws these and computes no SPC of its own. Empty for the experience and safety rows.
ALTER TABLE {db}.mdc_summary ADD COLUMN IF NOT EXISTS point_starts Array(DateTime64(6, 'UTC'));
ALTER TABLE {db}.mdc_summary ADD COLUMN IF NOT EXISTS point_ends Array(DateTime64(6, 'UTC'));
ALTER TABLE {db}.mdc_summary ADD COLUMN IF NOT EXISTS point_values Array(Float64);
ALTER TABLE {db}.mdc_summary ADD COLUMN IF NOT EXISTS point_sizes Array(Float64);
ALTER TABLE {db}.mdc_summary ADD COLUMN IF NOT EXISTS point_types Array(LowCardinality(String));
