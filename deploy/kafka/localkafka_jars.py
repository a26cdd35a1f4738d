"""The local broker's jars: fetched once from Maven Central by ``mvn`` (pom.xml beside this
file) into ``<repo>/.cache/kafka/libs``, reused while the pom is unchanged. Standard library
only; used by localkafka.py, which re-exports what is public here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
CACHE_DIR = HERE.parents[1] / ".cache" / "kafka"
MVN_ARGS = "-B -q dependency:copy-dependencies -DincludeScope=runtime"


class KafkaError(RuntimeError):
    """The broker could not be fetched, started or reached; the message says why."""


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _cached_libs(cache_dir: Path) -> Path | None:
    """The libs directory if its stamp matches the pom's hash and every jar is there."""
    libs, stamp = cache_dir / "libs", cache_dir / "libs.stamp"
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if recorded.get("pom_sha256") != digest or not recorded.get("jars"):
        return None
    return libs if all((libs / jar).is_file() for jar in recorded["jars"]) else None


def missing_tools(cache_dir: Path = CACHE_DIR) -> list[str]:
    """Name the programs needed to start a broker that are not installed (java; mvn unless
    the jar cache is already complete). An empty list means :func:`start` can run."""
    missing = [] if _java() else ["java"]
    if _cached_libs(cache_dir) is None and shutil.which("mvn") is None:
        missing.append("mvn")
    return missing


def fetch_jars(cache_dir: Path = CACHE_DIR) -> Path:
    """Return ``cache_dir/libs`` holding the broker's runtime jars, running mvn (offline first,
    then online) only when the cache is missing, incomplete or made from another pom.
    Safe to call from several processes at once. Raises KafkaError if mvn fails."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "libs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (libs := _cached_libs(cache_dir)) is not None:
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaError("mvn is not installed: it is needed once to fetch the Kafka jars")
        tmp = Path(tempfile.mkdtemp(prefix="libs.", dir=cache_dir))
        cmd = [mvn, "-f", str(POM), f"-DoutputDirectory={tmp}", *MVN_ARGS.split()]
        for attempt in ([*cmd, "-o"], cmd):
            done = subprocess.run(attempt, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                break
        else:
            shutil.rmtree(tmp)
            raise KafkaError(f"mvn failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        libs = cache_dir / "libs"
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        stamp = {
            "pom_sha256": hashlib.sha256(POM.read_bytes()).hexdigest(),
            "jars": sorted(p.name for p in libs.glob("*.jar")),
        }
        (cache_dir / "libs.stamp").write_text(json.dumps(stamp, indent=1) + "\n")
        return libs
