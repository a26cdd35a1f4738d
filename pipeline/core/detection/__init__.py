"""Detection: what the closed windows of a unit, or of an organisation, show now.

`Detector` (detector.py) is the face; the parts are `measures` (what each window shows),
`measure_trace` (what a monitor made of it), `predictive` and `stats` (the statistics),
`episodes`, `unit` and `org` (the episodes of a unit, of an organisation's units), `peers` (a
unit against the rest of its organisation), `text` (the words of a finding) and `bright`
(bright spots: better than baseline and peers, never alerts). docs/detection.md has the
method and its measured quality.
"""

from pipeline.core.detection.base import DetectionConfig, Finding
from pipeline.core.detection.bright import BrightSpot, org_bright_spots
from pipeline.core.detection.detector import DEFAULT_CONFIG, Detector

__all__ = [
    "DEFAULT_CONFIG",
    "BrightSpot",
    "DetectionConfig",
    "Detector",
    "Finding",
    "org_bright_spots",
]
