"""Inline SVG charts for comparing units, pure Python: nothing fetched, no JavaScript.

Every chart is an `<svg class="chart">` with a `viewBox`, so it scales with the page, and a title
and description for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pipeline.report.svg import (
    COMMON,
    CONCERN,
    CONCERN_WASH,
    GRID,
    INK,
    MUTED,
    Box,
    Formatter,
    num,
    place_labels,
    shorten,
    svg,
    text,
    text_lines,
    ticks,
)


@dataclass(frozen=True, slots=True)
class ScatterPoint:
    x: float
    y: float
    label: str
    tone: str  # "alert" (an alert stands), "flag" (a clear change, no alert), "plain"
    detail: str
    labelled: bool = False  # plain points are labelled only when asked (and there is room)


def quadrant_scatter(
    points: Sequence[ScatterPoint],
    *,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    quadrants: tuple[str, str, str, str],
    fmt_x: Formatter,
    fmt_y: Formatter,
    width: int = 580,
    height: int = 440,
) -> str:
    """Points in four quadrants split at zero; `quadrants` = (top-left, top-right, bottom-left,
    bottom-right; '\n' breaks a line) and the bottom-right one (target met, worse) is shaded."""
    left, right, top, bottom = 76, 14, 12, 50
    xs = [p.x for p in points] or [0.0]
    ys = [p.y for p in points] or [0.0]
    x_reach = max(0.02, *(abs(v) for v in xs)) * 1.15
    y_reach = max(0.02, *(abs(v) for v in ys)) * 1.25
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(v: float) -> float:
        return left + (v + x_reach) / (2 * x_reach) * plot_w

    def py(v: float) -> float:
        return top + (y_reach - v) / (2 * y_reach) * plot_h

    cx, cy = px(0), py(0)
    body = [
        f'<rect x="{num(cx)}" y="{num(cy)}" width="{num(left + plot_w - cx)}" '
        f'height="{num(top + plot_h - cy)}" fill="{CONCERN_WASH}"/>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="{GRID}"/>',
    ]
    for value in ticks(-x_reach, x_reach):
        x = px(value)
        body.append(
            f'<line x1="{num(x)}" x2="{num(x)}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{GRID}" stroke-width="0.6"/>'
        )
        body.append(text(x, top + plot_h + 16, fmt_x(value), text_anchor="middle", class_="tick"))
    for value in ticks(-y_reach, y_reach):
        y = py(value)
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{num(y)}" y2="{num(y)}" '
            f'stroke="{GRID}" stroke-width="0.6"/>'
        )
        body.append(text(left - 6, y + 4, fmt_y(value), text_anchor="end", class_="tick"))
    body.append(
        f'<line x1="{num(cx)}" x2="{num(cx)}" y1="{top}" y2="{top + plot_h}" '
        f'stroke="{MUTED}" stroke-width="1.4"/>'
    )
    body.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{num(cy)}" y2="{num(cy)}" '
        f'stroke="{MUTED}" stroke-width="1.4"/>'
    )
    obstacles: list[Box] = []
    corners = [
        (left + 8, top + 17, "start", False),
        (left + plot_w - 8, top + 17, "end", False),
        (left + 8, top + plot_h - 8, "start", True),
        (left + plot_w - 8, top + plot_h - 8, "end", True),
    ]
    for i, ((x, y, anchor, up), words) in enumerate(zip(corners, quadrants, strict=True)):
        element, box = text_lines(x, y, words, anchor, "q-strong" if i == 3 else "q", up)
        body.append(element)
        obstacles.append(box)
    body.append(text(left + plot_w / 2, height - 8, x_label, text_anchor="middle", class_="axis"))
    body.append(
        text(
            16,
            top + plot_h / 2,
            y_label,
            text_anchor="middle",
            class_="axis",
            transform=f"rotate(-90 16 {num(top + plot_h / 2)})",
        )
    )
    labels = []
    for p in sorted(points, key=lambda p: p.tone != "plain"):
        x, y = px(p.x), py(p.y)
        fill = {"alert": CONCERN, "flag": "#FFFFFF"}.get(p.tone, COMMON)
        stroke = CONCERN if p.tone == "flag" else INK if p.tone == "alert" else "#FFFFFF"
        radius = 7.0 if p.tone != "plain" else 5.5
        body.append(
            f'<g class="pt pt-{p.tone}"><circle cx="{num(x)}" cy="{num(y)}" r="{radius}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/><title>{escape(p.detail)}</title>'
            "</g>"
        )
        obstacles.append((x - radius, y - radius, x + radius, y + radius))
        if p.tone != "plain" or p.labelled:
            labels.append((x, y, shorten(p.label, 40), p.tone != "plain"))
    strong = {words for _, _, words, must in labels if must}
    for x, y, anchor, words in place_labels(
        labels, obstacles, (left, top, left + plot_w, top + plot_h)
    ):
        css = "pt-label strong" if words in strong else "pt-label"
        body.append(text(x, y, words, text_anchor=anchor, class_=css))
    return svg(width, height, title, desc, body, "scatter")


@dataclass(frozen=True, slots=True)
class StandingRow:
    """One unit: its figure now and where its usual standing would put it (None: unknown)."""

    label: str
    now: float
    expected: float | None
    flagged: bool
    note: str
    detail: str


def org_dumbbell(
    rows: Sequence[StandingRow],
    whole: float,
    *,
    title: str,
    desc: str,
    fmt: Formatter,
    width: int = 560,
) -> str:
    """One row per unit: a ring where its usual standing against the rest of the organisation
    would put it, a dot where it is, joined by a line; the organisation's figure is the black
    vertical line. A dark spot's dot sits well left of its ring (orange)."""
    # The left margin fits the longest unit name (about 7 px a character): names are not cut;
    # the plot gives up the room (the chart keeps its width, so it still fits its column).
    longest = max((len(r.label) for r in rows), default=0)
    left, right, top, row_h = min(max(80, 16 + 7 * longest), width // 2), 156, 26, 26
    height = top + row_h * len(rows) + 26
    values = [whole, *(r.now for r in rows), *(r.expected for r in rows if r.expected is not None)]
    low, high = max(0.0, min(values) - 0.02), min(1.0, max(values) + 0.02)
    plot_w = width - left - right

    def px(v: float) -> float:
        return left + (v - low) / (high - low or 1) * plot_w

    body = []
    bottom = top + row_h * len(rows)
    for value in ticks(low, high, 4):
        x = px(value)
        body.append(
            f'<line x1="{num(x)}" x2="{num(x)}" y1="{top - 6}" y2="{bottom}" stroke="{GRID}" '
            'stroke-width="0.6"/>'
        )
        body.append(text(x, bottom + 16, fmt(value), text_anchor="middle", class_="tick"))
    wx = px(whole)
    body.append(
        f'<line class="org-line" x1="{num(wx)}" x2="{num(wx)}" y1="{top - 8}" y2="{bottom}" '
        f'stroke="{INK}" stroke-width="2.5"/>'
    )
    body.append(
        text(
            wx,
            top - 12,
            f"whole organisation {fmt(whole)}",
            text_anchor="middle",
            class_="org-label",
        )
    )
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour = CONCERN if r.flagged else COMMON
        css = "pt-label strong" if r.flagged else "pt-label"
        body.append(text(left - 10, y + 4, r.label, text_anchor="end", class_=css))
        x = px(r.now)
        if r.expected is not None:
            ex = px(r.expected)
            body.append(
                f'<line x1="{num(ex)}" x2="{num(x)}" y1="{num(y)}" y2="{num(y)}" '
                f'stroke="{colour}" stroke-width="{3 if r.flagged else 2}"/>'
                f'<circle class="usual" cx="{num(ex)}" cy="{num(y)}" r="5" fill="#fff" '
                f'stroke="{MUTED}" stroke-width="1.5"/>'
            )
        body.append(
            f'<g class="pt"><circle cx="{num(x)}" cy="{num(y)}" r="{7 if r.flagged else 5.5}" '
            f'fill="{colour}" stroke="{INK if r.flagged else "#fff"}" stroke-width="1.5"/>'
            f"<title>{escape(r.detail)}</title></g>"
        )
        body.append(text(left + plot_w + 12, y + 4, r.note, class_=css))
    return svg(width, height, title, desc, body, "strip")
