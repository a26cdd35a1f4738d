"""Files and directories the commands write: checked before the work, and written with a clear
error (exit status 1 and one line naming the path) instead of a traceback."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import InputError, UsageError


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


def refuse_overwriting_inputs(
    outputs: Mapping[str, Path | None], inputs: Iterable[str | Path]
) -> None:
    """Raise UsageError when an output (option -> path, None when not given) is one of the
    command's input files or another output's file: writing it would destroy what was read,
    after a run that otherwise succeeds. One file however it is named (a symlink, a relative
    path); `-` is standard input, no file."""
    given = [(option, path) for option, path in outputs.items() if path is not None]
    for index, (option, path) in enumerate(given):
        for source in inputs:
            if str(source) != "-" and _same_file(path, Path(source)):
                raise UsageError(
                    f"{option} {path} is also an input: writing it would destroy what is read"
                )
        for other, earlier in given[:index]:
            if _same_file(path, earlier):
                raise UsageError(f"{option} and {other} are one file ({path})")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


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
