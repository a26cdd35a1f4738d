-- Accepted events, one table per type, in their storable form (free text redacted, patient
-- references pseudonymised). ReplacingMergeTree keyed by event_id: a replayed or re-delivered
-- event adds nothing once merged; readers count DISTINCT event_id or read with FINAL.
-- `payload` is the stored event's JSON, from which the engine rebuilds its state on start-up.
-- Insert deduplication tokens are honoured (non_replicated_deduplication_window), so a retried
-- batch is dropped before it is even written.

CREATE TABLE IF NOT EXISTS {db}.incident_reports
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    category LowCardinality(String),
    harm LowCardinality(String),
    reporter_role String,
    patient_pseudonym String,
    description_redacted String,
    free_text_chars UInt32,
    nhs_numbers_redacted UInt16,
    other_identifiers_redacted UInt16,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, unit_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.target_metrics
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    metric LowCardinality(String),
    period_start DateTime64(6, 'UTC'),
    period_end DateTime64(6, 'UTC'),
    numerator UInt64,
    denominator UInt64,
    target Float64,
    higher_is_better UInt8,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, unit_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.patient_feedback
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    rating UInt8,
    channel LowCardinality(String),
    comment_redacted String,
    themes Array(LowCardinality(String)),
    free_text_chars UInt32,
    nhs_numbers_redacted UInt16,
    other_identifiers_redacted UInt16,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, unit_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.alert_responses
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    alert_id String,
    response LowCardinality(String),
    responder_role String,
    note_redacted String,
    free_text_chars UInt32,
    nhs_numbers_redacted UInt16,
    other_identifiers_redacted UInt16,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (alert_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Bad input, kept with its original bytes (base64; valid NHS numbers redacted) and a
-- machine-readable reason. rejection_id hashes origin and bytes, so a re-delivered message is one rejection.
CREATE TABLE IF NOT EXISTS {db}.rejected_events
(
    rejection_id String,
    reason LowCardinality(String),
    field String,
    detail String,
    raw_base64 String CODEC(ZSTD(3)),
    raw_preview String,
    origin String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (reason, rejection_id)
SETTINGS non_replicated_deduplication_window = 10000;
