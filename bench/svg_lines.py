"""A small SVG line-chart writer for the benchmarks' figures (no plotting library needed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 560, 340
LEFT, RIGHT, TOP, BOTTOM = 60, 170, 40, 50
COLOURS = ("#005EB8", "#ED8B00", "#330072", "#009639", "#8A1538", "#768692")


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]


def line_chart(title: str, x_label: str, y_label: str, series: Sequence[Series]) -> str:
    """One chart: y from 0 to 1, x over the points' range, a legend on the right."""
    xs = [x for s in series for x, _ in s.points]
    low, high = min(xs), max(xs)
    span = (high - low) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - low) / span * plot_w

    def py(y: float) -> float:
        return TOP + (1.0 - y) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Arial, sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = py(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
                     'stroke="#D8DDE0"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for x in sorted(set(xs)):
        parts.append(f'<text x="{px(x):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
                     f"{x:g}</text>")  # fmt: skip
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                 f"{escape(x_label)}</text>")  # fmt: skip
    parts.append(f'<text transform="translate(16 {TOP + plot_h / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')  # fmt: skip
    for index, line in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line.points)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')  # fmt: skip
        for x, y in line.points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        legend_y = TOP + 14 + index * 18
        parts.append(f'<line x1="{LEFT + plot_w + 12}" y1="{legend_y - 4}" '
                     f'x2="{LEFT + plot_w + 30}" y2="{legend_y - 4}" stroke="{colour}" '
                     'stroke-width="2"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT + plot_w + 34}" y="{legend_y}">{escape(line.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
