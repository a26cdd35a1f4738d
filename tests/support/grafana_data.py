"""A synthetic trust written straight into the pipeline's tables by ClickHouse itself.

`generate` uses `numbers()` table functions (nothing passes through Python), at any scale: a few
thousand rows for the dashboard test, tens of millions for the benchmark. Units drift into
"hitting the target, missing the point" episodes (targets met, positive feedback down), some
resolved and acknowledged, some still open, and some have harm-incident spikes.
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.grafana_alert_sql import (
    ALERTS_SQL,
    alert_history_sql,
    answered_sql,
    board_sql,
    bright_spots_sql,
    dues_sql,
    rejected_sql,
    responses_sql,
    target_board_sql,
    unmatched_sql,
    verdicts_sql,
)
from tests.support.grafana_scale import CATEGORIES, HARMS, Scale, Sql, sql_list
from tests.support.grafana_verdicts import window_verdicts_sql

__all__ = ["Scale", "generate"]


def _feedback_sql(db: str, q: Sql) -> str:
    s = q.s
    total = s.units * s.weeks * s.feedback_per_unit_week
    comments = sql_list((
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


def _incidents_sql(db: str, q: Sql) -> str:
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
    arrayElement({sql_list(CATEGORIES)}, 1 + cityHash64(number, 'cat') % 10) AS category,
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


def _metrics_sql(db: str, q: Sql) -> str:
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


def generate(client: Any, database: str, scale: Scale) -> dict[str, float]:
    """Fill `database` (already migrated) with a synthetic trust; seconds per table."""
    q = Sql(scale)
    steps = [
        ("patient_feedback", _feedback_sql(database, q)),
        ("incident_reports", _incidents_sql(database, q)),
        ("target_metrics", _metrics_sql(database, q)),
        ("unit_windows", _windows_sql(database)),
        ("mdc_summary", board_sql(database)),
        ("mdc_summary_target", target_board_sql(database)),
        ("mdc_targets", target_board_sql(database, every_target=True)),
        ("bright_spots", bright_spots_sql(database)),
        ("verdicts", window_verdicts_sql(database)),
        ("alert_history", alert_history_sql(database, q)),
        ("alerts", ALERTS_SQL.format(db=database)),
        ("alert_responses", responses_sql(database)),
        ("alert_responses_unmatched", unmatched_sql(database)),
        ("alert_history_verdicts", verdicts_sql(database, "alert_history")),
        ("alerts_verdicts", verdicts_sql(database, "alerts")),
        ("alerts_dues", dues_sql(database)),
        ("alert_history_answered", answered_sql(database, "alert_history")),
        ("alerts_answered", answered_sql(database, "alerts")),
        ("rejected_events", rejected_sql(database, q)),
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
