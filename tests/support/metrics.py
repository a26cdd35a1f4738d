"""The metric names the issue asked the worker for; dashboards and alert rules stand on them."""

REQUIRED_METRICS = frozenset(
    {
        "pipeline_messages_consumed_total",
        "pipeline_events_accepted_total",
        "pipeline_events_rejected_total",
        "pipeline_events_duplicate_total",
        "pipeline_events_late_total",
        "pipeline_alerts_total",
        "pipeline_batch_size",
        "pipeline_sink_latency_seconds",
        "pipeline_sink_retries_total",
        "pipeline_sink_up",
        "pipeline_open_windows",
        "pipeline_consumer_lag",
        "pipeline_last_batch_timestamp_seconds",
        "pipeline_alert_routing_failures_total",
        "pipeline_judging_failures_total",
    }
)
