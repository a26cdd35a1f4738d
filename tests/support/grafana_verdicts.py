"""The synthetic trust's verdicts (for the dashboard tests and benchmark): what
pipeline.core.detection.verdicts would store, approximated in SQL from the generated windows.

Each unit's positive share is judged against the mean and moving range of its 12 windows before
(z towards worse, limits at 4 sigma clipped to [0, 1]), and its harmful incidents per window
against their mean with Poisson-style limits never below zero (a rare event at a mean of 3 or
less), so the planted episodes come out as concerns, as the pipeline's own would.
"""

from __future__ import annotations


def window_verdicts_sql(db: str) -> str:
    return f"""
INSERT INTO {db}.verdicts (org_id, unit_id, window_kind, measure, window_start, window_end,
    value, count, size, centre, lower_limit, upper_limit, z, rule, detector, verdict, chart,
    higher_is_better, version)
SELECT org_id, unit_id, 'week', measure, window_start, window_end, value, count, size, centre,
    lower_limit, upper_limit, z,
    multiIf(z >= 4, 'beyond_limit', z <= -4, 'beyond_better_limit', ''),
    if(abs(z) >= 4, 'shewhart', ''),
    multiIf(z >= 4, 'concern', z <= -4, 'improvement', 'common_cause'),
    chart, higher_is_better, version
FROM
(
    SELECT org_id, unit_id, 'positive_share' AS measure, window_start, window_end,
        value, toUInt64(round(value * responses)) AS count, toFloat64(responses) AS size,
        usual AS centre, greatest(usual - 4 * sigma, 0) AS lower_limit,
        toNullable(least(usual + 4 * sigma, 1)) AS upper_limit,
        (usual - value) / sigma AS z, 'share' AS chart, toUInt8(1) AS higher_is_better,
        version
    FROM
    (
        SELECT org_id, unit_id, window_start, window_end, assumeNotNull(positive_share) AS value,
            fft_responses AS responses, contributions AS version,
            avg(value) OVER w12 AS usual,
            greatest(avg(moving_range) OVER w12 / 1.128, 0.01) AS sigma,
            count() OVER w12 AS before
        FROM
        (
            SELECT org_id, unit_id, window_start, window_end, positive_share, fft_responses,
                contributions,
                abs(positive_share - lagInFrame(positive_share) OVER (
                    PARTITION BY org_id, unit_id ORDER BY window_start
                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)) AS moving_range
            FROM {db}.unit_windows FINAL
            WHERE positive_share IS NOT NULL
        )
        WINDOW w12 AS (PARTITION BY org_id, unit_id ORDER BY window_start
                       ROWS BETWEEN 12 PRECEDING AND 1 PRECEDING)
    )
    WHERE before >= 10
    UNION ALL
    SELECT org_id, unit_id, 'harmful_incident_rate', window_start, window_end, value,
        toUInt64(value), 1.0, usual, greatest(usual - 4 * sqrt(usual), 0),
        toNullable(usual + 4 * sqrt(usual) + 1), (value - usual) / sqrt(usual),
        if(usual <= 3, 'rare_event', 'rate'), toUInt8(0), version
    FROM
    (
        SELECT org_id, unit_id, window_start, window_end, toFloat64(harmful_incidents) AS value,
            contributions AS version,
            greatest(avg(value) OVER w12, 0.5) AS usual, count() OVER w12 AS before
        FROM {db}.unit_windows FINAL
        WINDOW w12 AS (PARTITION BY org_id, unit_id ORDER BY window_start
                       ROWS BETWEEN 12 PRECEDING AND 1 PRECEDING)
    )
    WHERE before >= 10
)
"""
