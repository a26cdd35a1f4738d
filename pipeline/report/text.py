"""Words and numbers as the report prints them, and an alert's evidence as figures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

from pipeline.core.alerts import AlertKind
from pipeline.core.detection.text import in_unit

METRIC_NAMES = {
    "ae_4h": "A&E 4-hour",
    "rtt_18w": "RTT 18-week",
    "cancer_62d": "Cancer 62-day",
    "cancer_28d": "Cancer 28-day",
    "diagnostic_6w": "Diagnostics 6-week",
    "amb_c1_mean": "Category 1 mean",
    "amb_c1_p90": "Category 1 90th centile",
    "amb_c2_mean": "Category 2 mean",
    "amb_c2_p90": "Category 2 90th centile",
    "amb_c3_p90": "Category 3 90th centile",
    "amb_c4_p90": "Category 4 90th centile",
}
RESPONSE_NAMES = {
    "acknowledged": "Acknowledged",
    "investigating": "Investigating",
    "action_taken": "Action taken",
    "false_positive": "False positive",
    "resolved": "Resolved",
}
MEASURE_NAMES = {
    "positive_share": "Rated good or very good",
    "negative_share": "Rated poor or very poor",
    "harmful_incident_rate": "Incidents causing harm",
}
HARM_LEVELS = ("none", "low", "moderate", "severe", "death")
RULE_NAMES = {
    "beyond_limit": "a window beyond the limit",
    "run_beyond_warning": "a run of windows beyond the warning line",
}
# Evidence keys whose numbers between 0 and 1 are shares, printed as percentages.
_SHARE_WORDS = (
    "share",
    "attainment",
    "target",
    "rate_pct",
    "proportion",
    "limit",
    "lpl",
    "upl",
    "percent",
    "positive",
    "negative",
    "baseline",
    "mean",
    "centre",
    "expected",
)
_MAX_FIGURES = 10


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def pts(value: float | None) -> str:
    """A difference of two shares, in percentage points."""
    if value is None:
        return "–"
    points = value * 100
    return "0 pts" if abs(points) < 0.05 else f"{points:+.1f} pts"


def margin_text(margin: float | None, unit: str) -> str:
    """A target margin (>= 0: met) as people read it: '+22.0 pts' for a share, '-9.2 minutes'
    for a time over its standard (a value in its own unit, compactly: '-1e12 minutes')."""
    if margin is None:
        return "–"
    if not unit:
        return pts(margin)
    if unit == "percent":
        return f"{margin:+.1f} pts"
    return f"{_signed_compact(margin)} {unit}"


def _signed_compact(value: float) -> str:
    """'-9.2', '+12,345', '-1e12': short whatever the size (a value may be up to 10^12)."""
    if abs(value) < 10_000:
        return f"{value:+.1f}"
    if abs(value) < 1e9:
        return f"{value:+,.0f}"
    return f"{value:+.3g}".replace("e+", "e")


def pts_tick(value: float) -> str:
    """An axis label in percentage points: '+5 pts', '-2.5 pts', '0'."""
    points = round(value * 100, 6)
    if points == 0:
        return "0"
    return f"{points:+.0f} pts" if points == int(points) else f"{points:+.1f} pts"


def day(moment: datetime, *, end: bool = False) -> str:
    """'3 Mar 2025'; with `end`, the last day of a half-open interval ending at midnight."""
    if end and moment.time() == time(0):
        moment -= timedelta(days=1)
    return f"{moment.day} {moment:%b %Y}"


def unit_name(org_id: str, unit_id: str) -> str:
    return f"{org_id} {unit_id}"


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def kind_name(kind: AlertKind) -> str:
    return kind.label


def label(key: str) -> str:
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def figure(key: str, value: Any) -> str:
    """One evidence value in words: shares as percentages, counts with separators."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        lowered = key.lower()
        if 0 <= abs(value) <= 1 and any(word in lowered for word in _SHARE_WORDS):
            return f"{value:.1%}"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if value is None:
        return "–"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:79] + "…"


