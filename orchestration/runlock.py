"""One refresh at a time: the OS lock on state/refresh.lock, and the dbt a killed refresh left behind.

Below the Dagster definitions and the refresh runner: both take the lock (the CLI before Dagster
starts, the job's resource for runs the schedule or sensor launch).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

from orchestration.causes import PipelineStop
from orchestration.settings import Settings


class LockTimeout(PipelineStop):
    """Another refresh holds the lock longer than we wait; the message names its PID."""


_HELD: set[str] = set()  # lock files this process holds (the CLI takes it, then the job's resource)


@contextmanager
def refresh_lock(settings: Settings, timeout_s: float | None = None):
    """An flock on state/refresh.lock: the kernel drops it with the process, so a refresh killed
    with SIGKILL never leaves a stale lock for the next night. A second refresh waits up to
    `timeout_s` (IMON_LOCK_TIMEOUT, default 30 min) and then stops with a clear message.
    Re-entrant within one process: `imon refresh` takes it before starting Dagster (a waiting or
    refused refresh never creates a failed run), the job's resource takes it again for runs the
    schedule or sensor launch."""
    timeout_s = settings.lock_timeout_s if timeout_s is None else timeout_s
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.state_dir / "refresh.lock"
    if str(path) in _HELD:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"Eine andere Aktualisierung läuft noch (PID {holder or '?'}); nach {timeout_s:.0f} s "
                        "Wartezeit abgebrochen. Nichts wurde verändert."
                    ) from None
                if not announced:
                    print(f"Eine andere Aktualisierung läuft (PID {holder or '?'}), warte bis zu {timeout_s:.0f} s …",
                          flush=True)
                    announced = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD.add(str(path))
        reap_orphans(settings)
        yield
    finally:
        _HELD.discard(str(path))
        os.close(fd)  # closing the descriptor releases the flock


def dbt_pid_file(settings: Settings) -> Path:
    return settings.state_dir / "dbt.pid"


def reap_orphans(settings: Settings) -> None:
    """A refresh killed while dbt runs leaves dbt running on its own, holding the internal
    warehouse. We hold the lock now, so any dbt recorded there is an orphan: stop it."""
    pid_file = dbt_pid_file(settings)
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        if "dbt" in cmdline:
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)
    except (ValueError, FileNotFoundError, ProcessLookupError):
        pass
    pid_file.unlink(missing_ok=True)
