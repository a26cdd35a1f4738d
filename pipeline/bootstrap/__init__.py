"""Composition roots: the only code that turns settings into engines, sinks, routes and runtimes.

`embedded` builds the embedded runner (replay, demo, report, stats, migrate); `worker` builds the
Kafka worker. The commands (`pipeline.cli`) call them; `pipeline.runtime`, the adapters and the
core never import them.
"""
