"""Checkpoint files: written whole and renamed, checksummed, and never loaded when torn.

One module for every checkpoint the worker keeps (the scorer's versions, the fraud screen,
the recommender), so each gets the same guarantees:
- `write_atomically(path, blob)`: a temporary file beside the target, fsynced, then
  renamed over it; a crash leaves the old file or the new one, never half of one.
- Each file starts with `MAGIC` and the SHA-256 of the payload; `read_checked(path)`
  refuses a file whose checksum does not match (`CheckpointError`). Files written before
  checksums (a bare pickle) are still read.
- `CheckpointFile` is one named checkpoint; `VersionedCheckpoints` keeps the newest
  `keep` numbered versions and a pointer file naming the current one (written last).
- A write that fails (disk full, read-only or vanished state dir) leaves no temporary
  file, raises `CheckpointWriteError` with a sentence saying what to fix, and is
  remembered until that checkpoint is written again: `failing()` feeds the worker's
  `/readyz`. The previous good checkpoint stays the one that loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from streams.checkpoint import CheckpointError

log = logging.getLogger(__name__)

MAGIC = b"AIQCKPT1"
_DIGEST = 32
T = TypeVar("T")


def frame(blob: bytes) -> bytes:
    return MAGIC + hashlib.sha256(blob).digest() + blob


def unframe(data: bytes, where: str = "checkpoint") -> bytes:
    """The payload of a framed checkpoint (a legacy unframed one as it is)."""
    if not data.startswith(MAGIC):
        return data
    digest, blob = data[len(MAGIC):len(MAGIC) + _DIGEST], data[len(MAGIC) + _DIGEST:]
    if hashlib.sha256(blob).digest() != digest:
        raise CheckpointError(f"{where}: checksum mismatch (torn or corrupt file)")
    return blob


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written; the last good one is still in place."""


# Checkpoints whose last write failed: their name → the error. Read by /readyz.
_failing: dict[str, str] = {}


def failing() -> dict[str, str]:
    """The checkpoints whose most recent write failed, with the reason."""
    return dict(_failing)


def write_atomically(path: Path, blob: bytes, *, checksum: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            f.write(frame(blob) if checksum else blob)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise CheckpointWriteError(
            f"cannot write checkpoint {path}: {exc.strerror or exc} (errno {exc.errno}); "
            f"the last good checkpoint stays in use. Free space in, or restore write access "
            f"to, {path.parent}") from exc


@contextlib.contextmanager
def _tracked(name: str) -> Iterator[None]:
    try:
        yield
    except CheckpointWriteError as exc:
        _failing[name] = str(exc)
        raise
    _failing.pop(name, None)


def read_checked(path: Path) -> bytes:
    return unframe(path.read_bytes(), str(path))


@dataclass(frozen=True)
class CheckpointFile:
    """One checkpoint, ``{directory}/{name}.pkl``."""

    path: Path

    @classmethod
    def in_dir(cls, directory: Path, name: str) -> CheckpointFile:
        return cls(directory / f"{name}.pkl")

    def save(self, blob: bytes) -> None:
        with _tracked(str(self.path)):
            write_atomically(self.path, blob)

    def load(self, loads: Callable[[bytes], T]) -> T | None:
        """The restored object; None when there is none or it cannot be read (logged)."""
        if not self.path.exists():
            return None
        try:
            return loads(read_checked(self.path))
        except Exception:
            log.exception("checkpoint %s unreadable; starting cold", self.path)
            return None


@dataclass(frozen=True)
class VersionedCheckpoints:
    """``{prefix}{name}-{seq:08d}.pkl`` versions and ``{prefix}{name}.current``, in one dir."""

    directory: Path
    name: str
    prefix: str = ""
    keep: int = 5

    @property
    def pointer(self) -> Path:
        return self.directory / f"{self.prefix}{self.name}.current"

    def versions(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        pattern = re.compile(rf"^{re.escape(self.prefix + self.name)}-(\d+)\.pkl$")
        found = []
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                match = pattern.match(path.name)
                if match:
                    found.append((int(match[1]), path))
        return [path for _, path in sorted(found)]

    def current(self) -> Path | None:
        try:
            name = self.pointer.read_text().strip()
        except OSError:
            return None
        path = self.directory / name
        return path if name and path.exists() else None

    def save(self, blob: bytes) -> Path:
        versions = self.versions()
        last = int(versions[-1].stem.rsplit("-", 1)[1]) if versions else 0
        path = self.directory / f"{self.prefix}{self.name}-{last + 1:08d}.pkl"
        with _tracked(str(self.pointer)):
            try:
                write_atomically(path, blob)
            except CheckpointWriteError:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
                raise
            write_atomically(self.pointer, path.name.encode(), checksum=False)
        for old in [*versions, path][: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def load(self, loads: Callable[[bytes], T]) -> tuple[T, Path] | None:
        """The current version, else the newest one that reads; None when none does."""
        current = self.current()
        candidates = [current] if current else []
        candidates += [p for p in reversed(self.versions()) if p != current]
        for path in candidates:
            try:
                return loads(read_checked(path)), path
            except Exception:
                log.exception("checkpoint %s unreadable; trying an older one", path)
        return None

    def describe(self) -> dict[str, object]:
        current = self.current()
        return {"current": current.name if current else None,
                "versions": [p.name for p in self.versions()]}
