"""Catch a hospital unit hitting the target but missing the point.

`pipeline.core` is pure (events, windows, statistics, detection); `pipeline.adapters` and
`pipeline.runtime` wrap it for Kafka, ClickHouse, Alertmanager and Prometheus;
`pipeline.bootstrap` builds them; `pipeline.cli` is the command line on top;
`pipeline.simulation` makes synthetic trusts with ground truth.
"""

__version__ = "0.1.0"
