"""The GX validation worker: one process that imports Great Expectations and runs the suites.

Importing GX and building its context takes ~2.5 s of one core. `imon refresh` starts the worker
right after it has the lock, when files of at most one ingest batch wait to be gated (refresh.py
says why not for more); the import then runs on the second core while the refresh process
imports Dagster and creates the run. The chunks go to the worker
(gx.run_suite), the findings and the data-docs summaries are made from its plain-data answer in
the refresh process as before (validate.py), so they are the same bytes. Runs the schedule or
the sensor start have no worker: they validate in their own process, as everything does when
no worker was started.

- A new interpreter (fork + exec, like multiprocessing's "spawn"), not a fork: a forked child would
  inherit the refresh lock's descriptor (runlock.py) and keep the lock after a SIGKILL of the
  refresh. It gets one pipe, no other descriptor, and does not run the caller's main script.
- It ends with the gate: `stop_validation_worker()` when the dbt step starts (its memory would
  add to dbt's peak) or the refresh ends; a refresh that dies (SIGKILL) closes its end of the
  pipe, and the worker dies with it even while GX is busy (orchestration/lifeline.py).
- A worker that fails to start or dies is not waited for: that chunk and the rest are validated
  in the refresh process (same results, a warning in the log); an error that GX itself raises is
  raised in the refresh process as it would have been there.
- Memory: the rows go one file at a time (no second copy of a whole chunk in the refresh
  process); the worker drops its copy once it has concatenated them, and gives a chunk's
  memory back to the OS before waiting for the next.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from orchestration.gate.gx import SuiteRun, run_suite
from orchestration.lifeline import die_with_parent

if TYPE_CHECKING:
    import pyarrow as pa

    from sources.contracts import Contract

log = logging.getLogger(__name__)


class WorkerGone(Exception):
    """The worker failed to start or died; the cause in German, one line."""


class Worker:
    def __init__(self, quiet: bool = True):
        import subprocess
        import sys
        from multiprocessing import Pipe

        self._conn, child = Pipe()
        # A fresh interpreter that imports only this module (multiprocessing's "spawn" would also
        # run the parent's main script again); close_fds: it gets the pipe and nothing else.
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from orchestration.gate.worker import _main; _main()",
             str(child.fileno()), str(os.getpid()), "quiet" if quiet else "verbose"],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        child.close()  # the worker holds the only other end: its death is EOF here, ours is EOF there

    def run(self, contract: Contract, parts: list[tuple[str, pa.Table]]) -> SuiteRun:
        """gx.run_suite in the worker. WorkerGone when it cannot answer."""
        try:
            self._conn.send((contract, len(parts)))
            for part in parts:  # one file at a time: only one file's pickled copy here at once
                self._conn.send(part)
            kind, value = self._conn.recv()
        except (EOFError, OSError) as e:
            raise WorkerGone(self._failed_start() or f"GX-Prüfprozess {self.process.pid} antwortet nicht mehr "
                                                     f"({_exit_text(self.process)})") from e
        if kind == "ok":
            return value
        if kind == "failed":
            raise WorkerGone(f"GX-Prüfprozess {self.process.pid} konnte nicht starten: {value}")
        raise value  # what GX raised there (e.g. a broken expectation), as in-process

    def _failed_start(self) -> str | None:
        """Why the worker could not start, if it said so before it ended."""
        try:
            if self._conn.poll():
                kind, value = self._conn.recv()
                if kind == "failed":
                    return f"GX-Prüfprozess {self.process.pid} konnte nicht starten: {value}"
        except (EOFError, OSError):
            pass
        return None

    def stop(self) -> None:
        import subprocess

        self._conn.close()  # the worker reads EOF and ends
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # busy with a chunk nobody waits for any more
            self.process.kill()
            self.process.wait()


def _exit_text(process) -> str:
    import subprocess

    try:
        code = process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        return "läuft noch"
    return f"Signal {-code}" if code < 0 else f"Exit-Code {code}"


_worker: Worker | None = None


def start_validation_worker(quiet: bool = True) -> None:
    """Start the worker of this process (if none runs); GX is imported there from now on."""
    global _worker
    if _worker is None:
        try:
            _worker = Worker(quiet)
        except Exception as e:  # e.g. no processes left: validate in this process instead
            log.warning("GX-Prüfprozess nicht gestartet (%s); die Prüfung läuft im Aktualisierungsprozess.", e)


def stop_validation_worker() -> None:
    global _worker
    if _worker is not None:
        w, _worker = _worker, None
        w.stop()


def current() -> Worker | None:
    return _worker


def run_in_worker(contract: Contract, parts: list[tuple[str, pa.Table]]) -> SuiteRun | None:
    """The worker's SuiteRun; None when there is no (working) worker: the caller validates itself."""
    global _worker
    if _worker is None:
        return None
    try:
        return _worker.run(contract, parts)
    except WorkerGone as e:
        log.warning("%s; die Prüfung läuft im Aktualisierungsprozess weiter.", e)
        w, _worker = _worker, None
        w.stop()
        return None


# --------------------------------------------------------------------------- in the worker


def _main() -> None:
    import sys
    from multiprocessing.connection import Connection

    fd, parent_pid, mode = sys.argv[1:4]
    _serve(Connection(int(fd)), int(parent_pid), quiet=mode == "quiet")
    # The refresh waits for our exit before dbt starts (memory): an interpreter shutdown with GX
    # loaded takes ~1 s of finalisers that free what the OS frees anyway.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve(conn, parent_pid: int, quiet: bool) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the refresh's to handle; it stops us
    die_with_parent(parent_pid)
    if quiet:
        import warnings

        warnings.filterwarnings("ignore")  # as in the refresh process (refresh.py)
    from orchestration.gate.gx import _gx

    try:
        _gx()
    except BaseException as e:  # noqa: BLE001 (reported to the refresh, which validates itself)
        conn.send(("failed", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            contract, n = conn.recv()
            parts = [conn.recv() for _ in range(n)]
        except EOFError:  # the refresh is done (or gone)
            return
        try:
            answer = ("ok", run_suite(contract, parts))
        except Exception as e:  # noqa: BLE001 (raised again in the refresh process)
            answer = ("error", e if _pickles(e) else RuntimeError(str(e)))
        del parts
        try:
            conn.send(answer)
        except OSError:  # the refresh is gone
            return
        del answer
        _release_memory()


def _pickles(obj) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:  # noqa: BLE001
        return False


def _release_memory() -> None:
    """Give the chunk's frame back to the OS: while the worker waits, the refresh parses the next
    batch, and the two processes' memory adds up (measured at district scale: the worker kept
    ~250 MB of a chunk's pandas and GX leftovers in glibc's heap without malloc_trim)."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its heap stays as it is
        pass
