"""Prometheus: scrape config and rules checked by promtool, rule unit tests run by promtool, and
every metric the rules and dashboards use is one the worker exports.

promtool comes from Debian's `prometheus` package (`make ops-check` or
deploy/dev/install-test-tools.sh install it). Without it these tests skip, except in CI (CI set),
where a missing promtool is a failure: the checks must not silently stop running.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from pipeline.adapters.metrics import PipelineMetrics
from tests.support.grafana import prometheus_targets
from tests.support.metrics import REQUIRED_METRICS
from tests.support.tools import tool

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
OPERATIONS_DOC = REPO / "docs" / "operations.md"

# The worker's metrics the rules and the pipeline-health dashboard are built on (the worker may
# export more: pipeline/adapters/metrics.py is the reference).
PIPELINE_METRICS = REQUIRED_METRICS
HISTOGRAMS = {"pipeline_batch_size", "pipeline_sink_latency_seconds"}
# Series Prometheus makes itself.
BUILTIN_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "atan2",
}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def _rules() -> list[dict[str, Any]]:
    found = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(group["rules"])
    return found


def recording_rules() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (good enough for the expressions here)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        name = match.group(0)
        if rest.startswith("(") or name.lower() in PROMQL_WORDS:
            continue  # a function, an aggregation or a keyword
        names.add(name)
    return names


def exported_metrics() -> dict[str, str]:
    """Series name -> type of everything the worker's registry exports."""
    exported = {}
    for family in PipelineMetrics().registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        exported[family.name + suffix] = family.type
    return exported


def known_series() -> set[str]:
    exported = exported_metrics()
    histograms = {name for name, kind in exported.items() if kind == "histogram"}
    histogram_parts = {f"{h}_{s}" for h in histograms for s in ("bucket", "sum", "count")}
    return (set(exported) - histograms) | histogram_parts | BUILTIN_SERIES | recording_rules()


# --------------------------------------------------------------------------------------------


def test_promtool_checks_the_config_and_its_rules() -> None:
    promtool = tool("promtool")
    result = run(promtool, "check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULES)} rule files found" in result.stdout + result.stderr
    result = run(promtool, "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = tool("promtool")
    assert RULE_TESTS, "no rule tests"
    result = run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_rule_is_unit_tested() -> None:
    tested = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    assert {rule["alert"] for rule in alert_rules()} <= tested


def test_the_metrics_relied_on_are_exported() -> None:
    exported = exported_metrics()
    assert set(exported) >= PIPELINE_METRICS
    assert {name for name in PIPELINE_METRICS if exported[name] == "histogram"} == HISTOGRAMS


def test_rules_read_only_exported_metrics() -> None:
    known = known_series()
    for rule in _rules():
        unknown = metric_names(str(rule["expr"])) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')} reads {unknown}"


def test_dashboards_read_only_exported_metrics() -> None:
    known = known_series()
    used: set[str] = set()
    targets = prometheus_targets()
    assert targets
    for target in targets:
        names = metric_names(target.query)
        assert names, f"{target.name}: no metric"
        assert not names - known, f"{target.name} reads {names - known}"
        used |= names
    # The health dashboard shows every metric the worker exports.
    for metric in exported_metrics():
        variants = {metric} | {f"{metric}_{s}" for s in ("bucket", "sum", "count")}
        assert variants & used, f"no panel shows {metric}"


def test_dashboard_expressions_parse(tmp_path: Path) -> None:
    """Each panel's PromQL, with Grafana's interval variables filled in, through promtool."""
    promtool = tool("promtool")
    substitutions = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "6h"}
    rules = []
    for index, target in enumerate(prometheus_targets()):
        expr = target.query
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{target.name}: unexpanded variable in {expr}"
        rules.append({"record": f"grafana:panel_{index}", "expr": expr})
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.*)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_alert_rules_are_routable_and_documented() -> None:
    anchors = _anchors(OPERATIONS_DOC.read_text())
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["team"] == "platform", name
        assert rule["labels"]["severity"] in {"critical", "warning", "none"}, name
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key), f"{name} has no {key}"
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert (REPO / page).resolve() == OPERATIONS_DOC
        assert anchor in anchors, f"{name}: docs/operations.md has no section #{anchor}"


def test_metric_name_extraction() -> None:
    assert metric_names(
        'sum by (topic) (rate(pipeline_messages_consumed_total{job="x"}[5m])) > 0'
    ) == {"pipeline_messages_consumed_total"}
    assert metric_names(
        "(time() - max by (instance) (pipeline_last_batch_timestamp_seconds) > 600) "
        "and on (instance) (sum by (instance) (pipeline_consumer_lag) > 0)"
    ) == {"pipeline_last_batch_timestamp_seconds", "pipeline_consumer_lag"}
    assert metric_names("pipeline:reject_ratio:rate5m > 0.05") == {"pipeline:reject_ratio:rate5m"}
