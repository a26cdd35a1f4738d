"""`pipeline publish PATH...` (CONTRACT.md §3): validate JSON Lines, publish the good lines.

Every line is validated before it is sent. A bad line is reported by place, reason and field
only (never its text: free text may hold personal data) and is not sent. A key the contract
does not know could hold anything, a name too: it is shown by its place among the object's keys
and its length, never its text; an event id seen
earlier in the input is counted as a duplicate and not sent again. Exit status 0 when the input
was published, bad lines included; 1 when it could not be (unreadable file, broker down). A
publish that fails (or is interrupted) midway says how many events were sent, how many Kafka
acknowledged, and the line to resume from: every event before it was acknowledged.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from pipeline.adapters.jsonlines import read_lines
from pipeline.cli.arg_types import bounded_float
from pipeline.cli.outputs import check_output_file, refuse_overwriting_inputs, writing
from pipeline.core.bounds import EventBounds
from pipeline.core.decode import Rejection, decode, shown_field
from pipeline.errors import InputError, PipelineError
from pipeline.kafka_bootstrap import DEFAULT_CONNECT_SECONDS, KafkaBootstrap
from pipeline.progress import Progress

if TYPE_CHECKING:
    from pipeline.adapters.publisher import EventProducer

COULD_NOT_PUBLISH = 1


@dataclass(slots=True)
class PublishSummary:
    """What became of the input: `read = valid + rejected + duplicates` (non-blank lines)."""

    read: int = 0
    valid: int = 0
    rejected: int = 0
    duplicates: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    published_by_topic: Counter[str] = field(default_factory=Counter)

    @property
    def published(self) -> int:
        return sum(self.published_by_topic.values())

    def as_json(self) -> dict[str, object]:
        return {
            "read": self.read,
            "published": self.published,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "published_by_topic": dict(sorted(self.published_by_topic.items())),
            "valid": self.valid,
        }


@dataclass(frozen=True, slots=True)
class Place:
    """A line of the input: `path` as given (`-`: standard input), its number in that input."""

    path: str
    line: int


@dataclass(slots=True)
class Stopped:
    """What a publish that failed midway had sent and Kafka acknowledged, and where to resume."""

    sent: int = 0
    acknowledged: int = 0
    resume: Place | None = None
    later_inputs: list[str] = field(default_factory=list)

    def as_json(self, error: str) -> dict[str, object]:
        resume = (
            None if self.resume is None else {"path": self.resume.path, "line": self.resume.line}
        )
        return {
            "failed": error,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "not_acknowledged": self.sent - self.acknowledged,
            "resume_from": resume,
            "then": self.later_inputs,
        }


def _bootstrap(text: str) -> KafkaBootstrap:
    try:
        return KafkaBootstrap.parse(text)
    except ValueError as exc:  # argparse then names the option
        raise argparse.ArgumentTypeError(str(exc)) from None


_seconds = bounded_float(lambda v: 0 < v < math.inf, "a positive number of seconds")


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of lines (0 or more)")
    return int(text)


def add_publish_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `pipeline publish`."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="JSON Lines file, or - for stdin")
    parser.add_argument(
        "--bootstrap",
        type=_bootstrap,
        metavar="SERVERS",
        help="Kafka bootstrap servers (default: PIPELINE_KAFKA_BOOTSTRAP, else localhost:9092)",
    )
    parser.add_argument(
        "--summary-json", type=Path, metavar="FILE", help="write the summary here, as JSON"
    )
    parser.add_argument(
        "--check", action="store_true", help="validate only: report, publish nothing"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_CONNECT_SECONDS,
        metavar="SECONDS",
        help="give up when the broker cannot be reached within this time (default: %(default)s)",
    )
    parser.add_argument(
        "--max-reported",
        type=_count,
        default=100,
        metavar="N",
        help="report at most N bad lines one by one; the summary counts all (default: %(default)s)",
    )


def run_publish(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run `pipeline publish` with parsed `args`; returns the exit status."""
    # Here, not at the top: every command's parser is built on each run, and a replay or the
    # demo has no use for a Kafka client (kafka-python: 0.12 s of a process's CPU).
    from pipeline.adapters.publisher import EventProducer, KafkaTimeouts
    from pipeline.publishing import settings_from_environment

    # kafka-python's own warnings (e.g. a slow task "blocking the event loop") are for its
    # developers, not for the person publishing: ours say what went wrong.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    producer: EventProducer | None = None
    inputs: list[tuple[str, BinaryIO, int]] = []
    summary = PublishSummary()
    reading: list[Place] = []  # the line being read
    refuse_overwriting_inputs({"--summary-json": args.summary_json}, args.paths)
    try:
        if args.summary_json is not None:  # before anything is sent
            check_output_file(args.summary_json)
        for path in args.paths:
            inputs.append(_open(path))
        if not args.check:
            timeouts = KafkaTimeouts(connect_seconds=args.timeout)
            producer = EventProducer(settings_from_environment(), args.bootstrap, timeouts)
        # the same validation as the worker's, at this processing time
        bounds = settings_from_environment().time_horizon().at(datetime.now(UTC))
        _publish_lines(inputs, producer, summary, args.max_reported, stderr, bounds, reading)
        if producer is not None:
            producer.flush()
    except (PipelineError, KeyboardInterrupt) as exc:
        if isinstance(exc, PipelineError):
            print(f"pipeline publish: {exc}", file=stderr)
        if producer is not None and producer.sent:
            summary.published_by_topic = producer.acknowledged_by_topic()
            stopped = stopped_at(producer, reading, [name for name, _, _ in inputs])
            print(format_stopped(summary, stopped), file=stderr)
            if args.summary_json is not None:
                failure = {**summary.as_json(), **stopped.as_json(str(exc) or "interrupted")}
                args.summary_json.write_text(json.dumps(failure, indent=2) + "\n")
        if isinstance(exc, KeyboardInterrupt):
            raise
        return COULD_NOT_PUBLISH
    finally:
        for name, handle, _ in inputs:
            if name != "-":
                handle.close()
        if producer is not None:
            summary.published_by_topic = producer.acknowledged_by_topic()
            producer.close()
    print(format_summary(summary, checked_only=args.check), file=stdout)
    if args.summary_json is not None:
        with writing(args.summary_json):
            args.summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    return 0


