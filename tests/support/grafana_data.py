"""A synthetic trust written straight into the pipeline's tables by ClickHouse itself.

`generate` uses `numbers()` table functions (nothing passes through Python), at any scale: a few
thousand rows for the dashboard test, tens of millions for the benchmark. Units drift into
"hitting the target, missing the point" episodes (targets met, positive feedback down), some
resolved and acknowledged, some still open, and some have harm-incident spikes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

UNIT_NAMES = (
    "ED", "AMU", "SAU", "CARDIO", "RESP", "ORTHO", "STROKE", "ONCOLOGY", "MATERNITY", "PAEDS",
    "CCU", "ELDERLY", "RENAL", "GASTRO", "DAYSURG", "NEURO", "HAEM", "DIABETES", "UROLOGY",
    "ENT", "OPHTH", "PLASTICS", "VASCULAR", "BURNS", "REHAB",
)  # fmt: skip
HARMS = ("none", "low", "moderate", "severe", "death")
CATEGORIES = (
    "medication", "fall", "pressure_ulcer", "infection", "delay_in_care", "diagnosis",
    "treatment", "communication", "discharge", "other",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a trust to generate."""

    orgs: int
    units_per_org: int
    weeks: int
    feedback_per_unit_week: int
    incidents_per_unit_week: int
    start: datetime = datetime(2023, 1, 2, tzinfo=UTC)  # a Monday

    @property
    def units(self) -> int:
        return self.orgs * self.units_per_org

    @property
    def months(self) -> int:
        return self.weeks * 7 // 28 + 2

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=self.weeks)

    @classmethod
    def small(cls) -> Scale:
        """A few thousand rows: the integration test's trust."""
        return cls(orgs=3, units_per_org=6, weeks=40, feedback_per_unit_week=40,
                   incidents_per_unit_week=6)  # fmt: skip

    @classmethod
    def bench(cls) -> Scale:
        """~25 million feedback rows: 500 units over two years."""
        return cls(orgs=20, units_per_org=25, weeks=104, feedback_per_unit_week=640,
                   incidents_per_unit_week=24)  # fmt: skip


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


class _Sql:
    """SQL expressions of a unit `u` and a week `w` (both UInt64 expressions)."""

    def __init__(self, scale: Scale) -> None:
        self.s = scale
        self.start = f"toDateTime('{scale.start:%Y-%m-%d %H:%M:%S}', 'UTC')"

    def org(self, u: str) -> str:
        o = f"intDiv({u}, {self.s.units_per_org})"
        return f"concat('R', char(65 + intDiv({o}, 26) % 26), char(65 + {o} % 26))"

    def unit(self, u: str) -> str:
        i = f"({u} % {self.s.units_per_org})"
        return (
            f"if({i} < {len(UNIT_NAMES)}, arrayElement({_sql_list(UNIT_NAMES)}, {i} + 1), "
            f"concat('WARD-', toString({i})))"
        )

    def size(self, u: str) -> str:
        """Share of the nominal volume this unit sees (small wards hear from fewer patients)."""
        return f"(0.35 + (cityHash64({u}, 'size') % 66) / 100)"

    def has_episode(self, u: str) -> str:
        return f"(cityHash64({u}, 'episode') % 3 = 0)"

    def episode_start(self, u: str) -> str:
        span = max(self.s.weeks - 24, 1)
        return f"(12 + cityHash64({u}, 'ep-start') % {span})"

    def episode_len(self, u: str) -> str:
        # A third of the episodes run to the end: their alerts are still open.
        weeks = self.s.weeks
        return f"if(cityHash64({u}, 'ep-open') % 3 = 0, {weeks}, 5 + cityHash64({u}, 'ep-len') % 7)"

    def in_episode(self, u: str, w: str) -> str:
        start = self.episode_start(u)
        return (
            f"({self.has_episode(u)} AND {w} >= {start} AND {w} < {start} + {self.episode_len(u)})"
        )

    def has_spike(self, u: str) -> str:
        return f"(cityHash64({u}, 'spike') % 5 = 0)"

    def spike_start(self, u: str) -> str:
        return f"(8 + cityHash64({u}, 'sp-start') % {max(self.s.weeks - 14, 1)})"

    def in_spike(self, u: str, w: str) -> str:
        start = self.spike_start(u)
        return f"({self.has_spike(u)} AND {w} >= {start} AND {w} < {start} + 4)"

    def positive_p(self, u: str, w: str) -> str:
        base = f"(0.86 + (cityHash64({u}, 'pos') % 90) / 1000)"
        return f"({base} - if({self.in_episode(u, w)}, 0.18, 0))"

    def metric(self, u: str) -> str:
        i = f"({u} % {self.s.units_per_org})"
        return f"multiIf({i} = 0, 'ae_4h', {i} = 7, 'cancer_62d', 'rtt_18w')"

    def target(self, u: str) -> str:
        i = f"({u} % {self.s.units_per_org})"
        return f"multiIf({i} = 0, 0.95, {i} = 7, 0.85, 0.92)"

    def week_start(self, w: str) -> str:
        return f"({self.start} + toIntervalWeek({w}))"


