"""Python's cycle collector, set once the runtime is built (a composition root's choice).

Everything a process holds once it is built (the imported modules, the settings, the engine
restored from storage) lives as long as the process, and what a batch leaves alive (the
engine's state, the batch being stored) outlives many collections. `gc.freeze()` moves such
objects out of the collector's generations, so its collections stop walking them again and
again (they still go by reference counting as usual). Measured in docs/worker.md ("Eighth
session"): on a replay of the benchmark's file the collector took 1.8-2.1 s of CPU before,
0.6 s with this.
"""

from __future__ import annotations

import gc

from pipeline.runtime.retry import freeze_on_resume

FULL_COLLECTION_SECONDS = 60.0


def settle_collector() -> int:
    """Collect what start-up left behind, then freeze what is left (once the runtime is
    built), and from then on freeze what each batch leaves alive when the step's pauses
    of the collector end, with a full collection every minute instead
    (`pipeline.runtime.retry.freeze_on_resume`). Returns how many objects are frozen.
    Safe to call more than once."""
    gc.collect()
    gc.freeze()
    freeze_on_resume(FULL_COLLECTION_SECONDS)
    return gc.get_freeze_count()
