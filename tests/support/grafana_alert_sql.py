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
        "(if(cityHash64(alert_id, 'fp') % 3 = 0, "
        f"'false_positive', 'action_taken'), {acted})]"
    )
    return f"""
INSERT INTO {db}.alert_responses (event_id, org_id, unit_id, occurred_at, source, alert_id,
    response, responder_role, note_redacted, free_text_chars, nhs_numbers_redacted,
    other_identifiers_redacted, late, origin, payload, owner, due_by)
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
           '","response":"', step.1, '"}}') AS payload,
    if(step.1 = 'acknowledged', '', responder_role) AS owner,
    if(step.1 = 'investigating', occurred_at + toIntervalDay(14), NULL) AS due_by
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


def unmatched_sql(db: str) -> str:
    """A few answers naming no alert (mistyped ids): the warning panel has something to count."""
    return f"""
INSERT INTO {db}.alert_responses (event_id, org_id, unit_id, occurred_at, source, alert_id,
    response, responder_role, note_redacted, free_text_chars, nhs_numbers_redacted,
    other_identifiers_redacted, late, origin, payload, owner, due_by)
SELECT
    generateUUIDv4(cityHash64(alert_id, 'typo')) AS event_id, org_id, unit_id,
    first_detected + toIntervalDay(1) AS occurred_at, 'safety-portal' AS source,
    concat(alert_id, 'x') AS alert_id, 'acknowledged' AS response, 'matron' AS responder_role,
    '' AS note_redacted, 0, 0, 0, 0, 'safety-portal' AS origin,
    '{{"schema_version":1,"event_type":"alert_response"}}' AS payload, '' AS owner, NULL
FROM
(
    SELECT alert_id, any(org_id) AS org_id, any(unit_id) AS unit_id,
           min(detected_at) AS first_detected
    FROM {db}.alert_history GROUP BY alert_id ORDER BY alert_id LIMIT 3
)
"""


def verdicts_sql(db: str, table: str) -> str:
    """What the pipeline's learning loop stores (pipeline.core.learning): false positives
    dismissed, and a recovery verdict on the alert's own measure after an action."""
    verdict = "arrayElement(['improved', 'no_change_yet', 'worse'], 1 + cityHash64(a.alert_id) % 3)"
    after = "arrayElement([0.9, 1.0, 1.8], 1 + cityHash64(a.alert_id) % 3)"  # same hash
    return f"""
INSERT INTO {db}.{table} (alert_id, kind, org_id, unit_id, window_start, window_end, severity,
    status, summary, evidence, detected_at)
SELECT
    a.alert_id, a.kind, a.org_id, a.unit_id, a.window_start, a.window_end, a.severity,
    if(r.dismissed = 1, 'dismissed', a.status) AS status, a.summary,
    if(r.acted = 1,
       concat(substring(a.evidence, 1, length(a.evidence) - 1),
              ',"recovery":{{"verdict":"', {verdict}, '","action_at":"',
              formatDateTime(r.action_at, '%Y-%m-%dT%H:%i:%S+00:00'),
              '","windows_after":6,"measures":{{"',
              if(a.kind = 'safety_signal',
                 concat('harm":{{"baseline":3.0,"after":', toString(3.0 * {after})),
                 concat('feedback":{{"baseline":0.08,"after":',
                        toString(0.08 * {after}))),
              '}}}}}}}}'),
       a.evidence) AS evidence,
    a.detected_at + toIntervalSecond(1) AS detected_at
FROM {db}.alerts AS a FINAL
INNER JOIN
(
    SELECT alert_id, max(response = 'false_positive') AS dismissed,
        toUInt8(countIf(response = 'action_taken') > 0) AS acted,
        minIf(occurred_at, response = 'action_taken') AS action_at
    FROM {db}.alert_responses FINAL GROUP BY alert_id
) AS r ON r.alert_id = a.alert_id
WHERE r.dismissed = 1 OR r.acted = 1
"""


