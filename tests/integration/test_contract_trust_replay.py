"""`pipeline replay` on a trust written from the contract alone (tests/support/contract_trust.py,
not pipeline/simulation): the unit that keeps its target while its patients' ratings worsen is
found soon after the change, with the figures a ward manager needs; units that miss their
target with steady experience, and steady units, raise nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.contract_trust import DECOYS, SIGNAL, write_contract_trust

pytestmark = pytest.mark.slow
FOUND_WITHIN = timedelta(weeks=6)  # the window whose closing showed it, after the change


def replay(events: Path, root: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    alerts, summary = root / "alerts.jsonl", root / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "replay", str(events),
         "--clickhouse", f"chdb://{root / 'clickhouse'}",
         "--alerts-out", str(alerts), "--summary-json", str(summary)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = alerts.read_text().splitlines()
    return json.loads(summary.read_text()), [json.loads(line) for line in lines]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("seed", [3, 9])
def test_hitting_the_target_while_ratings_worsen_is_found_and_decoys_are_not(
    tmp_path: Path, seed: int
) -> None:
    events = tmp_path / "events.jsonl"
    trust = write_contract_trust(events, seed=seed)
    summary, alerts = replay(events, tmp_path)
    assert summary["read"] == summary["accepted"] == trust.events, "valid by the contract"

    assert not [a for a in alerts if a["unit_id"] in trust.steady], "steady units raise nothing"
    found = [
        a for a in alerts
        if a["unit_id"] == SIGNAL and a["kind"] == "target_experience_divergence"
    ]  # fmt: skip
    assert found, f"{SIGNAL} not found: {alerts}"
    first = min(found, key=lambda a: at(a["evidence"]["episode"]["detected_in_window"]))
    episode = first["evidence"]["episode"]
    assert at(episode["first_window"]) >= trust.change_at, "nothing before the change"
    assert at(episode["detected_in_window"]) < trust.change_at + FOUND_WITHIN

    # What a ward manager is shown: the target met, with its figures, and the ratings against
    # the unit's own usual level, in a sentence naming the unit and the target.
    evidence = first["evidence"]
    assert evidence["targets"]["all_met"] is True
    (target,) = evidence["targets"]["metrics"]
    assert target["metric"] == "ae_4h" and target["attainment"] >= target["target"] == 0.95
    flagged = [w for w in evidence["measures"]["negative_share"]["windows"] if w.get("rule")]
    assert flagged and all(w["value"] > w["centre"] and w["size"] >= 30 for w in flagged)
    assert max(w["value"] / w["centre"] for w in flagged) > 2, "three times as many rate it poor"
    assert SIGNAL in first["summary"] and "ae_4h" in first["summary"]
    assert DECOYS[0] not in first["summary"]
