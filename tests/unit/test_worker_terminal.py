"""faust's worker as the pipeline runs it writes no terminal escape codes: its output is
often a log file (found by the outside check: `ESC[?25h` once per worker start)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from pipeline.runtime.worker_app import FaustWorker, faust_app
from pipeline.settings import Settings


def test_startup_finishing_writes_no_escape_code(tmp_path: Path) -> None:
    out = io.StringIO()  # not a terminal

    async def start() -> None:
        app = faust_app(Settings(), asyncio.get_running_loop(), tmp_path, ["quality.t"])
        worker = FaustWorker(
            lambda then: then(),
            app,
            loop=asyncio.get_running_loop(),
            stdout=out,
            stderr=out,
            quiet=True,
            redirect_stdouts=False,
            override_logging=False,
        )
        await worker.on_startup_finished()

    asyncio.run(start())
    assert "\x1b" not in out.getvalue()
