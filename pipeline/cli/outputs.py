"""Files and directories the commands write: checked before the work, and written with a clear
error (exit status 1 and one line naming the path) instead of a traceback."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import InputError


def check_output_file(path: Path) -> Path:
    """Create `path`'s directory and check that a file can be written there; raise InputError
    naming the path and the reason otherwise. Commands call it before their work, so that a long
    run's result is not lost to a bad path at its end."""
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _probe(path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {path}: permission denied")
    return path


def make_output_directory(path: Path) -> Path:
    """Create the directory `path` (and its parents); raise InputError naming it if that fails
    (a file of that name, a read-only file system)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
    except OSError as exc:
        raise InputError(f"cannot write in the directory {path}: {exc.strerror or exc}") from exc
    return path


def _probe(directory: Path) -> None:
    # Creating a file is the only sure test: permissions say nothing of a read-only mount
    # seen by root, or of a directory such as /proc that refuses new files.
    with tempfile.TemporaryFile(dir=directory):
        pass


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError raised while writing `path` (a full disk, say) into an InputError naming
    it."""
    try:
        yield
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