def evidence_figures(
    evidence: dict[str, Any], window_kind: str = "week"
) -> tuple[str, list[tuple[str, str]]]:
    """The method, and the figures behind an alert in words: the targets it met, each flagged
    measure in its most extreme window against its usual level and limit, the episode, the
    harm. Evidence of another shape is listed key by key."""
    method = evidence.get("method")
    method_text = str(method) if method is not None else "not stated"
    figures: list[tuple[str, str]] = []
    targets = evidence.get("targets")
    if isinstance(targets, dict):
        for m in targets.get("metrics") or []:
            if isinstance(m, dict) and isinstance(m.get("attainment"), int | float):
                verdict = " (met)" if m.get("met") else " (missed)" if "met" in m else ""
                unit = str(m.get("unit") or "")
                target = m.get("target")
                against = (
                    in_unit(float(target), unit)
                    if unit and isinstance(target, int | float)
                    else _share(target)
                )
                value = float(m["attainment"])
                attained = in_unit(value, unit) if unit else f"{value:.1%}"
                figures.append(
                    (
                        metric_name(str(m.get("metric"))),
                        f"{attained} against a target of {against}{verdict}",
                    )
                )
    measures = evidence.get("measures")
    if isinstance(measures, dict):
        for name, entry in measures.items():
            windows = [w for w in (entry or {}).get("windows") or [] if isinstance(w, dict)]
            flagged = [w for w in windows if w.get("rule")]
            if flagged:
                peak = max(flagged, key=lambda w: abs(float(w.get("z") or 0.0)))
                when = _window_words(str(peak.get("window_start", "")), window_kind)
                small = [w for w in flagged if w.get("small")]
                note = (
                    f" ({plural(len(small), 'flagged ' + window_kind)} with fewer than 30 "
                    "responses: a small sample, judged with its wider limits)"
                    if small
                    else ""
                )
                figures.append(
                    (
                        f"{MEASURE_NAMES.get(name, label(name))}, {when}",
                        _measure_words(name, peak, entry, window_kind) + note,
                    )
                )
    episode = evidence.get("episode")
    if isinstance(episode, dict) and "windows_flagged" in episode:
        state = "ongoing" if episode.get("ongoing") else "over"
        figures.append(
            (
                "Episode",
                f"{plural(int(episode['windows_flagged']), window_kind)} "
                f"flagged, {state}; strongest signal z = {episode.get('peak_z')}",
            )
        )
    incidents = evidence.get("incidents")
    if isinstance(incidents, dict) and isinstance(incidents.get("by_harm"), dict):
        by_harm = incidents["by_harm"]
        order = [h for h in HARM_LEVELS if h in by_harm] + [
            h for h in by_harm if h not in HARM_LEVELS
        ]
        harms = ", ".join(f"{by_harm[h]:,} {h}" for h in order if by_harm[h])
        figures.append(("Incidents in the episode, by harm", harms or "none"))
    if evidence.get("severe_harm_incidents"):
        figures.append(("Severe harm or death", f"{evidence['severe_harm_incidents']:,}"))
    themes = evidence.get("themes")
    if isinstance(themes, dict) and isinstance(themes.get("counts"), dict):
        named = ", ".join(f"{label(str(k)).lower()} {v:,}" for k, v in themes["counts"].items())
        figures.append(
            (
                "Themes of comments",
                f"{named} (of {int(themes.get('responses') or 0):,} responses)",
            )
        )
    rules = evidence.get("rules")
    if isinstance(rules, dict) and rules.get("fired"):
        fired = ", ".join(RULE_NAMES.get(str(r), str(r).replace("_", " ")) for r in rules["fired"])
        figures.append(("Rule", fired))
    if not figures:
        figures = list(_walk(evidence, ""))
    return method_text, figures[:_MAX_FIGURES]


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "–"


def _window_words(start: str, window_kind: str) -> str:
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        return "worst window"
    if window_kind == "month":
        return f"{moment:%B %Y}"
    return f"week of {moment.day} {moment:%b %Y}"


def _measure_words(
    name: str, w: dict[str, Any], entry: dict[str, Any], window_kind: str = "week"
) -> str:
    def show(value: Any) -> str:
        if not isinstance(value, int | float):
            return "–"
        return f"{value:.1%}" if name.endswith("share") else f"{value:,.1f}"

    if name.endswith("share"):
        text = f"{show(w.get('value'))} of {w.get('size', 0):,.0f} responses"
    else:
        # Harm is judged per 1,000 patients where the unit reports activity, else per window.
        per = "1,000 patients" if "activity" in str(entry.get("per", "")) else window_kind
        text = f"{w.get('count', 0):,} incidents, {show(w.get('value'))} per {per}"
    if "centre" in w:
        text += f"; usual {show(w['centre'])}, limit {show(w.get('limit'))}"
    peers = w.get("peers")
    if isinstance(peers, dict) and peers.get("rest_of_organisation") is not None:
        text += f"; rest of organisation {show(peers['rest_of_organisation'])}"
    organisation = w.get("organisation")
    if isinstance(organisation, dict):
        # The dark-spot condition is judged when the window closed; that is what is stored.
        within_key = "within_limits_when_closed"
        within_flag = organisation.get(within_key, organisation.get("within_limits"))
        within = "within" if within_flag else "outside"
        text += f"; whole organisation {show(organisation.get('value'))} ({within} its usual range)"
    if isinstance(w.get("z"), int | float):
        text += f" (z = {w['z']:.1f})"
    return text


def _walk(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key in value:
            if key == "method" and not prefix:
                continue
            name = f"{prefix} {key}".strip()
            yield from _walk(value[key], name)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            tag = item.get("metric") or item.get("name") or str(index + 1)
            yield from _walk(
                {k: v for k, v in item.items() if k not in ("metric", "name")},
                f"{prefix} {metric_name(str(tag))}".strip(),
            )
    elif isinstance(value, list) and len(value) > 6:
        yield label(prefix), f"{len(value)} values"
    else:
        yield label(prefix), figure(prefix, value)
