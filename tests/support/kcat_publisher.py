"""Publishing as a service with a librdkafka client would: kcat, keyed by `org_id`, through
librdkafka's default partitioner (consistent_random: CRC32 of the key), which places
organisations on other partitions than `pipeline publish` (murmur2) does. The worker must not
care (pipeline/core/partitioning.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence

from pipeline.core.partitioning import message_key


def publish_kcat(
    bootstrap: str,
    prefix: str,
    messages: Sequence[tuple[str, str, bytes]],
    partitions: int = 0,
    pause_every: int = 0,
    pause: float = 0.0,
) -> int:
    """Every message (bad ones too) with `kcat -P -K/`, in chunks of `pause_every` with a
    pause between them; within a chunk, each topic's messages keep their order."""
    chunk = pause_every or len(messages) or 1
    for start in range(0, len(messages), chunk):
        part = messages[start : start + chunk]
        by_topic: dict[str, list[bytes]] = {}
        for event_type, org, value in part:
            line = message_key(org) + b"/" + value + b"\n"
            by_topic.setdefault(f"{prefix}.{event_type}", []).append(line)
        running = [
            subprocess.Popen(
                ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K/", "-X", "acks=all"],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for topic in by_topic
        ]
        for process, lines in zip(running, by_topic.values(), strict=True):
            _, err = process.communicate(b"".join(lines), timeout=120)
            if process.returncode != 0:
                raise AssertionError(f"kcat failed: {err.decode(errors='replace')[-2000:]}")
        if pause_every and start + chunk < len(messages):
            time.sleep(pause)
    return len(messages)