def _feedback_sql(db: str, q: _Sql) -> str:
    s = q.s
    total = s.units * s.weeks * s.feedback_per_unit_week
    comments = _sql_list((
        "The staff were kind but we waited a very long time",
        "Clean ward and helpful nurses",
        "Discharge was rushed and nobody explained my medication",
        "Waited [hours] on a trolley in the corridor",
        "Excellent care from the whole team",
    ))  # fmt: skip
    themes = (
        "[['waiting', 'staff_attitude'], ['cleanliness', 'staff_attitude'], "
        "['discharge', 'communication'], ['waiting', 'environment'], ['staff_attitude']]"
    )
    return f"""
INSERT INTO {db}.patient_feedback (event_id, org_id, unit_id, occurred_at, source, rating,
    channel, comment_redacted, themes, free_text_chars, nhs_numbers_redacted,
    other_identifiers_redacted, late, origin, payload)
SELECT
    generateUUIDv4(number) AS event_id,
    {q.org("u")} AS org_id,
    {q.unit("u")} AS unit_id,
    toDateTime64({q.week_start("w")} + cityHash64(number, 'at') % 604800, 6, 'UTC') AS occurred_at,
    'fft-survey' AS source,
    multiIf(r < p * 0.68, 1, r < p, 2, r < p + (1 - p) * 0.3, 3, r < p + (1 - p) * 0.6, 4,
            r < p + (1 - p) * 0.9, 5, 6) AS rating,
    arrayElement(['sms', 'web', 'paper', 'kiosk', 'phone', 'other'],
                 1 + cityHash64(number, 'ch') % 6) AS channel,
    if(cityHash64(number, 'c') % 5 = 0, arrayElement({comments}, 1 + ci), '') AS comment_redacted,
    if(comment_redacted = '', [], arrayElement({themes}, 1 + ci)) AS themes,
    length(comment_redacted) AS free_text_chars,
    toUInt16(cityHash64(number, 'nhs') % 500 = 0) AS nhs_numbers_redacted,
    0 AS other_identifiers_redacted,
    0 AS late,
    concat('quality.patient_feedback/', toString(u % 6), '@', toString(number)) AS origin,
    concat('{{"schema_version":1,"event_type":"patient_feedback","event_id":"', toString(event_id),
           '","org_id":"', org_id, '","unit_id":"', unit_id, '","occurred_at":"',
           formatDateTime(occurred_at, '%Y-%m-%dT%H:%i:%S+00:00'),
           '","source":"fft-survey","rating":', toString(rating), ',"channel":"', channel,
           '","comment":"', comment_redacted, '"}}') AS payload
FROM
(
    SELECT
        number,
        intDiv(number, {s.feedback_per_unit_week}) AS uw,
        uw % {s.units} AS u,
        intDiv(uw, {s.units}) AS w,
        (cityHash64(number, 'r') % 100000) / 100000 AS r,
        {q.positive_p("u", "w")} AS p,
        cityHash64(number, 'ci') % 5 AS ci
    FROM numbers({total})
    WHERE (number % {s.feedback_per_unit_week}) < {s.feedback_per_unit_week} * {q.size("u")}
)
"""


