"""The worker's sink on embedded ClickHouse: the delivery outbox and the injected outage.

chDB allows one database directory per process, so the checks run in a subprocess of their own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from pipeline.core.alerts import AlertStatus
    from pipeline.core.engine import BatchResult
    from pipeline.errors import SinkUnavailable
    from tests.support.alerts import alert
    from tests.support.faults import outage_sink

    folder = Path(sys.argv[1])
    outage = folder / "down"
    sink = outage_sink(outage)(f"chdb://{folder / 'ch'}", "outbox", "week")
    assert "0003_alert_deliveries" in sink.migrate()
    t0 = datetime(2024, 5, 6, 9, tzinfo=UTC)
    first, later = alert(detected_at=t0), alert(AlertStatus.RESOLVED, t0 + timedelta(days=7))
    other = alert(alert_id="tar-0002", detected_at=t0 + timedelta(hours=1))
    sink.write(BatchResult(alerts=[first, other]), t0, "a")
    sink.write(BatchResult(alerts=[later]), t0, "b")

    pending = sink.undelivered("kafka")
    assert [(a.alert_id, a.detected_at) for a in pending] == [
        ("tar-0001", t0), ("tar-0002", t0 + timedelta(hours=1)), ("tar-0001", later.detected_at)
    ], pending
    assert pending[0] == first, "read back with aware timestamps, equal to what was written"
    sink.mark_delivered([("tar-0001", t0), ("tar-0002", other.detected_at)], "kafka")
    sink.mark_delivered([("tar-0001", t0)], "kafka")  # idempotent
    assert [a.detected_at for a in sink.undelivered("kafka")] == [later.detected_at]
    assert sink.delivered_versions("kafka") == {
        ("tar-0001", t0), ("tar-0002", other.detected_at)
    }
    assert sink.undelivered("alertmanager") != [], "routes are tracked apart"
    assert sink.first_detected() == {"tar-0001": t0, "tar-0002": other.detected_at}
    latest = {a.alert_id: a for a in sink.latest_alerts()}
    assert latest["tar-0001"] == later and latest["tar-0001"].detected_at.tzinfo is not None
    assert latest["tar-0001"].same_finding(later)

    outage.touch()
    try:
        sink.write(BatchResult(alerts=[alert(detected_at=t0 + timedelta(days=9))]), t0, "c")
    except SinkUnavailable as exc:
        assert "injected" in str(exc)
    else:
        raise AssertionError("the injected outage did not fail the write")
    outage.unlink()
    assert len(sink.undelivered("kafka")) == 1, "nothing written during the outage"
    sink.close()
    print("ok")
    """
)


def test_outbox_and_injected_outage_on_embedded_clickhouse(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().endswith("ok")
