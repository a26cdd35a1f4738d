"""The size and shape of the synthetic trust ClickHouse generates for the dashboard tests and
benchmark (`Scale`), and the SQL helpers its generators share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


class Sql:
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
            f"if({i} < {len(UNIT_NAMES)}, arrayElement({sql_list(UNIT_NAMES)}, {i} + 1), "
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