def _incidents_sql(db: str, q: _Sql) -> str:
    s = q.s
    total = s.units * s.weeks * s.incidents_per_unit_week
    return f"""
INSERT INTO {db}.incident_reports (event_id, org_id, unit_id, occurred_at, source, category,
    harm, reporter_role, patient_pseudonym, description_redacted, free_text_chars,
    nhs_numbers_redacted, other_identifiers_redacted, late, origin, payload)
SELECT
    generateUUIDv4(number) AS event_id,
    {q.org("u")} AS org_id,
    {q.unit("u")} AS unit_id,
    toDateTime64({q.week_start("w")} + cityHash64(number, 'at') % 604800, 6, 'UTC') AS occurred_at,
    'datix-cloud' AS source,
    arrayElement({_sql_list(CATEGORIES)}, 1 + cityHash64(number, 'cat') % 10) AS category,
    multiIf(r < 0.66 - spike * 0.3, 'none', r < 0.90 - spike * 0.2, 'low',
            r < 0.975 - spike * 0.05, 'moderate', r < 0.995, 'severe', 'death') AS harm,
    arrayElement(['nurse', 'doctor', 'pharmacist', 'hca', 'ahp'], 1 + cityHash64(number, 'ro') % 5)
        AS reporter_role,
    lower(hex(cityHash64(number, 'patient') % 1000000)) AS patient_pseudonym,
    'Incident reported; details redacted' AS description_redacted,
    length(description_redacted) AS free_text_chars,
    0 AS nhs_numbers_redacted,
    0 AS other_identifiers_redacted,
    0 AS late,
    concat('quality.incident_report/', toString(u % 6), '@', toString(number)) AS origin,
    concat('{{"schema_version":1,"event_type":"incident_report","event_id":"', toString(event_id),
           '","org_id":"', org_id, '","unit_id":"', unit_id, '","occurred_at":"',
           formatDateTime(occurred_at, '%Y-%m-%dT%H:%i:%S+00:00'),
           '","source":"datix-cloud","category":"', category, '","harm":"', harm, '"}}') AS payload
FROM
(
    SELECT
        number,
        intDiv(number, {s.incidents_per_unit_week}) AS uw,
        uw % {s.units} AS u,
        intDiv(uw, {s.units}) AS w,
        (cityHash64(number, 'r') % 100000) / 100000 AS r,
        toFloat64({q.in_spike("u", "w")}) AS spike
    FROM numbers({total})
    -- Half the nominal rate, all of it during a spike.
    WHERE (number % {s.incidents_per_unit_week}) < {s.incidents_per_unit_week}
          * {q.size("u")} * (0.5 + 0.5 * spike)
)
"""


def _metrics_sql(db: str, q: _Sql) -> str:
    s = q.s
    return f"""
INSERT INTO {db}.target_metrics (event_id, org_id, unit_id, occurred_at, source, metric,
    period_start, period_end, numerator, denominator, target, higher_is_better, late, origin,
    payload)
SELECT
    generateUUIDv4(number) AS event_id,
    {q.org("u")} AS org_id,
    {q.unit("u")} AS unit_id,
    toDateTime64(period_end + toIntervalDay(5), 6, 'UTC') AS occurred_at,
    'sus-returns' AS source,
    {q.metric("u")} AS metric,
    toDateTime64(addMonths(toStartOfMonth({q.start}), m), 6, 'UTC') AS period_start,
    toDateTime64(addMonths(toStartOfMonth({q.start}), m + 1), 6, 'UTC') AS period_end,
    toUInt64(least(toFloat64(denominator), round(denominator * attainment))) AS numerator,
    toUInt64(if(u % {s.units_per_org} = 0, 4000, 300) * (1 + {q.size("u")})
             + cityHash64(number, 'den') % 200) AS denominator,
    {q.target("u")} AS target,
    1 AS higher_is_better,
    0 AS late,
    concat('quality.target_metric/', toString(u % 6), '@', toString(number)) AS origin,
    concat('{{"schema_version":1,"event_type":"target_metric","event_id":"', toString(event_id),
           '","org_id":"', org_id, '","unit_id":"', unit_id, '","metric":"', metric,
           '","numerator":', toString(numerator), ',"denominator":', toString(denominator),
           ',"target":', toString(target), '}}') AS payload
FROM
(
    SELECT
        number,
        number % {s.units} AS u,
        intDiv(number, {s.units}) AS m,
        -- Units in an episode keep meeting their target: that is the point.
        {q.target("u")} + if({q.has_episode("u")}, 0.01 + (cityHash64(number, 'a') % 30) / 1000,
                             (toInt64(cityHash64(number, 'a') % 60) - 20) / 1000) AS attainment
    FROM numbers({s.units * s.months})
)
"""


