"""Making Data Count XmR charts of a CSV column, written as CSV (`pipeline spc`).

One chart per facet value (or one chart when there is no facet column), each point a row, sorted
by facet then date. The statistics are `pipeline.core.spc`; this module reads, checks and writes;
the command is `pipeline.cli.spc`.
"""

from __future__ import annotations

import csv
import itertools
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TextIO

from pipeline.core.spc import MIN_FIX_AFTER_N_POINTS, Direction, XmrChart, xmr
from pipeline.errors import InputError, UsageError

OUTPUT_COLUMNS = (
    "x",
    "y",
    "f",
    "mean",
    "lpl",
    "upl",
    "lpl_2sigma",
    "upl_2sigma",
    "point_type",
    "special_cause_rule",
    "rebase_group",
    "target",
    "variation",
    "assurance",
)


MAX_MAGNITUDE = 1e300
"""The largest value charted, either sign: moving ranges and limits of values nearer the float
maximum overflow (the chart collapsed onto its mean, or the command failed)."""
MAX_ECHOED_CHARS = 40


@dataclass(frozen=True, slots=True)
class _Observation:
    x: date  # a `date`, or a `datetime` (its subclass) when the column holds date-times
    y: float
    facet: str
    line: int


def chart_csv(
    path: str,
    *,
    date_col: str,
    value_col: str,
    facet_col: str | None,
    improvement: Direction,
    target: float | None,
    fix_after_n_points: int | None,
    rebase: Sequence[date],
    out: TextIO,
) -> None:
    """Write the XmR chart rows (`OUTPUT_COLUMNS`) of `path`'s `value_col` as CSV to `out`.

    Raises InputError (one line, naming the file, line and column where it can) for a file that
    cannot be read, a missing column, an empty cell, a value that is not a number, a date that
    is not ISO, a date repeated within a facet, a rebase date found nowhere, or an unusable
    target or fix_after_n_points.
    """
    if target is not None and not math.isfinite(target):
        raise UsageError(f"--target must be a finite number, not {target}")
    if fix_after_n_points is not None and fix_after_n_points < MIN_FIX_AFTER_N_POINTS:
        raise UsageError(
            f"--fix-after-n-points must be at least {MIN_FIX_AFTER_N_POINTS}, "
            f"not {fix_after_n_points}"
        )
    observations = _read(path, date_col, value_col, facet_col)
    charts = _charts(
        observations,
        improvement=improvement,
        target=target,
        fix_after_n_points=fix_after_n_points,
        rebase=rebase,
        date_col=date_col,
        facet_col=facet_col,
        source=_source_name(path),
    )
    _write(charts, out)


