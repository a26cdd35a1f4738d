"""Detection: what the closed windows of a unit, or of an organisation, show now.

`Detector` (detector.py) is the face; the parts are `measures` (what each window shows),
`predictive` and `stats` (the statistics), `unit` and `org` (the episodes of a unit, of an
organisation's units), `peers` (a unit against the rest of its organisation) and `text` (the
words of a finding). docs/detection.md has the method and its measured quality.
"""

from pipeline.core.detection.base import DetectionConfig, Finding
from pipeline.core.detection.detector import DEFAULT_CONFIG, Detector

__all__ = ["DEFAULT_CONFIG", "DetectionConfig", "Detector", "Finding"]
