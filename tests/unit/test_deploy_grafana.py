"""Grafana provisioning and dashboards, statically: the JSON is well formed, every panel uses a
provisioned data source, ClickHouse SQL uses only known tables, variables and plugin macros,
and the macro expansion the query tests rely on behaves as the ClickHouse plugin does.
(tests/integration/test_grafana_queries.py runs every panel's SQL on the real engine.)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.adapters.clickhouse import load_migrations
from tests.support.grafana import (
    ALL,
    CLICKHOUSE_PLUGIN,
    FORMAT_TABLE,
    FORMAT_TIME_SERIES,
    PROMETHEUS_PLUGIN,
    ExpansionError,
    QueryContext,
    Target,
    clickhouse_targets,
    expand,
    iter_panels,
    load_dashboards,
    targets,
)

REPO = Path(__file__).resolve().parents[2]
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
USERS = REPO / "deploy" / "clickhouse" / "users.d" / "quality-users.xml"
EXPECTED_DASHBOARDS = {
    "quality-overview",
    "quality-unit",
    "quality-alerts",
    "quality-pipeline-health",
}
TIME_SERIES_PANELS = {"timeseries", "status-history"}

DASHBOARDS = load_dashboards()
CH_TARGETS = clickhouse_targets(DASHBOARDS)


def _datasources() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load((PROVISIONING / "datasources" / "quality.yml").read_text())
    return {d["uid"]: d for d in loaded["datasources"]}


def _tables() -> set[str]:
    names = set()
    for migration in load_migrations():
        for statement in migration.statements:
            match = re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)", statement)
            if match:
                names.add(match.group(1))
    return names


def _by_uid(uid: str) -> dict[str, Any]:
    return next(d for d in DASHBOARDS.values() if d["uid"] == uid)


def test_the_four_dashboards_are_there() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert sorted(uids) == sorted(EXPECTED_DASHBOARDS)
    for dashboard in DASHBOARDS.values():
        assert dashboard["title"] and dashboard["description"]
        assert dashboard["id"] is None, "provisioned dashboards carry no database id"
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{dashboard['uid']}: duplicate panel ids"


def test_panels_fit_the_grid_and_explain_themselves() -> None:
    for dashboard in DASHBOARDS.values():
        for panel in iter_panels(dashboard):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
            if panel["type"] != "text":
                assert panel.get("title"), panel
                assert panel.get("description"), f"{panel['title']} has no description"
                assert panel.get("targets"), f"{panel['title']} has no query"


def test_every_panel_uses_a_provisioned_data_source() -> None:
    sources = _datasources()
    for target in targets(DASHBOARDS):
        source = target.panel["datasource"]
        assert source["uid"] in sources, target.name
        assert sources[source["uid"]]["type"] == source["type"] == target.datasource_type
        assert target.datasource_type in (CLICKHOUSE_PLUGIN, PROMETHEUS_PLUGIN)
        assert target.query.strip(), f"{target.name}: empty query"


def test_clickhouse_data_source_is_the_read_only_user() -> None:
    (clickhouse,) = [d for d in _datasources().values() if d["type"] == CLICKHOUSE_PLUGIN]
    data = clickhouse["jsonData"]
    assert data["username"] == "grafana"
    assert data["defaultDatabase"] == "quality"
    assert (data["protocol"], data["port"]) == ("native", 9000)
    assert clickhouse["secureJsonData"]["password"] == "${CLICKHOUSE_GRAFANA_PASSWORD}"
    grafana = ET.parse(USERS).getroot().find("users/grafana")
    assert grafana is not None
    profile = ET.parse(USERS).getroot().find(f"profiles/{grafana.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"


def test_clickhouse_targets_are_sql_with_the_right_format() -> None:
    assert CH_TARGETS
    for target in CH_TARGETS:
        raw = next(t for t in target.panel["targets"] if t["refId"] == target.ref_id)
        assert raw["editorType"] == "sql", target.name
        expected = FORMAT_TIME_SERIES if target.panel_type in TIME_SERIES_PANELS else FORMAT_TABLE
        assert target.fmt == expected, f"{target.name}: format {target.fmt}"


def test_sql_reads_only_the_pipelines_tables() -> None:
    tables = _tables()
    for target in CH_TARGETS:
        used = set(re.findall(r"\bquality\.(\w+)", target.query))
        assert used, f"{target.name} reads no quality table"
        assert used <= tables, f"{target.name} reads unknown {used - tables}"
        # Tables replaced by version are read with FINAL (the alert history keeps every
        # version on purpose).
        for table in ("unit_windows", "alerts", "alert_responses", "verdicts"):
            for match in re.finditer(
                rf"\bquality\.{table}\b(\s+AS\s+\w+)?(\s+FINAL)?", target.query
            ):
                assert match.group(2), f"{target.name}: quality.{table} without FINAL"


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def test_sql_uses_only_defined_variables_and_known_macros() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    for target in CH_TARGETS:
        dashboard = _by_uid(target.dashboard_uid)
        defined = _variables(dashboard)
        used = set(re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(?!__)(\w+)", target.query))
        names = {a or b for a, b in used}
        assert names <= set(defined), f"{target.name} uses undefined {names - set(defined)}"
        values: dict[str, str | list[str]] = {name: "X" for name in defined}
        expand(target.query, QueryContext(moment, moment, 60, values))  # raises if unknown


def test_query_variables_read_from_clickhouse() -> None:
    for dashboard in DASHBOARDS.values():
        for variable in _variables(dashboard).values():
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == "quality-clickhouse"
                sql = variable["query"]["rawSql"]
                assert re.search(r"\bquality\.\w+", sql), variable["name"]


def test_data_links_and_overrides_name_real_columns_somewhere() -> None:
    """Field names in links and overrides are columns the panel's SQL mentions."""
    for target in CH_TARGETS:
        panel = target.panel
        text = str(panel.get("fieldConfig", {}))
        fields = set(re.findall(r"__data\.fields\.(\w+)", text))
        overrides = panel.get("fieldConfig", {}).get("overrides", [])
        fields |= {o["matcher"]["options"] for o in overrides if o["matcher"]["id"] == "byName"}
        for field in fields:
            assert re.search(rf"\b{field}\b", target.query), f"{target.name}: no column {field}"


