"""Making Data Count charts in inline SVG: the XmR chart and the variation and assurance icons."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import Any

from pipeline.core.spc import Assurance, Direction, PointType, XmrChart
from pipeline.report.svg import (
    COMMON,
    CONCERN,
    CONCERN_WASH,
    GRID,
    IMPROVEMENT,
    INK,
    MUTED,
    POINT_COLOURS,
    TARGET,
    Formatter,
    num,
    svg,
    text,
    ticks,
)


def xmr_chart(
    chart: XmrChart[datetime],
    *,
    title: str,
    desc: str,
    fmt: Formatter,
    highlight: Sequence[tuple[datetime, datetime]] = (),
    actions: Sequence[datetime] = (),
    width: int = 380,
    height: int = 230,
) -> str:
    """An XmR chart: the series, its mean and process limits, special-cause points coloured the
    Making Data Count way, the target (if any), shaded alert windows and a marked line on the
    date of each action the safety team took."""
    left, right, top, bottom = 50, 10, 12, 30
    pts = chart.points
    values = [p.y for p in pts]
    lines = [v for p in pts for v in (p.lpl, p.upl) if v is not None]
    extra = [chart.target] if chart.target is not None else []
    low, high = min(values + lines + extra), max(values + lines + extra)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(pts) - 1, 1)

    def px(i: float) -> float:
        return left + i * step

    def py(v: float) -> float:
        return top + (high - v) / (high - low) * plot_h

    body = []
    for start, end in highlight:
        idx = [i for i, p in enumerate(pts) if start <= p.x < end]
        if idx:
            x0, x1 = px(idx[0] - 0.5), px(idx[-1] + 0.5)
            x0, x1 = max(x0, left), min(x1, left + plot_w)
            body.append(
                f'<rect class="alert-band" x="{num(x0)}" y="{top}" '
                f'width="{num(x1 - x0)}" height="{plot_h}" fill="{CONCERN_WASH}"/>'
            )
    for moment in sorted(set(actions)):
        position = _position(pts, moment)
        if position is None:
            continue
        x = px(position)
        body.append(
            f'<line class="action-mark" x1="{num(x)}" x2="{num(x)}" y1="{top}" '
            f'y2="{top + plot_h}" stroke="{INK}" stroke-width="1.4" stroke-dasharray="2 2">'
            f"<title>Action taken {moment:%d %b %Y}</title></line>"
        )
        body.append(text(x + 3, top + 10, "action", class_="tick action-label"))
    for value in ticks(low, high, 4):
        y = py(value)
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{num(y)}" y2="{num(y)}" '
            f'stroke="{GRID}" stroke-width="0.6"/>'
        )
        body.append(text(left - 5, y + 4, fmt(value), text_anchor="end", class_="tick"))
    labelled_x = -100.0
    months_seen: set[tuple[int, int]] = set()
    for i, p in enumerate(pts):
        month = (p.x.year, p.x.month)
        if month in months_seen:
            continue
        months_seen.add(month)
        if (i == 0 or p.x.month % 3 == 1) and px(i) - labelled_x > 44:
            labelled_x = px(i)
            body.append(
                text(px(i), height - 10, p.x.strftime("%b %y"), text_anchor="middle", class_="tick")
            )
    for name, attr, dash, colour in (
        ("mean", "mean", "", INK),
        ("limit", "lpl", "5 4", MUTED),
        ("limit", "upl", "5 4", MUTED),
    ):
        path = _segments([(px(i), getattr(p, attr), p.segment) for i, p in enumerate(pts)], py)
        if path:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(
                f'<path class="{name}" d="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="1.3"{dash_attr}/>'
            )
    if chart.target is not None:
        y = py(chart.target)
        body.append(
            f'<line class="target" x1="{left}" x2="{left + plot_w}" y1="{num(y)}" '
            f'y2="{num(y)}" stroke="{TARGET}" stroke-width="1.5" stroke-dasharray="2 3"/>'
        )
    trace = " ".join(f"{num(px(i))},{num(py(p.y))}" for i, p in enumerate(pts))
    body.append(f'<polyline points="{trace}" fill="none" stroke="{COMMON}" stroke-width="1.2"/>')
    for i, p in enumerate(pts):
        special = p.point_type is not PointType.COMMON_CAUSE
        outline = f' stroke="{INK}" stroke-width="0.6"' if special else ""
        body.append(
            f'<circle class="pt {p.point_type.value}" cx="{num(px(i))}" cy="{num(py(p.y))}" '
            f'r="{3.6 if special else 2.6}" fill="{POINT_COLOURS[p.point_type]}"{outline}>'
            f"<title>{p.x.day} {escape(p.x.strftime('%b %Y'))}: {escape(fmt(p.y))} "
            f"({escape(p.point_type.value.replace('_', ' '))})</title></circle>"
        )
    return svg(width, height, title, desc, body, "xmr")


def _segments(points: list[tuple[float, float | None, int]], py: Callable[[float], float]) -> str:
    """A path of horizontal runs, broken where a value is missing or a segment changes."""
    parts: list[str] = []
    previous: tuple[float | None, int] | None = None
    for x, value, segment in points:
        if value is None or value != value:  # missing, or NaN (a window never judged)
            previous = None
            continue
        command = "L" if previous is not None and previous[1] == segment else "M"
        parts.append(f"{command}{num(x)},{num(py(value))}")
        previous = (value, segment)
    return " ".join(parts)


def variation_icon(point_type: PointType, high: bool) -> str:
    """The Making Data Count variation icon: grey for common cause, orange concern or blue
    improvement with H or L for the side the special cause is on."""
    if point_type is PointType.COMMON_CAUSE:
        colour, letter = COMMON, ""
    else:
        colour = POINT_COLOURS[point_type]
        letter = "H" if high else "L"
    body = [f'<circle cx="20" cy="20" r="18" fill="#fff" stroke="{colour}" stroke-width="3"/>']
    if letter:
        body.append(text(20, 26, letter, text_anchor="middle", fill=colour, class_="icon-letter"))
    else:
        body.append(
            f'<path d="M8 22 L13 18 L18 24 L23 17 L28 22 L32 19" fill="none" '
            f'stroke="{colour}" stroke-width="2.2"/>'
        )
    return _icon(body, f"Variation: {point_type.value.replace('_', ' ')}")


def not_judged_icon() -> str:
    """A window with no verdict yet (the unit's learning period): an empty grey circle, as its
    chart draws the window grey without centre or limits."""
    body = [
        f'<circle cx="20" cy="20" r="18" fill="#fff" stroke="{COMMON}" stroke-width="3"/>',
        text(20, 26, "–", text_anchor="middle", fill=COMMON, class_="icon-letter"),
    ]
    return _icon(body, "Variation: not judged yet")


def assurance_icon(assurance: Assurance | None) -> str:
    """The Making Data Count assurance icon: P (blue, passes), F (orange, fails), or grey
    hit-and-miss; an empty grey circle when there is no target."""
    if assurance is Assurance.CONSISTENT_PASS:
        colour, letter = IMPROVEMENT, "P"
    elif assurance is Assurance.CONSISTENT_FAIL:
        colour, letter = CONCERN, "F"
    else:
        colour, letter = COMMON, "?" if assurance is Assurance.INCONSISTENT else "–"
    body = [
        f'<circle cx="20" cy="20" r="18" fill="#fff" stroke="{colour}" stroke-width="3"/>',
        text(20, 26, letter, text_anchor="middle", fill=colour, class_="icon-letter"),
    ]
    label = assurance.value.replace("_", " ") if assurance else "no target"
    return _icon(body, f"Assurance: {label}")


def _icon(body: list[str], label: str) -> str:
    return (
        f'<svg class="icon" viewBox="0 0 40 40" width="34" height="34" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def improvement_word(direction: Direction) -> str:
    return {Direction.INCREASE: "higher is better", Direction.DECREASE: "lower is better"}.get(
        direction, "neither way is better"
    )


def _position(pts: Sequence[Any], moment: datetime) -> float | None:
    """Where `moment` falls on the x axis, as a fractional point index (None: off the chart)."""
    for i in range(len(pts) - 1):
        start, end = pts[i].x, pts[i + 1].x
        if start <= moment < end:
            fraction: float = (moment - start) / (end - start)
            return i + fraction
    return None
