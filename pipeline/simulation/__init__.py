"""Synthetic trusts with ground truth, and detection scored against that truth.

`simulate_trust(SimulationConfig(...))` builds a trust (`trust.py`, from the parts `units`,
`targets`, `plan`, `oracle` and `events`); `score` judges it and scores the findings.
"""

from pipeline.simulation.trust import (
    SimulatedTrust,
    SimulationConfig,
    TruthEpisode,
    simulate_trust,
)

__all__ = ["SimulatedTrust", "SimulationConfig", "TruthEpisode", "simulate_trust"]
