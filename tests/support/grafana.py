"""The Grafana dashboards' ClickHouse queries, loaded and expanded as Grafana would.

Shared by the dashboard tests (tests/unit/test_deploy_grafana.py, tests/integration/) and the
benchmark (`python -m bench.dashboard_queries`):

- `load_dashboards` / `clickhouse_targets`: the provisioned dashboard JSON and its SQL targets.
- `expand`: what the official ClickHouse plugin (grafana-clickhouse-datasource) does to a
  panel's rawSql before ClickHouse sees it. In the browser, `$__conditionalAll(cond, $var)`
  becomes `1=1` when the variable is "All" (or empty) and `cond` otherwise, then Grafana's
  template service replaces `$var`, `${var}` and `[[var]]` (a multi-value variable becomes
  `'a','b'`, a single value is inserted as it is: the SQL quotes it). On the server, the
  plugin's macros: `$__timeFilter(col)` -> `col >= toDateTime(from) AND col <= toDateTime(to)`,
  `$__fromTime`/`$__toTime` -> `toDateTime(unix)`, `$__timeInterval(col)` ->
  `toStartOfInterval(toDateTime(col), INTERVAL n second)`, `$__interval_s` -> n, and the
  `_ms`, `$__dateFilter` and `$__dateTimeFilter` variants. A macro not listed is an error, so a
  dashboard cannot use one that this emulation (and so the test) does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "deploy" / "grafana" / "dashboards"
CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"
PROMETHEUS_PLUGIN = "prometheus"
ALL = "$__all"

# Grafana's ClickHouse plugin formats (`format` of a target).
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1
FORMAT_LOGS = 2

# --------------------------------------------------------------------------------------------
# Dashboards
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One query of one panel."""

    dashboard_uid: str
    dashboard_title: str
    panel_id: int
    panel_title: str
    panel_type: str
    datasource_type: str
    ref_id: str
    query: str
    """rawSql for ClickHouse, expr for Prometheus."""
    fmt: int
    panel: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{self.dashboard_uid}/{self.panel_id}:{self.ref_id} {self.panel_title}"


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """Every dashboard JSON in `directory` (recursively), by file name."""
    return {
        str(path.relative_to(directory)): json.loads(path.read_text())
        for path in sorted(directory.rglob("*.json"))
    }


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, rows' nested panels included (row panels themselves left out)."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def _datasource_type(panel: Mapping[str, Any], target: Mapping[str, Any]) -> str:
    for source in (target.get("datasource"), panel.get("datasource")):
        if isinstance(source, dict) and source.get("type"):
            return str(source["type"])
    return ""


def targets(dashboards: Mapping[str, Mapping[str, Any]] | None = None) -> list[Target]:
    """Every query target of every panel."""
    found = []
    for dashboard in (dashboards or load_dashboards()).values():
        for panel in iter_panels(dashboard):
            for target in panel.get("targets", []):
                ds_type = _datasource_type(panel, target)
                query = target.get("rawSql") if ds_type == CLICKHOUSE_PLUGIN else target.get("expr")
                found.append(
                    Target(
                        dashboard_uid=str(dashboard["uid"]),
                        dashboard_title=str(dashboard["title"]),
                        panel_id=int(panel["id"]),
                        panel_title=str(panel.get("title", "")),
                        panel_type=str(panel["type"]),
                        datasource_type=ds_type,
                        ref_id=str(target.get("refId", "")),
                        query=str(query or ""),
                        fmt=int(target.get("format", FORMAT_TABLE)),
                        panel=panel,
                    )
                )
    return found


def clickhouse_targets(dashboards: Mapping[str, Mapping[str, Any]] | None = None) -> list[Target]:
    return [t for t in targets(dashboards) if t.datasource_type == CLICKHOUSE_PLUGIN]


def prometheus_targets(dashboards: Mapping[str, Mapping[str, Any]] | None = None) -> list[Target]:
    return [t for t in targets(dashboards) if t.datasource_type == PROMETHEUS_PLUGIN]


# --------------------------------------------------------------------------------------------
# What Grafana and the ClickHouse plugin do to rawSql
# --------------------------------------------------------------------------------------------

VariableValue = str | list[str]


@dataclass(frozen=True, slots=True)
class QueryContext:
    """The dashboard state a query is expanded in: time range, interval, variables."""

    time_from: datetime
    time_to: datetime
    interval_s: int = 3600
    variables: Mapping[str, VariableValue] = field(default_factory=dict)


class ExpansionError(ValueError):
    """The query uses a macro or variable that Grafana or the plugin would not expand."""


