"""The generators of the synthetic trust's alert history, responses and rejections."""

from __future__ import annotations

from tests.support.grafana_scale import Sql, sql_list


def alert_history_sql(db: str, q: Sql) -> str:
    """Alert versions: a divergence episode per episode unit, a safety signal per spike unit."""
    s = q.s
    divergence = f"""
    SELECT
        u, 'target_experience_divergence' AS kind,
        {q.episode_start("u")} AS first_week,
        least({q.episode_start("u")} + {q.episode_len("u")}, {s.weeks}) AS end_week,
        multiIf(cityHash64(u, 'sev') % 10 < 3, 'high', cityHash64(u, 'sev') % 10 < 8, 'medium',
                'low') AS severity
    FROM (SELECT number AS u FROM numbers({s.units})) WHERE {q.has_episode("u")}
    """
    spikes = f"""
    SELECT
        u, 'safety_signal' AS kind, {q.spike_start("u")} AS first_week,
        least({q.spike_start("u")} + 4, {s.weeks}) AS end_week, 'high' AS severity
    FROM (SELECT number AS u FROM numbers({s.units})) WHERE {q.has_spike("u")}
    """
    return f"""
INSERT INTO {db}.alert_history (alert_id, kind, org_id, unit_id, window_start, window_end,
    severity, status, summary, evidence, detected_at)
SELECT
    concat(substring(kind, 1, 3), '-', lower(hex(cityHash64(kind, org_id, unit_id, first_week))))
        AS alert_id,
    kind, {q.org("u")} AS org_id, {q.unit("u")} AS unit_id,
    toDateTime64({q.week_start("first_week")}, 6, 'UTC') AS window_start,
    toDateTime64({q.week_start("least(first_week + k + 2, end_week)")}, 6, 'UTC') AS window_end,
    severity,
    if(first_week + k + 2 > end_week, 'resolved', 'open') AS status,
    if(kind = 'safety_signal',
       concat('Harmful incidents on ', unit_id, ' are above their usual range.'),
       concat(unit_id, ' is meeting its ', {q.metric("u")},
              ' target while fewer patients rate their care as good.')) AS summary,
    concat('{{"method":"', if(kind = 'safety_signal', 'poisson_limits', 'p_chart'),
           '","targets":{{"', {q.metric("u")}, '":{{"target":', toString({q.target("u")}),
           '}}}},"weeks":', toString(k + 2), '}}') AS evidence,
    -- Each version is raised a day and a few hours after the window it covers closed.
    toDateTime64({q.week_start("first_week + k + 2")} + toIntervalHour(30), 6, 'UTC')
        AS detected_at
FROM ({divergence} UNION ALL {spikes}) AS episodes
ARRAY JOIN range(toUInt64(greatest(end_week - first_week - 1, 1)
                          + if(end_week < {s.weeks}, 1, 0))) AS k
"""


def responses_sql(db: str) -> str:
    """What the safety teams did: most alerts acknowledged within hours or days, some never."""
    ack = "(2 + cityHash64(alert_id, 'ack') % 70)"
    investigating = f"({ack} + 6 + cityHash64(alert_id, 'inv') % 48)"
    acted = f"({investigating} + 48 + cityHash64(alert_id, 'act') % 120)"
    steps = (
        f"[('acknowledged', {ack}), ('investigating', {investigating}), "
        "(if(kind = 'safety_signal' AND cityHash64(alert_id, 'fp') % 4 = 0, "
        f"'false_positive', 'action_taken'), {acted})]"
    )
    return f"""
INSERT INTO {db}.alert_responses (event_id, org_id, unit_id, occurred_at, source, alert_id,
    response, responder_role, note_redacted, free_text_chars, nhs_numbers_redacted,
    other_identifiers_redacted, late, origin, payload)
SELECT
    generateUUIDv4(cityHash64(alert_id, step.1)) AS event_id,
    org_id, unit_id,
    toDateTime64(first_detected + toIntervalHour(step.2), 6, 'UTC') AS occurred_at,
    'safety-portal' AS source,
    alert_id,
    step.1 AS response,
    arrayElement(['ward_manager', 'matron', 'patient_safety_lead'],
                 1 + cityHash64(alert_id, step.1) % 3) AS responder_role,
    if(step.1 = 'action_taken', 'Extra staff on the late shift; discharge lounge reopened', '')
        AS note_redacted,
    length(note_redacted) AS free_text_chars,
    0 AS nhs_numbers_redacted, 0 AS other_identifiers_redacted, 0 AS late,
    'safety-portal' AS origin,
    concat('{{"schema_version":1,"event_type":"alert_response","alert_id":"', alert_id,
           '","response":"', step.1, '"}}') AS payload
FROM
(
    SELECT alert_id, any(kind) AS kind, any(org_id) AS org_id, any(unit_id) AS unit_id,
           min(detected_at) AS first_detected
    FROM {db}.alert_history GROUP BY alert_id
)
ARRAY JOIN {steps} AS step
-- One alert in seven is never answered; the others get as far as their hash allows.
WHERE cityHash64(alert_id, 'answered') % 7 != 0
  AND (step.1 = 'acknowledged' OR cityHash64(alert_id, 'depth') % 3 != 0)
"""


ALERTS_SQL = """
INSERT INTO {db}.alerts (alert_id, kind, org_id, unit_id, window_start, window_end, severity,
    status, summary, evidence, detected_at)
SELECT alert_id, kind, org_id, unit_id, window_start, window_end, severity, status, summary,
    evidence, detected_at
FROM {db}.alert_history
"""


def rejected_sql(db: str, q: Sql) -> str:
    s = q.s
    reasons = sql_list(("not_json", "unknown_field", "wrong_type", "invalid_value",
                         "missing_field"))  # fmt: skip
    return f"""
INSERT INTO {db}.rejected_events (rejection_id, reason, field, detail, raw_base64, raw_preview,
    origin, received_at)
SELECT
    lower(hex(cityHash64(number, 'rej'))) AS rejection_id,
    arrayElement({reasons}, 1 + cityHash64(number, 'why') % 5) AS reason,
    'rating' AS field, 'expected an integer' AS detail,
    base64Encode('{{"rating":"2"}}') AS raw_base64, '{{"rating":"2"}}' AS raw_preview,
    concat('quality.patient_feedback/0@', toString(number)) AS origin,
    -- Recent: rejections are kept for 90 days from when they arrived.
    now64(3, 'UTC') - toIntervalSecond(number * 3571 % (30 * 86400)) AS received_at
FROM numbers({max(s.units * s.weeks // 10, 10)})
"""
