"""A Kafka record's origin: made by the worker's consumer, read back by the stores.

Every message the step takes carries an `origin` (`RawMessage.origin`), stored with what it
became. A record fetched from Kafka gets `topic/partition@offset` (`kafka_origin`, in
`runtime/consumer_batches.py`); a line of a file gets `path:line`. `input_partition` reads the
(topic, partition) back from an origin made here, for what a store records per organisation
(`org_progress`, docs/worker.md): the core only ever sees the typed `InputPartition`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.core.engine_state import InputPartition

kafka_origin: Callable[[str, int, int], str] = "{}/{}@{}".format
"""`topic/partition@offset`, the origin of a Kafka record (a C call: one per message)."""

_KAFKA_ORIGIN = re.compile(r"([A-Za-z0-9._-]{1,249})/([0-9]{1,10})@[0-9]+")
"""What `kafka_origin` makes (a Kafka topic name is at most 249 of these characters)."""


def input_partition(origin: str) -> InputPartition | None:
    """The Kafka topic and partition of an origin `kafka_origin` made; None for any other
    origin (a file's `path:line`)."""
    found = _KAFKA_ORIGIN.fullmatch(origin)
    return None if found is None else (found.group(1), int(found.group(2)))
