"""A helper process that must not outlive the refresh that started it.

The refresh starts two (the dbt server, orchestration/dbt_warm.py; the GX worker,
orchestration/gate/worker.py). Killed with SIGKILL, the refresh runs no cleanup: a dbt left
behind would hold the warehouse's file lock, a GX worker its memory. Both children call
`die_with_parent` first thing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

_POLL_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """End this process (SIGKILL) as soon as `parent_pid` is no longer its parent. On Linux the
    kernel does it (PR_SET_PDEATHSIG, also while the process is busy in C code); elsewhere a
    daemon thread polls the parent. Either way: a parent that died before this call ends it now."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            armed = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent ended before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="lifeline").start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_POLL_S)
    os._exit(1)