def _windows_sql(db: str) -> str:
    harm_counts = ", ".join(f"countIf(harm = '{h}')" for h in HARMS)
    category_counts = ", ".join(f"countIf(category = '{c}')" for c in CATEGORIES)
    fft_counts = ", ".join(f"countIf(rating = {r})" for r in range(1, 7))
    return f"""
INSERT INTO {db}.unit_windows (org_id, unit_id, window_kind, window_start, window_end,
    fft_counts, fft_responses, fft_positive, fft_negative, positive_share, negative_share,
    incidents_by_harm, incidents_by_category, incidents, harmful_incidents, harm_weighted,
    activity, harm_weighted_rate, targets_met, target_metrics, target_attainment,
    target_values, target_numerators, target_denominators, contributions)
SELECT
    f.org_id, f.unit_id, 'week' AS window_kind,
    f.ws AS window_start, f.ws + toIntervalDay(7) AS window_end,
    f.fft_counts,
    toUInt32(arraySum(arraySlice(f.fft_counts, 1, 5))) AS fft_responses,
    toUInt32(f.fft_counts[1] + f.fft_counts[2]) AS fft_positive,
    toUInt32(f.fft_counts[4] + f.fft_counts[5]) AS fft_negative,
    if(fft_responses > 0, fft_positive / fft_responses, NULL) AS positive_share,
    if(fft_responses > 0, fft_negative / fft_responses, NULL) AS negative_share,
    if(empty(i.by_harm), [0, 0, 0, 0, 0], i.by_harm) AS incidents_by_harm,
    if(empty(i.by_category), arrayWithConstant(10, 0), i.by_category) AS incidents_by_category,
    toUInt32(arraySum(incidents_by_harm)) AS incidents,
    toUInt32(incidents - incidents_by_harm[1]) AS harmful_incidents,
    toUInt32(incidents_by_harm[2] + 3 * incidents_by_harm[3] + 10 * incidents_by_harm[4]
             + 20 * incidents_by_harm[5]) AS harm_weighted,
    if(m.activity > 0, m.activity, NULL) AS activity,
    if(m.activity > 0, 1000 * harm_weighted / m.activity, NULL) AS harm_weighted_rate,
    if(empty(m.metrics), NULL, toUInt8(m.all_met)) AS targets_met,
    m.metrics AS target_metrics,
    m.attainment AS target_attainment,
    m.targets AS target_values,
    m.numerators AS target_numerators,
    m.denominators AS target_denominators,
    f.n + i.n + m.n AS contributions
FROM
(
    SELECT org_id, unit_id, toDateTime(toStartOfWeek(occurred_at, 1), 'UTC') AS ws,
           [{fft_counts}] AS fft_counts, count() AS n
    FROM {db}.patient_feedback GROUP BY org_id, unit_id, ws
) AS f
LEFT JOIN
(
    SELECT org_id, unit_id, toDateTime(toStartOfWeek(occurred_at, 1), 'UTC') AS ws,
           [{harm_counts}] AS by_harm, [{category_counts}] AS by_category, count() AS n
    FROM {db}.incident_reports GROUP BY org_id, unit_id, ws
) AS i ON i.org_id = f.org_id AND i.unit_id = f.unit_id AND i.ws = f.ws
LEFT JOIN
(
    -- A week takes its month's report, scaled to 7 days of the month.
    SELECT org_id, unit_id, toDateTime(period_start, 'UTC') AS month,
           groupArray(metric) AS metrics,
           groupArray(numerator / denominator) AS attainment,
           groupArray(target) AS targets,
           groupArray(numerator * 7 / dateDiff('day', period_start, period_end)) AS numerators,
           groupArray(denominator * 7 / dateDiff('day', period_start, period_end)) AS denominators,
           max(denominator * 7 / dateDiff('day', period_start, period_end)) AS activity,
           min(numerator / denominator >= target) AS all_met,
           count() AS n
    FROM {db}.target_metrics GROUP BY org_id, unit_id, month
) AS m ON m.org_id = f.org_id AND m.unit_id = f.unit_id AND m.month = toStartOfMonth(f.ws)
"""


def _alert_history_sql(db: str, q: _Sql) -> str:
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


def _responses_sql(db: str) -> str:
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


_ALERTS_SQL = """
INSERT INTO {db}.alerts (alert_id, kind, org_id, unit_id, window_start, window_end, severity,
    status, summary, evidence, detected_at)
SELECT alert_id, kind, org_id, unit_id, window_start, window_end, severity, status, summary,
    evidence, detected_at
FROM {db}.alert_history
"""


def _rejected_sql(db: str, q: _Sql) -> str:
    s = q.s
    reasons = _sql_list(("not_json", "unknown_field", "wrong_type", "invalid_value",
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


def generate(client: Any, database: str, scale: Scale) -> dict[str, float]:
    """Fill `database` (already migrated) with a synthetic trust; seconds per table."""
    q = _Sql(scale)
    steps = [
        ("patient_feedback", _feedback_sql(database, q)),
        ("incident_reports", _incidents_sql(database, q)),
        ("target_metrics", _metrics_sql(database, q)),
        ("unit_windows", _windows_sql(database)),
        ("alert_history", _alert_history_sql(database, q)),
        ("alerts", _ALERTS_SQL.format(db=database)),
        ("alert_responses", _responses_sql(database)),
        ("rejected_events", _rejected_sql(database, q)),
    ]
    timings = {}
    for table, sql in steps:
        began = time.perf_counter()
        client.command(sql, settings={"max_partitions_per_insert_block": 1000})
        timings[table] = time.perf_counter() - began
    return timings


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------
