"""One root error type, with a typed subclass for each way the pipeline can fail on purpose."""


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose."""


class InputError(PipelineError):
    """Input that cannot be used as given (a file, a CSV column, an argument)."""


class UsageError(InputError):
    """Options that make no sense together or out of range: the command exits 2, like argparse."""


class ConfigError(PipelineError):
    """Settings that are missing or inconsistent (an environment variable, a DSN)."""


class SinkError(PipelineError):
    """ClickHouse refused or failed a write or a query."""


class SinkUnavailable(SinkError):
    """ClickHouse could not be reached; the write may be retried unchanged."""


class SinkRejected(SinkError):
    """ClickHouse refused the rows themselves (a deterministic error: retrying the same bytes
    fails the same way). The step dead-letters the rows at fault and stores the rest."""


class StateRefused(SinkError):
    """ClickHouse refused, for good, a write of the pipeline's own rows (unit windows, the
    ledger, progress, rejections, alert versions, verdicts, judgement marks, deliveries):
    retrying cannot store them, and going on without them would lose state. The runtime stops
    (exit status 1) with the batch unacknowledged. The message names the write, the table and
    ClickHouse's reason (never a row's values)."""


class TransportError(PipelineError):
    """Kafka could not be reached or refused a message."""


class AlertRoutingError(PipelineError):
    """Alertmanager refused or could not be reached."""


class EventRejected(InputError):
    """An event that is not valid under the contract, so it was not published.

    `reason` is a `pipeline.core.decode.RejectReason` value, `field` the field path at fault
    (empty when the fault is not one field's) as it may be logged: a key the contract does not
    know is given by its place and length (`pipeline.core.decode.shown_field`), never its text.
    """

    def __init__(self, reason: str, field: str, detail: str) -> None:
        where = f" at {field}" if field else ""
        super().__init__(f"event rejected ({reason}{where}): {detail}")
        self.reason = reason
        self.field = field
        self.detail = detail


class LayoutError(InputError):
    """A published file whose columns are not a layout the importer knows; the message names
    the columns each known layout needs."""
