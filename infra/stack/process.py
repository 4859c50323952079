"""Detached service processes: spawn into their own session, pid files, readiness waits, stop.

A pid file is trusted only while its process is alive and its command line still contains the
service's marker (a config path or binary name), so a recycled pid is never signalled.
Linux only: liveness and command lines are read from /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from infra.stack.service import ServiceStartError

logger = logging.getLogger(__name__)

LOG_ROTATE_BYTES = 20 * 1024 * 1024

# Children spawned by this interpreter. Holding the Popen objects keeps them from being
# garbage-collected while the service runs (Popen.__del__ warns about a running child) and lets
# is_alive() reap a child that exited, instead of mistaking the zombie for a live service.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start `argv` in its own session, output appended to `log_file`; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    _rotate(log_file)
    with log_file.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n=== {stamp} aiqleads starting: {shlex.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    pid_file.write_text(f"{proc.pid}\n")
    logger.debug("spawned pid %d: %s", proc.pid, shlex.join(argv))
    return proc.pid


def is_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid recorded in `pid_file` if that process still runs our service, else None.

    A stale pid file (dead process, or a recycled pid running something else) is removed.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        pid_file.unlink(missing_ok=True)
        return None
    if is_alive(pid) and marker in command_line(pid):
        return pid
    logger.debug("removing stale pid file %s (pid %d)", pid_file, pid)
    pid_file.unlink(missing_ok=True)
    return None


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    pid: int | None = None,
    log_file: Path | None = None,
    interval: float = 0.25,
) -> None:
    """Poll `ready` until it is true; fail early if `pid` exits, late after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if pid is not None and not is_alive(pid):
            raise ServiceStartError(
                f"{what} exited during startup{_see_log(log_file)}{log_tail(log_file)}"
            )
        if time.monotonic() > deadline:
            raise ServiceStartError(
                f"{what} did not become ready within {timeout:.0f}s"
                f"{_see_log(log_file)}{log_tail(log_file)}"
            )
        time.sleep(interval)


def stop(pid_file: Path, marker: str, *, what: str, timeout: float) -> bool:
    """SIGTERM the service recorded in `pid_file`, SIGKILL it after `timeout`; True if it ran."""
    pid = running_pid(pid_file, marker)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    logger.info("stopping %s (pid %d)", what, pid)
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_alive(pid):
        logger.warning("%s (pid %d) ignored SIGTERM for %.0fs; killing it", what, pid, timeout)
        _signal(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 5
        while is_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    _CHILDREN.pop(pid, None)
    pid_file.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file`: one `up` or `down` per state dir at a time."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(log_file: Path | None, lines: int = 40) -> str:
    """The last `lines` lines of `log_file`, formatted to append to an error message."""
    if log_file is None or not log_file.exists():
        return ""
    with log_file.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode(errors="replace")
    tail = "\n".join(text.splitlines()[-lines:])
    return f"\n--- last lines of {log_file} ---\n{tail}"


def _see_log(log_file: Path | None) -> str:
    return f" (log: {log_file})" if log_file is not None else ""


def _signal(pid: int, signum: signal.Signals) -> None:
    # Services run in their own session, so their process group is theirs alone: signal the
    # group to take any helper processes down with them.
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _rotate(log_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if log_file.stat().st_size > LOG_ROTATE_BYTES:
            log_file.replace(log_file.with_name(log_file.name + ".1"))
