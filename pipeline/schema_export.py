"""The published contracts, generated from the models: JSON Schemas and the AsyncAPI document.

The pydantic models in `pipeline.core.events` (and `pipeline.core.alerts`) are the single
source. This module writes `schemas/events/<event_type>.schema.json`, the union
`schemas/events/event.schema.json` (`pipeline.json_schemas`) and `schemas/asyncapi.yaml`
(`pipeline.asyncapi`). Regenerate with `python -m pipeline.schema_export`; a unit test fails
when the files in the repository drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.asyncapi import asyncapi_document, to_yaml
from pipeline.json_schemas import event_json_schemas
from pipeline.settings import Settings

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"


def write_schemas(directory: Path = SCHEMAS_DIR, settings: Settings | None = None) -> list[Path]:
    """Write the JSON Schemas under `directory/events/` and `directory/asyncapi.yaml`.

    Without `settings` the document describes the defaults (never the environment), so the
    files in the repository do not depend on who generated them.
    """
    (directory / "events").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, schema in event_json_schemas().items():
        path = directory / "events" / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    document = asyncapi_document(settings or Settings.model_construct())
    path = directory / "asyncapi.yaml"
    path.write_text(to_yaml(document), encoding="utf-8")
    written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMAS_DIR):
        print(written_path)