def parse_timestamp(text: str) -> date:
    """An ISO date, or an ISO date-time (a `datetime`); raises ValueError otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text)


def _timestamp_kind(value: date) -> str:
    if not isinstance(value, datetime):
        return "date"
    return "date-time without offset" if value.tzinfo is None else "date-time with offset"


def _source_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _read(path: str, date_col: str, value_col: str, facet_col: str | None) -> list[_Observation]:
    source = _source_name(path)
    try:
        if path == "-":
            return _parse_rows(sys.stdin, source, date_col, value_col, facet_col)
        with open(path, encoding="utf-8-sig", newline="") as stream:
            return _parse_rows(stream, source, date_col, value_col, facet_col)
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8 text: {exc.reason}") from exc
    except csv.Error as exc:
        raise InputError(f"{source} is not readable CSV: {exc}") from exc


def _parse_rows(
    stream: TextIO, source: str, date_col: str, value_col: str, facet_col: str | None
) -> list[_Observation]:
    reader = csv.DictReader(stream)
    columns = reader.fieldnames
    if columns is None:
        raise InputError(f"{source} is empty: expected a header row")
    for column in (date_col, value_col, facet_col):
        if column is not None and column not in columns:
            raise InputError(f"{source} has no column {column!r} (columns: {', '.join(columns)})")
    observations: list[_Observation] = []
    first_kind: tuple[str, int] | None = None
    for row in reader:
        line = reader.line_num
        date_text = _cell(row, date_col, source, line)
        value_text = _cell(row, value_col, source, line)
        try:
            x = parse_timestamp(date_text)
        except ValueError:
            raise InputError(
                f"{source}, line {line}: {date_col} {date_text!r} is not an ISO date "
                "(YYYY-MM-DD) or date-time"
            ) from None
        kind = _timestamp_kind(x)
        if first_kind is None:
            first_kind = (kind, line)
        elif kind != first_kind[0]:
            raise InputError(
                f"{source}, line {line}: {date_col} {date_text!r} is a {kind} but line "
                f"{first_kind[1]} has a {first_kind[0]}; use one form for the whole column"
            )
        try:
            y = float(value_text)
        except ValueError:
            y = math.nan
        if not math.isfinite(y):
            raise InputError(
                f"{source}, line {line}: {value_col} {_echo(value_text)} is not a finite number"
            )
        if abs(y) > MAX_MAGNITUDE:
            raise InputError(
                f"{source}, line {line}: {value_col} {_echo(value_text)} is beyond "
                f"±{MAX_MAGNITUDE:g}, too large to chart"
            )
        facet = _cell(row, facet_col, source, line) if facet_col is not None else ""
        observations.append(_Observation(x=x, y=y, facet=facet, line=line))
    if not observations:
        raise InputError(f"{source} has a header but no data rows")
    return observations


def _echo(text: str) -> str:
    return repr(text if len(text) <= MAX_ECHOED_CHARS else text[:MAX_ECHOED_CHARS] + "…")


def _cell(row: dict[str, str | None], column: str, source: str, line: int) -> str:
    text = (row.get(column) or "").strip()
    if not text:
        raise InputError(f"{source}, line {line}: column {column!r} is empty")
    return text


def _charts(
    observations: Iterable[_Observation],
    *,
    improvement: Direction,
    target: float | None,
    fix_after_n_points: int | None,
    rebase: Sequence[date],
    date_col: str,
    facet_col: str | None,
    source: str,
) -> list[tuple[str, XmrChart[date]]]:
    by_facet: dict[str, list[_Observation]] = {}
    for observation in observations:
        by_facet.setdefault(observation.facet, []).append(observation)
    rebase_dates = set(rebase)
    matched: set[date] = set()
    charts: list[tuple[str, XmrChart[date]]] = []
    for facet in sorted(by_facet):
        series = sorted(by_facet[facet], key=lambda observation: observation.x)
        for before, after in itertools.pairwise(series):
            if before.x == after.x:
                within = f" for {facet_col} {facet!r}" if facet_col else ""
                raise InputError(
                    f"{source}, line {after.line}: {date_col} {after.x.isoformat()} appears "
                    f"twice{within} (also on line {before.line})"
                )
        rebase_at = [i for i, observation in enumerate(series) if observation.x in rebase_dates]
        matched.update(series[i].x for i in rebase_at)
        chart = xmr(
            [observation.y for observation in series],
            x=[observation.x for observation in series],
            improvement=improvement,
            target=target,
            fix_after_n_points=fix_after_n_points,
            rebase_at=rebase_at,
        )
        charts.append((facet, chart))
    for wanted in rebase:
        if wanted not in matched:
            raise InputError(
                f"--rebase {wanted.isoformat()} matches no {date_col} in {source}; "
                "a rebase date must be one of the dates charted"
            )
    return charts


def _write(charts: Iterable[tuple[str, XmrChart[date]]], stdout: TextIO) -> None:
    writer = csv.writer(stdout, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    for facet, chart in charts:
        for point in chart.points:
            writer.writerow(
                (
                    point.x.isoformat(),
                    _number(point.y),
                    facet,
                    _number(point.mean),
                    _number(point.lpl),
                    _number(point.upl),
                    _number(point.lpl_2sigma),
                    _number(point.upl_2sigma),
                    point.point_type.value,
                    "" if point.special_cause_rule is None else point.special_cause_rule.value,
                    point.segment,
                    _number(chart.target),
                    chart.variation.value,
                    "" if chart.assurance is None else chart.assurance.value,
                )
            )


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)
