"""Catch a hospital unit hitting the target but missing the point.

`pipeline.core` is pure (events, windows, statistics, detection); `pipeline.adapters` and
`pipeline.runtime` wrap it for Kafka, ClickHouse, Alertmanager and Prometheus; `pipeline.wiring`
builds them; `pipeline.cli` is the command line on top.
"""

__version__ = "0.1.0"