def dues_sql(db: str) -> str:
    """What the learning loop stores of the answers' due dates (pipeline.core.learning): each
    alert's `evidence.due_by` is its latest answer's that gave one (by time, then event id)."""
    return f"""
INSERT INTO {db}.alerts (alert_id, kind, org_id, unit_id, window_start, window_end, severity,
    status, summary, evidence, detected_at)
SELECT
    a.alert_id, a.kind, a.org_id, a.unit_id, a.window_start, a.window_end, a.severity,
    a.status, a.summary,
    concat(substring(a.evidence, 1, length(a.evidence) - 1), ',"due_by":"',
           formatDateTime(r.latest_due, '%Y-%m-%dT%H:%i:%S+00:00'), '"}}') AS evidence,
    a.detected_at + toIntervalSecond(1) AS detected_at
FROM {db}.alerts AS a FINAL
INNER JOIN
(
    SELECT alert_id, org_id, unit_id,
        argMax(assumeNotNull(due_by), (occurred_at, event_id)) AS latest_due
    FROM {db}.alert_responses FINAL
    WHERE due_by IS NOT NULL
    GROUP BY alert_id, org_id, unit_id
) AS r ON r.alert_id = a.alert_id AND r.org_id = a.org_id AND r.unit_id = a.unit_id
"""


def _iso(moment: str) -> str:
    """A DateTime64(6, 'UTC') column as the core writes a moment into evidence (ISO 8601)."""
    return f"concat(replaceOne(toString({moment}), ' ', 'T'), '+00:00')"


def answered_sql(db: str, table: str) -> str:
    """What the learning loop stores of who is answered (pipeline.core.learning): an alert a
    matching answer covers says so in `evidence.episode_group.answered`, with its first answer
    and first acknowledgement (`evidence.first_answer`, `first_acknowledgement`) and the ids
    of its answers in the order given (`evidence.answered_by`; each synthetic alert is a family
    of its own)."""
    return f"""
INSERT INTO {db}.{table} (alert_id, kind, org_id, unit_id, window_start, window_end, severity,
    status, summary, evidence, detected_at)
SELECT
    a.alert_id, a.kind, a.org_id, a.unit_id, a.window_start, a.window_end, a.severity,
    a.status, a.summary,
    concat(substring(a.evidence, 1, length(a.evidence) - 1), if(a.evidence = '{{}}', '', ','),
           '"episode_group":{{"id":"', a.alert_id, '","alerts":["', a.alert_id,
           '"],"answered":true}},"first_answer":"', {_iso("r.first")}, '"',
           if(r.acknowledged IS NULL, '',
              concat(',"first_acknowledgement":"', {_iso("assumeNotNull(r.acknowledged)")}, '"')),
           ',"answered_by":["', arrayStringConcat(arrayMap(i -> toString(i), r.ids), '","'), '"]',
           '}}') AS evidence,
    a.detected_at + toIntervalSecond(1) AS detected_at
FROM {db}.alerts AS a FINAL
INNER JOIN (
    SELECT alert_id, org_id, unit_id, min(occurred_at) AS first,
        minIfOrNull(occurred_at, response = 'acknowledged') AS acknowledged,
        arrayMap(p -> p.2, arraySort(groupArray((occurred_at, event_id)))) AS ids
    FROM {db}.alert_responses FINAL
    GROUP BY alert_id, org_id, unit_id
) AS r ON r.alert_id = a.alert_id AND r.org_id = a.org_id AND r.unit_id = a.unit_id
"""


def board_sql(db: str) -> str:
    """The Making Data Count summary (pipeline.core.board) of each unit's positive share: its
    latest week against the mean and XmR limits of all its weeks."""
    return f"""
INSERT INTO {db}.mdc_summary (org_id, unit_id, window_kind, measure, metric, window_start,
    window_end, value, sample_size, mean, lpl, upl, improvement, variation, assurance, target,
    points, version)
SELECT
    org_id, unit_id, 'week', 'experience', '', latest, latest + toIntervalWeek(1), value,
    sample_size, mean, mean - 2.66 * mr AS lpl, mean + 2.66 * mr AS upl, 'increase',
    multiIf(value < lpl, 'special_cause_concern', value > upl, 'special_cause_improvement',
            'common_cause'),
    NULL, NULL, points, version
FROM
(
    SELECT
        org_id, unit_id, max(window_start) AS latest,
        argMax(positive_share, window_start) AS value,
        toFloat64(argMax(fft_responses, window_start)) AS sample_size,
        avg(positive_share) AS mean,
        arrayAvg(arrayMap(d -> abs(d), arrayPopFront(arrayDifference(
            arrayMap(p -> p.2, arraySort(groupArray(
                (window_start, assumeNotNull(positive_share))))))))) AS mr,
        toUInt32(count()) AS points, sum(contributions) AS version
    FROM {db}.unit_windows FINAL
    WHERE positive_share IS NOT NULL
    GROUP BY org_id, unit_id
)
"""