def _publish_lines(
    inputs: list[tuple[str, BinaryIO, int]],
    producer: EventProducer | None,
    summary: PublishSummary,
    max_reported: int,
    stderr: TextIO,
    bounds: EventBounds,
    reading: list[Place],
) -> None:
    seen: set[int] = set()
    progress = Progress(stderr, sum(size for _, _, size in inputs) or None, "bytes")
    consumed = 0
    try:
        for name, handle, _ in inputs:
            for line in read_lines(handle):
                consumed += line.consumed
                number, raw = line.number, line.value
                reading[:] = [Place(name, number)]
                summary.read += 1
                outcome = decode(raw, bounds, size=line.size)
                if isinstance(outcome, Rejection):
                    summary.rejected += 1
                    summary.rejected_by_reason[outcome.reason.value] += 1
                    if summary.rejected <= max_reported:
                        where = f" at {shown_field(outcome)}" if outcome.field else ""
                        print(
                            f"{_label(name)}:{number}: {outcome.reason.value}{where}", file=stderr
                        )
                elif outcome.event_id.int in seen:
                    summary.duplicates += 1
                else:
                    seen.add(outcome.event_id.int)
                    summary.valid += 1
                    if producer is not None:
                        producer.send(outcome, raw, reading[0])
                progress.advance(consumed, summary.read)
    finally:
        progress.close()
    if summary.rejected > max_reported:
        print(f"... and {summary.rejected - max_reported:,} more bad lines", file=stderr)


def format_summary(summary: PublishSummary, *, checked_only: bool) -> str:
    """The summary for people, one fact per line."""
    outcome = "valid" if checked_only else "published"
    count = summary.valid if checked_only else summary.published
    lines = [
        f"read {summary.read:,} lines: {count:,} {outcome}, {summary.rejected:,} rejected, "
        f"{summary.duplicates:,} duplicates"
    ]
    lines += [f"  {topic}: {n:,}" for topic, n in sorted(summary.published_by_topic.items())]
    lines += [f"  rejected {r}: {n:,}" for r, n in sorted(summary.rejected_by_reason.items())]
    return "\n".join(lines)


def stopped_at(producer: EventProducer, reading: list[Place], paths: list[str]) -> Stopped:
    """Where a publish stopped: the line it was at, and the line to resume from (the earliest
    event Kafka did not acknowledge, else the line it was at, which was not sent)."""
    at = reading[0] if reading else None
    first = producer.first_unacknowledged()
    resume = first if isinstance(first, Place) else at
    later = paths[paths.index(resume.path) + 1 :] if resume is not None else list(paths)
    return Stopped(producer.sent, producer.delivered, resume, later)


def format_stopped(summary: PublishSummary, stopped: Stopped) -> str:
    """What a publish that stopped midway had done, and where to resume, for people."""
    lines = [
        f"stopped after reading {summary.read:,} lines: {stopped.sent:,} events sent, "
        f"{stopped.acknowledged:,} acknowledged by Kafka, "
        f"{stopped.sent - stopped.acknowledged:,} sent but not acknowledged (perhaps stored: "
        f"the pipeline counts any that come again as duplicates), {summary.rejected:,} "
        f"rejected, {summary.duplicates:,} duplicates"
    ]
    resume = stopped.resume
    if resume is None:
        return lines[0]
    where = f"{_label(resume.path)} line {resume.line:,}"
    lines.append(f"resume from {where}: every event before it was acknowledged")
    if resume.path != "-":
        lines.append(f"  tail -n +{resume.line} {shlex.quote(resume.path)} | pipeline publish -")
    if stopped.later_inputs:
        lines.append(f"  then: pipeline publish {shlex.join(stopped.later_inputs)}")
    return "\n".join(lines)


def _open(path: str) -> tuple[str, BinaryIO, int]:
    if path == "-":
        return path, sys.stdin.buffer, 0
    try:
        return path, Path(path).open("rb"), Path(path).stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _label(name: str) -> str:
    return "<stdin>" if name == "-" else name