def test_dashboards_link_to_each_other_by_uid() -> None:
    for dashboard in DASHBOARDS.values():
        for match in re.finditer(r"/d/([\w-]+)", str(dashboard)):
            assert match.group(1) in EXPECTED_DASHBOARDS, match.group(0)


# --------------------------------------------------------------------------------------------
# The plugin's macro expansion, as emulated for the query tests
# --------------------------------------------------------------------------------------------

CTX = QueryContext(
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 1, tzinfo=UTC),
    interval_s=3600,
    variables={"org": ["RXA", "R1H"], "unit": "ED", "window": "week", "kind": [ALL]},
)


def test_time_macros_expand_as_the_plugin_does() -> None:
    assert expand("WHERE $__timeFilter(t)", CTX) == (
        "WHERE t >= toDateTime(1704067200) AND t <= toDateTime(1706745600)"
    )
    assert expand("$__fromTime, $__toTime", CTX) == "toDateTime(1704067200), toDateTime(1706745600)"
    assert expand("$__timeFilter_ms(t)", CTX) == (
        "t >= fromUnixTimestamp64Milli(1704067200000) "
        "AND t <= fromUnixTimestamp64Milli(1706745600000)"
    )
    assert (
        expand("$__timeInterval(t)", CTX)
        == "toStartOfInterval(toDateTime(t), INTERVAL 3600 second)"
    )
    assert expand("$__interval_s", CTX) == "3600"
    assert (
        expand("$__dateFilter(d)", CTX) == "d >= toDate('2024-01-01') AND d <= toDate('2024-02-01')"
    )


def test_variables_expand_as_grafana_does() -> None:
    assert expand("unit_id = '${unit}' AND w = '$window'", CTX) == "unit_id = 'ED' AND w = 'week'"
    assert expand("org_id IN (${org})", CTX) == "org_id IN ('RXA','R1H')"
    assert expand("org_id IN (${org:singlequote})", CTX) == "org_id IN ('RXA','R1H')"