def bright_spots_sql(db: str) -> str:
    """Bright spots (pipeline.core.detection.bright): one unit in four has an ongoing one on
    its positive share over its latest eight weeks, against its earlier weeks and the rest of
    its organisation; the others a `none` row, as the pipeline writes them."""
    return f"""
INSERT INTO {db}.bright_spots (org_id, unit_id, window_kind, measure, status, first_window,
    last_window, detected_in, windows, detector, value, baseline, peers, reduction_vs_baseline,
    reduction_vs_peers, z_baseline, z_peers, sample_size, version)
SELECT
    org_id, unit_id, 'week', 'positive_share', if(bright, 'ongoing', 'none'),
    if(bright, first, NULL), if(bright, latest, NULL), if(bright, latest, NULL),
    if(bright, 8, 0), if(bright, 'cusum', NULL), if(bright, recent, NULL),
    if(bright, usual, NULL), if(bright, usual * 0.95, NULL),
    if(bright, 0.4, NULL), if(bright, 0.45, NULL), if(bright, 4.2, NULL), if(bright, 5.1, NULL),
    if(bright, toFloat64(n), NULL), version
FROM
(
    SELECT
        org_id, unit_id, cityHash64(org_id, unit_id, 'bright') % 4 = 0 AS bright,
        l.latest AS latest, l.latest - toIntervalWeek(7) AS first,
        avgIf(positive_share, window_start >= l.latest - toIntervalWeek(7)) AS recent,
        avgIf(positive_share, window_start < l.latest - toIntervalWeek(7)) AS usual,
        sumIf(fft_responses, window_start >= l.latest - toIntervalWeek(7)) AS n,
        sum(contributions) AS version
    FROM {db}.unit_windows AS w FINAL
    INNER JOIN (
        SELECT org_id, unit_id, max(window_start) AS latest
        FROM {db}.unit_windows FINAL GROUP BY org_id, unit_id
    ) AS l USING (org_id, unit_id)
    WHERE positive_share IS NOT NULL
    GROUP BY org_id, unit_id, l.latest
)
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


def target_board_sql(db: str, *, every_target: bool = False) -> str:
    """The board's target row (pipeline.core.board) of each unit's metric: one point per
    monthly return, typed beyond the mean ± 2.66 × its average moving range, latest month's
    return in the row's value; as the pipeline stores it, point_* arrays in time order. With
    `every_target`, every metric's row into `mdc_targets` (pipeline.core.board_targets)."""
    table, measure = ("mdc_targets", "") if every_target else ("mdc_summary", "measure, ")
    value = "" if every_target else "'target', "
    return f"""
INSERT INTO {db}.{table} (org_id, unit_id, window_kind, {measure}metric, window_start,
    window_end, value, sample_size, mean, lpl, upl, improvement, variation, assurance, target,
    points, version, point_starts, point_ends, point_values, point_sizes, point_types)
SELECT
    org_id, unit_id, 'week', {value}metric, toMonday(ends[-1]) - toIntervalWeek(1),
    toMonday(ends[-1]), shares[-1], sizes[-1], mean, mean - 2.66 * mr AS lpl,
    mean + 2.66 * mr AS upl, 'increase', types[-1],
    multiIf(lpl > target, 'consistent_pass', upl < target, 'consistent_fail', 'inconsistent'),
    target,
    toUInt32(length(starts)), toUInt64(length(starts)), starts, ends, shares, sizes,
    arrayMap(v -> multiIf(v < lpl, 'special_cause_concern', v > upl,
                          'special_cause_improvement', 'common_cause'), shares) AS types
FROM
(
    SELECT
        org_id, unit_id, metric, any(target) AS target,
        arraySort(groupArray((period_start, period_end, numerator / denominator,
                              toFloat64(denominator)))) AS returns,
        arrayMap(r -> r.1, returns) AS starts, arrayMap(r -> r.2, returns) AS ends,
        arrayMap(r -> r.3, returns) AS shares, arrayMap(r -> r.4, returns) AS sizes,
        arrayAvg(shares) AS mean,
        arrayAvg(arrayMap(d -> abs(d), arrayPopFront(arrayDifference(shares)))) AS mr
    FROM {db}.target_metrics FINAL
    GROUP BY org_id, unit_id, metric
)
"""