_CONDITIONAL_ALL = "$__conditionalAll("
_VAR_IN_ARG = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+")
# Grafana's template variable syntax: $name, [[name]] / [[name:fmt]], ${name} / ${name:fmt}.
_TEMPLATE_VAR = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)
_MACRO = re.compile(r"\$__(\w+)\b(?:\(([^()]*)\))?")


def _macro_args(query: str, open_paren: int) -> list[str]:
    """The plugin's getMacroArgs: split the macro's arguments at top-level commas."""
    args: list[str] = []
    depth = 0
    start = open_paren + 1
    for index in range(open_paren, len(query)):
        char = query[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 1:
            args.append(query[start:index])
            start = index + 1
        if depth == 0:
            args.append(query[start:index])
            return args
    return []


def apply_conditional_all(query: str, variables: Mapping[str, VariableValue]) -> str:
    """`$__conditionalAll(condition, $var)`: `1=1` when $var is All or empty, else condition."""
    index = query.rfind(_CONDITIONAL_ALL)
    while index != -1:
        args = _macro_args(query, index + len(_CONDITIONAL_ALL) - 1)
        if len(args) != 2:
            raise ExpansionError(f"$__conditionalAll needs 2 arguments: {query[index:][:80]}")
        phrase = args[0]
        match = _VAR_IN_ARG.search(args[1].strip())
        if match:
            value = variables.get(match.group(0))
            text = ",".join(value) if isinstance(value, list) else (value or "")
            if text in ("", ALL):
                phrase = "1=1"
        query = query.replace(f"{_CONDITIONAL_ALL}{args[0]},{args[1]})", phrase)
        index = query.rfind(_CONDITIONAL_ALL)
    return query


def _format_value(value: VariableValue, fmt: str | None) -> str:
    values = value if isinstance(value, list) else [value]
    if fmt in (None, ""):
        # The plugin's own formatter: a multi-value variable as a quoted list.
        return "'" + "','".join(values) + "'" if isinstance(value, list) else value
    if fmt in ("singlequote", "sqlstring"):
        return ",".join(
            "'" + v.replace("'", "\\'" if fmt == "singlequote" else "''") + "'" for v in values
        )
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "raw":
        return ",".join(values)
    raise ExpansionError(f"variable format {fmt!r} is not emulated")


def replace_variables(query: str, ctx: QueryContext) -> str:
    """Grafana's templateSrv.replace with the plugin's formatter; unknown names stay as typed
    (as Grafana leaves them), which the macro step then rejects if they look like macros."""
    builtins: dict[str, VariableValue] = {
        "__from": str(int(ctx.time_from.timestamp() * 1000)),
        "__to": str(int(ctx.time_to.timestamp() * 1000)),
        "__interval_ms": str(ctx.interval_s * 1000),
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in ctx.variables:
            return _format_value(ctx.variables[name], fmt)
        if name in builtins:
            return _format_value(builtins[name], fmt)
        return match.group(0)

    return _TEMPLATE_VAR.sub(substitute, query)


def _to_datetime(moment: datetime) -> str:
    return f"toDateTime({int(moment.timestamp())})"


def _to_datetime64(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(moment.timestamp() * 1000)})"


def _to_date(moment: datetime) -> str:
    return f"toDate('{moment.astimezone(UTC):%Y-%m-%d}')"


def _one_arg(name: str, args: list[str]) -> str:
    if len(args) != 1:
        raise ExpansionError(f"$__{name} expects 1 argument, got {len(args)}")
    return args[0]


def apply_macros(query: str, ctx: QueryContext) -> str:
    """The plugin's backend macros (pkg/macros), expanded as sqlds does."""
    seconds = max(ctx.interval_s, 1)
    lo, hi = ctx.time_from, ctx.time_to

    def expand_one(match: re.Match[str]) -> str:
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
        if name == "fromTime":
            return _to_datetime(lo)
        if name == "toTime":
            return _to_datetime(hi)
        if name == "fromTime_ms":
            return _to_datetime64(lo)
        if name == "toTime_ms":
            return _to_datetime64(hi)
        if name == "timeFilter":
            col = _one_arg(name, args)
            return f"{col} >= {_to_datetime(lo)} AND {col} <= {_to_datetime(hi)}"
        if name == "timeFilter_ms":
            col = _one_arg(name, args)
            return f"{col} >= {_to_datetime64(lo)} AND {col} <= {_to_datetime64(hi)}"
        if name == "dateFilter":
            col = _one_arg(name, args)
            return f"{col} >= {_to_date(lo)} AND {col} <= {_to_date(hi)}"
        if name in ("dateTimeFilter", "dt"):
            if len(args) != 2:
                raise ExpansionError(f"$__{name} expects 2 arguments, got {len(args)}")
            date_col, time_col = args
            return (
                f"({date_col} >= {_to_date(lo)} AND {date_col} <= {_to_date(hi)}) AND "
                f"({time_col} >= {_to_datetime(lo)} AND {time_col} <= {_to_datetime(hi)})"
            )
        if name == "timeInterval":
            col = _one_arg(name, args)
            return f"toStartOfInterval(toDateTime({col}), INTERVAL {seconds} second)"
        if name == "timeInterval_ms":
            col = _one_arg(name, args)
            return (
                f"toStartOfInterval(toDateTime64({col}, 3), INTERVAL {seconds * 1000} millisecond)"
            )
        if name == "interval_s":
            return str(seconds)
        raise ExpansionError(f"$__{name} is not a macro of {CLICKHOUSE_PLUGIN}")

    return _MACRO.sub(expand_one, query)


def expand(query: str, ctx: QueryContext) -> str:
    """rawSql as ClickHouse receives it from Grafana."""
    expanded = apply_macros(
        replace_variables(apply_conditional_all(query, ctx.variables), ctx), ctx
    )
    leftover = re.search(r"\$\{?\w+|\[\[\w+", expanded)
    if leftover:
        raise ExpansionError(f"unexpanded variable {leftover.group(0)!r}")
    return expanded


RunQuery = Callable[[str], list[tuple[Any, ...]]]


def resolve_variables(
    dashboard: Mapping[str, Any], ctx: QueryContext, run: RunQuery
) -> dict[str, VariableValue]:
    """The values a user would see selected on opening the dashboard: custom and constant
    variables take their current (or first) option; a query variable runs its query (with the
    variables before it) and takes the first value, or All when it includes All."""
    values: dict[str, VariableValue] = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        name = str(variable["name"])
        kind = variable.get("type")
        current = variable.get("current") or {}
        if kind in ("custom", "constant", "textbox", "interval"):
            value = current.get("value")
            if value is None:
                options = variable.get("options") or []
                value = options[0]["value"] if options else str(variable.get("query", ""))
            values[name] = value
        elif kind == "query":
            query = variable.get("query")
            sql = query.get("rawSql", "") if isinstance(query, dict) else str(query or "")
            local = QueryContext(ctx.time_from, ctx.time_to, ctx.interval_s, values)
            rows = run(expand(sql, local))
            options = [str(row[0]) for row in rows]
            if variable.get("includeAll") and variable.get("multi"):
                values[name] = [ALL]
            elif variable.get("multi"):
                values[name] = options[:1]
            else:
                values[name] = options[0] if options else ""
        # datasource and adhoc variables do not enter SQL text.
    # "All" on a variable without a custom allValue is every option (after conditionalAll).
    return values


def context_for(
    dashboard: Mapping[str, Any],
    time_from: datetime,
    time_to: datetime,
    run: RunQuery,
    interval_s: int = 3600,
) -> QueryContext:
    base = QueryContext(time_from, time_to, interval_s)
    return QueryContext(time_from, time_to, interval_s, resolve_variables(dashboard, base, run))


def expand_all_option(
    dashboard: Mapping[str, Any], ctx: QueryContext, run: RunQuery
) -> QueryContext:
    """`ctx` with every `[ALL]` replaced by the variable's options (what templateSrv inserts
    for "All" outside $__conditionalAll when no allValue is set)."""
    variables = dict(ctx.variables)
    for variable in dashboard.get("templating", {}).get("list", []):
        name = str(variable["name"])
        if variables.get(name) == [ALL]:
            all_value = variable.get("allValue")
            if all_value:
                variables[name] = str(all_value)
                continue
            query = variable.get("query")
            sql = query.get("rawSql", "") if isinstance(query, dict) else str(query or "")
            partial = QueryContext(ctx.time_from, ctx.time_to, ctx.interval_s, variables)
            variables[name] = [str(row[0]) for row in run(expand(sql, partial))]
    return QueryContext(ctx.time_from, ctx.time_to, ctx.interval_s, variables)


def render(target: Target, dashboard: Mapping[str, Any], ctx: QueryContext, run: RunQuery) -> str:
    """A panel's SQL as ClickHouse receives it: conditional Alls first (they see `$__all`),
    then the remaining All selections as their lists of options."""
    partial = apply_conditional_all(target.query, ctx.variables)
    full = expand_all_option(dashboard, ctx, run)
    return expand(partial, full)
