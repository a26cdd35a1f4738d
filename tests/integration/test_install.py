"""A plain (non-editable) install carries its migrations: `pip install --target` finds them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import load_migrations

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_a_target_install_finds_every_migration(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "pipeline", source / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(source)],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    probe = (
        "from pipeline.adapters.clickhouse import load_migrations, migrations_folder\n"
        "print(migrations_folder())\n"
        "print(','.join(m.name for m in load_migrations()))\n"
    )
    # The installed copy only: the dependencies from this environment, not the checkout.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *sys.path[1:]])}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    folder, names = done.stdout.splitlines()

    assert Path(folder).is_relative_to(target)
    assert names.split(",") == [m.name for m in load_migrations()]
