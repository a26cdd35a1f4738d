"""The faust floor of the worker benchmark: a faust app shaped like the worker (one agent on the
same topics, `noack_take` batches, ack and commit per batch) that does nothing with the
messages. `python -m bench.faust_floor BOOTSTRAP PREFIX EXPECTED BATCH WITHIN PARTITIONS` runs
it in a process of its own and prints `elapsed SECONDS`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.core.events import EventType

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 6


def faust_floor(bootstrap: str, prefix: str, expected: int, args: argparse.Namespace) -> float:
    """Seconds for a faust app shaped like the worker (one agent on the same topics,
    `noack_take` batches, ack and commit per batch) that does nothing with the messages."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.faust_floor",
            bootstrap,
            prefix,
            str(expected),
            str(args.batch_max),
            str(args.within),
            str(PARTITIONS),
        ],
        cwd=REPO,
        capture_output=True,
        timeout=args.timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"faust floor failed: {done.stderr.decode()[-3000:]}")
    found = re.search(r"elapsed ([0-9.]+)", done.stdout.decode())  # faust's spinner may precede it
    if found is None:
        raise RuntimeError(f"faust floor printed no time: {done.stdout.decode()[-500:]!r}")
    return float(found.group(1))


def _faust_floor_main(
    bootstrap: str, prefix: str, expected: int, batch: int, within: float, partitions: int
) -> int:
    import faust

    datadir = tempfile.mkdtemp(prefix="bench-faust-")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = faust.App(
        f"{prefix}-faust-floor",
        broker=f"kafka://{bootstrap}",
        loop=loop,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        datadir=datadir,
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=max(4096, 2 * batch),
    )
    topic = app.topic(*(f"{prefix}.{t}" for t in EventType), partitions=partitions)
    state: dict[str, float] = {"seen": 0}

    async def count(stream: Any) -> None:
        async for events in stream.noack_take(batch, within=within):
            state.setdefault("first", time.perf_counter())
            for event in events:
                _ = len(event.message.value or b"")
                await stream.ack(event)
            await app.consumer.commit()
            state["seen"] += len(events)
            if state["seen"] >= expected and "done" not in state:
                state["done"] = time.perf_counter()
                print(f"elapsed {state['done'] - state['first']}", flush=True)
                os.kill(os.getpid(), signal.SIGTERM)

    app.agent(topic, name="floor", concurrency=1)(count)
    worker = faust.Worker(app, loop=loop, quiet=True, redirect_stdouts=False, loglevel="WARNING")
    with contextlib.suppress(SystemExit):
        worker.execute_from_commandline()
    shutil.rmtree(datadir, ignore_errors=True)
    return 0 if "done" in state else 1


def main(argv: list[str] | None = None) -> int:
    bootstrap, prefix, expected, batch, within, partitions = (
        sys.argv[1:] if argv is None else argv
    )[:6]
    return _faust_floor_main(
        bootstrap, prefix, int(expected), int(batch), float(within), int(partitions)
    )


if __name__ == "__main__":
    sys.exit(main())
