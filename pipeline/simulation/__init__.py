"""Synthetic trusts with ground truth, and detection scored against that truth.

`simulate_trust(SimulationConfig(...))` builds a trust (`trust.py`, from the parts `units`,
`targets`, `plan`, `oracle` and `events`).

`family`, `family_plan`, `family_events`: an independent evaluation family written from its own
specification, used only for scoring. `score`: alerts of any simulated trust made as
`pipeline replay` makes them (through the engine), scored against its truth.
"""

from pipeline.simulation.trust import (
    SimulatedTrust,
    SimulationConfig,
    TruthEpisode,
    simulate_trust,
)

__all__ = ["SimulatedTrust", "SimulationConfig", "TruthEpisode", "simulate_trust"]
