"""The Kafka broker's jars, resolved once by Maven from `infra/deploy/kafka/pom.xml` and cached.

The cache lives in `$XDG_CACHE_HOME/aiqleads` (default `~/.cache/aiqleads`) under a directory
named after the pom's hash, shared by every checkout and state dir; Maven's own downloads stay in
`~/.m2`. `python -m infra.stack` resolves them ahead of time (`make deps` does).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from infra.stack.service import MissingPrerequisiteError, StackError

logger = logging.getLogger(__name__)

KAFKA_CONFIG_DIR = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
POM = KAFKA_CONFIG_DIR / "pom.xml"
_COMPLETE = ".complete"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiqleads"


def kafka_libs_dir() -> Path:
    """The classpath directory for the current pom (it may not be resolved yet)."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    return cache_root() / f"kafka-{digest}" / "libs"


def kafka_jars_ready() -> bool:
    return (kafka_libs_dir().parent / _COMPLETE).exists()


def ensure_kafka_jars() -> Path:
    """Return the directory of broker jars, running Maven first if they are not cached yet."""
    libs = kafka_libs_dir()
    home = libs.parent
    if (home / _COMPLETE).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingPrerequisiteError(
            "Maven (mvn) is needed once to fetch the Kafka broker jars: "
            "`apt-get install maven`, or run `make deps`"
        )
    staging = home.with_name(f"{home.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("resolving the Kafka broker jars with Maven into %s (first run only)", home)
    began = time.monotonic()
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging / 'libs'}",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not any((staging / "libs").glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise StackError(f"Maven could not resolve the Kafka jars from {POM}:\n{output}")
    (staging / _COMPLETE).write_text(f"{POM}\n")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    logger.info("Kafka jars ready in %.1fs", time.monotonic() - began)
    return libs
