"""Events that reached the worker on the wrong Kafka key or topic: counted and told, and
processed like any other (docs/worker.md, "Misrouted events").

An event is keyed by its `org_id` (contract v1.1; the v1 key `org_id/unit_id` is still read)
on its own event type's topic. One that is not was still valid and is stored and counted once,
but a publisher that keys or routes wrongly can split an organisation across workers, so the
operator has to hear of it: `pipeline_events_misrouted_total{reason}` counts each, and a
warning at most once per interval says how many since the last one and where one of each kind
lies (`topic/partition@offset`), never a key, an organisation or anything of the event itself.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from pipeline.core.stored import StoredEvent
from pipeline.kafka_origin import input_partition

log = logging.getLogger("pipeline.worker")

KEY_MISSING = "key_missing"
KEY_NOT_ORG_ID = "key_not_org_id"
OTHER_TOPIC = "other_topic"
ORGANISATION_SPLIT = "organisation_split"
REASONS = (KEY_MISSING, KEY_NOT_ORG_ID, OTHER_TOPIC, ORGANISATION_SPLIT)
WARN_EVERY_SECONDS = 60.0


class MisroutedEvents:
    """Checks each stored batch's accepted events against the records they came in."""

    def __init__(
        self,
        topic_of: Mapping[type, str],
        count: Callable[[str, int], None],
        *,
        every: float = WARN_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`topic_of`: each event model's input topic; `count(reason, n)`: the metric."""
        self._prefix_of = {model: f"{topic}/" for model, topic in topic_of.items()}
        self._count = count
        self._every = every
        self._clock = clock
        self._next_warning = float("-inf")
        self._unreported: Counter[str] = Counter()
        self._example: dict[str, str] = {}
        # The partition each organisation's events of a topic first came in on (one entry per
        # organisation and topic this worker has seen).
        self._partition_of: dict[tuple[str, str], int] = {}
        # Every reason's series from the start, at 0: Prometheus sees no increase in a series
        # that first appears already counted, so a one-off burst would never fire the rule.
        for reason in REASONS:
            count(reason, 0)

    def check(
        self, key_at: Mapping[str, bytes | None], accepted: Sequence[StoredEvent]
    ) -> Counter[str]:
        """Count the events of `accepted` that came in misrouted (`key_at`: the Kafka key of
        each of the batch's records by its origin, `topic/partition@offset`); returns the
        counts by reason. A rejected message or a duplicate is not an accepted event and is
        not counted."""
        found: Counter[str] = Counter()
        prefix_of = self._prefix_of
        for stored in accepted:
            origin = stored.origin
            event = stored.event
            if origin in key_at:
                key = key_at[origin]
                reason = None
                if not key:
                    reason = KEY_MISSING
                elif key != (org := event.org_id.encode()) and not key.startswith(org + b"/"):
                    reason = KEY_NOT_ORG_ID
                if reason is not None:
                    found[reason] += 1
                    self._example.setdefault(reason, origin)
            prefix = prefix_of.get(type(event))
            if prefix is not None and not origin.startswith(prefix):
                found[OTHER_TOPIC] += 1
                self._example.setdefault(OTHER_TOPIC, origin)
            if self._split(event.org_id, origin):
                found[ORGANISATION_SPLIT] += 1
                self._example.setdefault(ORGANISATION_SPLIT, origin)
        if found:
            for reason, n in found.items():
                self._count(reason, n)
            self._unreported.update(found)
            self._warn()
        return found

    def _split(self, org_id: str, origin: str) -> bool:
        """Whether this event came in on another partition of its topic than its
        organisation's first one here: its publisher's key or partitioner splits the
        organisation (the v1 key `org_id/unit_id` under a partitioner other than murmur2 of
        `org_id`, as kcat's is), whatever the key looks like."""
        where = input_partition(origin)
        if where is None:
            return False
        topic, partition = where
        first = self._partition_of.setdefault((topic, org_id), partition)
        return first != partition

    def tell(self) -> None:
        """Warn of what was counted and not told yet, if the interval allows (the worker's
        housekeeping calls it, so the last misrouted events are told even if none follow)."""
        if self._unreported:
            self._warn()

    def _warn(self) -> None:
        now = self._clock()
        if now < self._next_warning:
            return
        told = ", ".join(
            f"{self._unreported[r]} {r} (e.g. {self._example[r]})"
            for r in REASONS
            if self._unreported[r]
        )
        log.warning(
            "misrouted events since the last such warning: %s. Each was processed as usual "
            "(stored and counted once); the publisher should key every event by its org_id on "
            "its event type's topic, or an organisation may be split across workers "
            "(pipeline_events_misrouted_total; docs/worker.md)",
            told,
        )
        self._unreported.clear()
        self._example.clear()
        self._next_warning = now + self._every
