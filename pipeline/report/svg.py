"""SVG building blocks: colours, numbers, text, axes' ticks and label placement.

Colours follow NHS England "Making Data Count" (orange for concern, blue for improvement, grey
for common cause) on the NHS identity palette; every colour is paired with a shape, a label or a
word in the charts, so nothing is said by colour alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from html import escape

from pipeline.core.spc import PointType

CONCERN = "#E67E00"
IMPROVEMENT = "#1D70B8"
COMMON = "#7B7D7D"
NEUTRAL_SPECIAL = "#6F2C91"
TARGET = "#C5221F"
INK = "#212B32"
MUTED = "#4C6272"
GRID = "#D8DDE0"
CONCERN_WASH = "#FDF1E3"
POINT_COLOURS = {
    PointType.COMMON_CAUSE: COMMON,
    PointType.SPECIAL_CAUSE_IMPROVEMENT: IMPROVEMENT,
    PointType.SPECIAL_CAUSE_CONCERN: CONCERN,
    PointType.SPECIAL_CAUSE_NEUTRAL_HIGH: NEUTRAL_SPECIAL,
    PointType.SPECIAL_CAUSE_NEUTRAL_LOW: NEUTRAL_SPECIAL,
}
Formatter = Callable[[float], str]


def num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def text(x: float, y: float, body: str, **attrs: str) -> str:
    """A <text> element; `class_="tick"` gives class="tick", `text_anchor` text-anchor."""
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{num(x)}" y="{num(y)}"{extra}>{escape(body)}</text>'


def shorten(label: str, most: int) -> str:
    """`label` cut to `most` characters with an ellipsis (tooltips carry the full name)."""
    return label if len(label) <= most else label[: most - 1] + "…"


def svg(width: int, height: int, title: str, desc: str, body: list[str], kind: str) -> str:
    ident = "c" + hashlib.sha1("".join([kind, title, desc, *body]).encode()).hexdigest()[:10]
    return (
        f'<svg class="chart chart-{kind}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}t {ident}d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}t">{escape(title)}</title><desc id="{ident}d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values ("nice numbers") inside [low, high]."""
    span = high - low or abs(high) or 1.0
    raw = span / count
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw * 0.999)
    first = math.ceil(low / step - 1e-9)
    return [
        round((first + i) * step, 12)
        for i in range(count * 3)
        if (first + i) * step <= high + step * 1e-9
    ]


Box = tuple[float, float, float, float]
_CHAR_WIDTH = 6.7  # average width of a 12px Arial character


def overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def label_box(x: float, y: float, anchor: str, text: str, size: float = 12) -> Box:
    width = len(text) * _CHAR_WIDTH * size / 12
    x0 = {"start": x, "end": x - width, "middle": x - width / 2}[anchor]
    return (x0, y - size * 0.8, x0 + width, y + size * 0.25)


def place_labels(
    items: Sequence[tuple[float, float, str, bool]], obstacles: list[Box], bounds: Box
) -> list[tuple[float, float, str, str]]:
    """Put each (x, y, text, must) label beside its point where it hits nothing placed so far;
    a label that must show takes the least crowded spot, any other is left out (its point keeps
    its tooltip). Returns (x, y, anchor, text) for the labels placed."""
    placed = list(obstacles)
    out = []
    for x, y, text, must in sorted(items, key=lambda item: not item[3]):
        best: tuple[float, float, float, str] | None = None
        for dx, dy, anchor in (
            (10, 4, "start"),
            (-10, 4, "end"),
            (0, -11, "middle"),
            (0, 20, "middle"),
            (8, -9, "start"),
            (-8, -9, "end"),
            (8, 16, "start"),
            (-8, 16, "end"),
        ):
            box = label_box(x + dx, y + dy, anchor, text)
            if box[0] < bounds[0] or box[2] > bounds[2] or box[1] < bounds[1] or box[3] > bounds[3]:
                continue
            crowding = sum(overlap(box, other) for other in placed)
            if best is None or crowding < best[0]:
                best = (crowding, x + dx, y + dy, anchor)
            if crowding == 0:
                break
        if best is not None and (best[0] == 0 or must):
            _, lx, ly, anchor = best
            placed.append(label_box(lx, ly, anchor, text))
            out.append((lx, ly, anchor, text))
    return out


def text_lines(x: float, y: float, text: str, anchor: str, css: str, up: bool) -> tuple[str, Box]:
    """Multi-line text (rows split at newlines) growing down from y, or up to y when `up`."""
    rows = text.split("\n")
    first = y - 15 * (len(rows) - 1) if up else y
    spans = "".join(
        f'<tspan x="{num(x)}" y="{num(first + 15 * i)}">{escape(row)}</tspan>'
        for i, row in enumerate(rows)
    )
    longest = max(rows, key=len)
    box = label_box(x, first, anchor, longest, 13)
    box = (box[0], box[1], box[2], first + 15 * (len(rows) - 1) + 4)
    return f'<text text-anchor="{anchor}" class="{css}">{spans}</text>', box
