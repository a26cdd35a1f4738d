"""The engine's small state in ClickHouse beyond the windows (migration 0071): the learning
loop's ledger (`response_ledger`), the incident revisions that came into force
(`incident_revisions`) and what each organisation's alerts were judged on (`judgements`).

Mixed into the sink (like the outbox), with the other reads a restore makes (state.py), so a
restore reads no payloads. Every row holds ids, kinds and times only: no note, no free text.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pipeline.adapters.clickhouse import state
from pipeline.adapters.clickhouse.rows import utc
from pipeline.core.engine import BatchResult, WindowRecord
from pipeline.core.engine_state import InputPartition, RecentEvent
from pipeline.core.events import Harm, IncidentCategory, ResponseKind
from pipeline.core.judgements import JudgedMark
from pipeline.core.learning import ResponseRecord
from pipeline.core.revisions import IncidentRevision, RevisionInForce
from pipeline.core.windows import WindowKind, window_of


class SmallState:
    """Needs `database`, `window_kind`, `insert_rows`, `query_dicts`, `query_columns` and
    `lookup_dicts` (the sink's; the look-ups a batch makes while another is written use the
    latter)."""

    database: str
    window_kind: str

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        raise NotImplementedError

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def query_columns(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Sequence[Any]]:
        raise NotImplementedError

    def lookup_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def insert_rows_together(
        self, inserts: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], token: str
    ) -> None:
        raise NotImplementedError

    # -- writes ---------------------------------------------------------------------------

    def write_side_state(self, result: BatchResult, token: str) -> None:
        """The responses and revisions in force `result` added (before its events)."""
        responses: list[dict[str, Any]] = []
        revisions: list[dict[str, Any]] = []
        if result.responses:
            responses = [
                {
                    "org_id": r.org_id,
                    "alert_id": r.alert_id,
                    "event_id": str(UUID(int=r.event_id)),
                    "unit_id": r.unit_id,
                    "response": r.response.value,
                    "occurred_at": r.occurred_at,
                    "due_by": r.due_by,
                    "owner": r.owner,
                }
                for r in result.responses
            ]
        if result.revisions:
            revisions = [
                {
                    "org_id": r.org_id,
                    "report_ref": r.report_ref,
                    "event_id": str(UUID(int=r.revision.event_id)),
                    "revision": r.revision.revision,
                    "unit_id": r.revision.unit[1],
                    "occurred_at": r.revision.occurred_at,
                    "harm": r.revision.harm.value,
                    "category": r.revision.category.value,
                }
                for r in result.revisions
            ]
        self.insert_rows_together(
            [("response_ledger", responses), ("incident_revisions", revisions)], token
        )

    def write_judged(self, marks: Sequence[JudgedMark], token: str) -> None:
        """What each organisation's alerts were judged on (after the alerts)."""
        rows = [
            {
                "org_id": m.org_id,
                "window_kind": self.window_kind,
                "mark": m.mark,
                "digest": m.digest,
                "judged_at": m.judged_at,
            }
            for m in marks
        ]
        if rows:
            self.insert_rows("judgements", rows, token)

    # -- what a restore reads -------------------------------------------------------------

    def window_records(self, owns: state.OwnsOrg) -> list[WindowRecord] | None:
        return state.window_records(self, owns)

    def latest_event(self, owns: state.OwnsOrg) -> datetime | None:
        """The latest event time among the organisations `owns` accepts (the watermark's
        source), from one row per organisation."""
        rows = self.query_dicts(
            f"SELECT org_id, max(latest_event) AS latest FROM {self.database}.org_progress "
            "GROUP BY org_id"
        )
        return max((utc(r["latest"]) for r in rows if owns(r["org_id"])), default=None)

    def org_inputs(self) -> dict[str, InputPartition]:
        """The input partition recorded with each organisation's latest event time (migration
        0900; at an equal time, a row with a partition first); organisations with none left
        out."""
        found = self.query_columns(
            "SELECT org_id, argMax((input_topic, input_partition), "
            "(latest_event, input_topic != '')) AS input "
            f"FROM {self.database}.org_progress GROUP BY org_id"
        )
        return {
            org: (str(topic), int(partition))
            for org, (topic, partition) in zip(found["org_id"], found["input"], strict=True)
            if topic
        }

    def recent_events(self, since: datetime, owns: state.OwnsOrg) -> list[RecentEvent]:
        return state.recent_events(self, since, owns)

    def known_event_ids(self, ids: Collection[UUID]) -> set[UUID]:
        return state.known_event_ids(self.lookup_dicts, self.database, ids)

    def responses(self, owns: state.OwnsOrg) -> list[ResponseRecord]:
        # Read whole at every restore (docs/worker.md): by column, the enum looked up once.
        # One row per response: migrations 0480 and 0700 copied in the due dates and owners
        # of responses stored before them as second rows (the one with a date or an owner
        # wins until a merge keeps it alone).
        found = self.query_columns(
            "SELECT org_id, alert_id, event_id, any(unit_id) AS unit_id, "
            "any(response) AS response, any(occurred_at) AS occurred_at, "
            f"max(due_by) AS due_by, max(owner) AS owner FROM {self.database}.response_ledger "
            "GROUP BY org_id, alert_id, event_id"
        )
        kinds = {kind.value: kind for kind in ResponseKind}
        return [
            ResponseRecord(
                _uuid(event_id).int,
                org,
                unit,
                alert,
                kinds.get(response) or ResponseKind(response),
                utc(at),
                None if due is None else utc(due),
                str(owner),
            )
            for org, alert, event_id, unit, response, at, due, owner in zip(
                found["org_id"],
                found["alert_id"],
                found["event_id"],
                found["unit_id"],
                found["response"],
                found["occurred_at"],
                found["due_by"],
                found["owner"],
                strict=True,
            )
            if owns(org)
        ]

    def revisions_of(self, refs: Collection[tuple[str, str]]) -> list[RevisionInForce]:
        """The revisions stored as in force of these (organisation, report_ref); the engine
        keeps the highest of each report."""
        rows = self.lookup_dicts(
            "SELECT DISTINCT org_id, report_ref, event_id, revision, unit_id, occurred_at, "
            f"harm, category FROM {self.database}.incident_revisions "
            "WHERE (org_id, report_ref) IN {refs:Array(Tuple(String, String))}",
            {"refs": sorted(refs)},
        )
        kind = WindowKind(self.window_kind)
        out = []
        for row in rows:
            at = utc(row["occurred_at"])
            revision = IncidentRevision(
                _uuid(row["event_id"]).int,
                int(row["revision"]),
                (row["org_id"], row["unit_id"]),
                window_of(at, kind),
                Harm(row["harm"]),
                IncidentCategory(row["category"]),
                at,
            )
            out.append(RevisionInForce(row["org_id"], row["report_ref"], revision))
        return out

    def judged_marks(self, owns: state.OwnsOrg) -> list[JudgedMark]:
        rows = self.query_dicts(
            f"SELECT org_id, mark, digest, judged_at FROM {self.database}.judgements FINAL "
            "WHERE window_kind = {kind:String}",
            {"kind": self.window_kind},
        )
        return [
            JudgedMark(
                row["org_id"],
                None if row["mark"] is None else utc(row["mark"]),
                row["digest"],
                utc(row["judged_at"]),
            )
            for row in rows
            if owns(row["org_id"])
        ]


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