def test_conditional_all() -> None:
    sql = (
        "WHERE $__conditionalAll(kind IN (${kind}), $kind) "
        "AND $__conditionalAll(org_id IN (${org}), $org)"
    )
    assert expand(sql, CTX) == "WHERE 1=1 AND org_id IN ('RXA','R1H')"


def test_unknown_macros_and_variables_are_errors() -> None:
    with pytest.raises(ExpansionError):
        expand("$__timeGroup(t, '1h')", CTX)
    with pytest.raises(ExpansionError):
        expand("WHERE unit = '${nope}'", CTX)


def test_every_clickhouse_target_is_listed() -> None:
    assert all(isinstance(t, Target) for t in CH_TARGETS)
    panel_count = sum(
        1
        for d in DASHBOARDS.values()
        for p in iter_panels(d)
        if p.get("datasource", {}).get("type") == CLICKHOUSE_PLUGIN
    )
    assert len(CH_TARGETS) == panel_count


def test_views_of_worse_read_the_stored_verdicts_and_judge_nothing_themselves() -> None:
    """One verdict per question: the panels that say whether a unit's experience or harm is
    worse read `quality.verdicts` (the alerts' own judgement); no panel works out process
    limits or a usual level of its own; the unit's target chart reads the board's stored row.
    """
    for target in CH_TARGETS:
        for own in ("2.66", "1.128", "PRECEDING", "usual_positive - 0.05"):
            assert own not in target.query, f"{target.name} judges for itself ({own})"
    reads_verdicts = {t.panel_title for t in CH_TARGETS if "quality.verdicts" in t.query}
    for title in (
        "Patient experience: positive feedback share (the pipeline's verdicts)",
        "Safety: harmful incidents per 1,000 activity, else per window (the pipeline's verdicts)",
        "Meeting every target, experience a concern (latest judged window)",
        "Target attainment versus experience, every unit (latest complete window)",
        "Experience verdicts by unit and week (dark orange: a concern while every target is met)",
        "Attainment margin against experience change (latest complete window)",
        "The pipeline's verdicts now: every unit and measure (latest judged window)",
    ):
        assert title in reads_verdicts, title
    (chart,) = [t for t in CH_TARGETS if t.panel_title.startswith("Target attainment: ")]
    assert "quality.mdc_targets" in chart.query and "point_types" in chart.query


def test_verdict_panels_use_the_making_data_count_colours_and_icons() -> None:
    (panel,) = [t.panel for t in CH_TARGETS if t.panel_title.startswith("The pipeline's verdicts")]
    (variation,) = [o for o in panel["fieldConfig"]["overrides"]
                    if o["matcher"]["options"] == "variation"]  # fmt: skip
    (mapping,) = [p["value"][0]["options"] for p in variation["properties"]
                  if p["id"] == "mappings"]  # fmt: skip
    assert {m["color"] for k, m in mapping.items() if "concern" in k} == {"#E67E00"}
    assert {m["color"] for k, m in mapping.items() if "improvement" in k} == {"#1D70B8"}
    assert mapping["common_cause"]["color"] == "#7B7D7D"
    assert all(m["text"][0] in "🟠🔵⚪" for m in mapping.values())
    for title in ("Patient experience", "Safety", "Target attainment: "):
        (chart,) = [t.panel for t in CH_TARGETS if t.panel_title.startswith(title)]
        colours = {o["matcher"]["options"]: p["value"]["fixedColor"]
                   for o in chart["fieldConfig"]["overrides"] for p in o["properties"]
                   if p["id"] == "color"}  # fmt: skip
        assert colours["concern"] == "#E67E00" and colours["improvement"] == "#1D70B8"
        assert colours["value"] == "#7B7D7D"


