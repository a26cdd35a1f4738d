-- Which key chain made each patient pseudonym (`<key id>:<digest>`, pipeline/core/pseudonyms.py),
-- so a key rotation is visible and `pipeline rekey` finds what is left to re-key. Empty for a
-- pseudonym stored before key ids existed (a bare 32-character digest). Derived from the
-- pseudonym itself, so rows written before this migration have it too.
ALTER TABLE {db}.incident_reports
    ADD COLUMN IF NOT EXISTS patient_key_id LowCardinality(String)
    DEFAULT if(position(patient_pseudonym, ':') = 9, substring(patient_pseudonym, 1, 8), '')
    AFTER patient_pseudonym;
