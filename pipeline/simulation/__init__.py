"""Synthetic trusts with ground truth, for the demo and for measuring detection.

`family`, `family_plan`, `family_events`: an independent evaluation family (its own
specification; scoring only). `replay_score`: findings of any simulated trust as `pipeline
replay` makes them, through the engine.
"""