def test_the_verdicts_by_week_are_coloured_by_verdict_not_by_z() -> None:
    """The overview's unit-by-week panel shows the stored verdict itself (a z of 3.9 judged
    common cause is grey, a CUSUM concern at z 0.9 orange), in Making Data Count colours."""
    (target,) = [t for t in CH_TARGETS if t.panel_title.startswith("Experience verdicts by unit")]
    assert target.panel_type == "status-history"
    code = "\n".join(line.split("--")[0] for line in target.query.splitlines())
    assert "verdict = 'concern'" in code and not re.search(r"\bz\b", code)
    (mapping,) = [m["options"] for m in target.panel["fieldConfig"]["defaults"]["mappings"]]
    assert mapping["2"]["color"] == mapping["2"]["color"].upper() == "#E67E00"
    assert mapping["0"]["color"] == "#7B7D7D" and mapping["-1"]["color"] == "#1D70B8"
    assert [mapping[k]["text"][0] for k in ("2", "1", "0", "-1")] == list("🟠🟠⚪🔵")


def test_the_attainment_scatter_colours_each_unit_by_its_stored_verdict() -> None:
    """The xy chart takes a point's colour from a numeric field (Grafana's `color` matcher of a
    series reads number fields only), whose value mappings give the Making Data Count colours
    of the stored experience verdict."""
    (target,) = [t for t in CH_TARGETS if t.panel_title.startswith("Attainment margin against")]
    assert target.panel_type == "xychart"
    (series,) = target.panel["options"]["series"]
    field = series["color"]["matcher"]["options"]
    assert series["color"]["matcher"]["id"] == "byName" and f"AS {field}" in target.query
    assert "FROM quality.verdicts" in target.query
    code = "\n".join(line.split("--")[0] for line in target.query.splitlines())
    assert "countIf(verdict = 'concern') > 0, 1" in code
    assert "countIf(verdict = 'improvement') > 0, -1" in code
    (override,) = [o for o in target.panel["fieldConfig"]["overrides"]
                   if o["matcher"]["options"] == field]  # fmt: skip
    (mapping,) = [p["value"][0]["options"] for p in override["properties"]
                  if p["id"] == "mappings"]  # fmt: skip
    assert {k: m["color"] for k, m in mapping.items()} == {
        "1": "#E67E00", "0": "#7B7D7D", "-1": "#1D70B8"
    }  # fmt: skip
    assert [mapping[k]["text"][0] for k in ("1", "0", "-1")] == list("🟠⚪🔵")


def _sql_strings(node: object) -> list[str]:
    """Every SQL string in a dashboard: panel targets' and template variables' queries."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("rawSql", "definition") and isinstance(v, str)]
        return found + [s for v in node.values() for s in _sql_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _sql_strings(v)]
    return []


def test_every_read_of_the_board_leaves_withdrawn_rows_out() -> None:
    """A board row the latest judgement withdrew (a measure with no current reading, such as
    a target whose run since a gap is too short) supersedes the one stored before it: no panel
    or variable shows it, so none shows the stale row either (the Target metric list offers
    no metric of a withdrawn row)."""
    reads = [s for d in DASHBOARDS.values() for s in _sql_strings(d)
             if "mdc_summary" in s or "mdc_targets" in s]  # fmt: skip
    assert len(reads) >= 3  # the overview's summary, the unit's target chart and its variable
    for sql in reads:
        assert "variation != 'withdrawn'" in sql, sql


def test_the_target_metric_list_offers_every_stored_target_of_the_unit() -> None:
    """Every target metric the pipeline judged is stored (`mdc_targets`), so the unit's Target
    metric variable lists them all, the board's main target first, and the chart reads the
    chosen metric's row (before, only the board's one metric could be shown)."""
    (unit,) = [d for d in DASHBOARDS.values() if d["uid"] == "quality-unit"]
    (variable,) = [v for v in unit["templating"]["list"] if v["name"] == "metric"]
    sql = variable["query"]["rawSql"]
    assert "FROM quality.mdc_targets FINAL" in sql and "measure = 'target'" in sql
    assert "DISTINCT" not in sql  # one row per metric: no other measure's row to fold away
    (chart,) = [t for t in CH_TARGETS if t.panel_title.startswith("Target attainment: ")]
    assert "metric = '${metric}'" in chart.query and "mdc_summary" not in chart.query
