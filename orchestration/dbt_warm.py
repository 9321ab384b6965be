"""dbt, imported ahead: a refresh starts the dbt process before it needs it.

A `dbt build` process spends ~2 s importing dbt-core and the DuckDB adapter before it reads a
file (issue 20). The refresh process does its own start-up, gate and load on one core
meanwhile, so `start()` launches a server process at the beginning of a refresh that imports
dbt on the other core and then waits on a unix socket. dagster-dbt runs `imon-dbt` (the client
below) instead of `dbt`: the client hands its arguments, environment and working directory to
the waiting server, which runs them exactly as the `dbt` command would (`dbt.cli.main.cli`),
with the client's stdout and stderr; the client relays both and exits with dbt's exit code.
One server serves one dbt call; any later call, or a call without a server (schedule, sensor,
`dagster dev`), finds no socket and the client becomes the plain `dbt` (exec).

The server dies with the refresh process (orchestration/lifeline.py): a killed refresh leaves no dbt
holding the warehouse. Signals the client receives (dagster-dbt's SIGINT on cancel) are passed
on to the server.

The client runs on every dbt call: stdlib imports only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading

ENV_SOCKET = "IMON_DBT_WARM_SOCKET"
_EXIT_MARK = b"\0imon-dbt-exit "
_server = None  # the server process this refresh started (start/stop)


# --- the refresh's side ----------------------------------------------------------------------


def start(state_dir) -> str | None:
    """Launch the server for the next dbt call of this process; returns the socket path (also
    exported in ENV_SOCKET for the dbt subprocess dagster-dbt starts) or None where it cannot run."""
    import subprocess
    from pathlib import Path

    if not sys.platform.startswith("linux"):
        return None  # tried and tested on Linux only: elsewhere dbt starts as before
    path = Path(state_dir) / f"dbt-warm-{os.getpid()}.sock"
    if len(str(path).encode()) > 100:  # unix socket paths are limited to ~107 bytes
        return None
    path.unlink(missing_ok=True)
    # Its own output goes nowhere: a server that fails to start is simply not used (the
    # client then runs dbt itself); during a call dbt writes to the client's stdout and stderr.
    global _server
    _server = subprocess.Popen([sys.executable, "-m", "orchestration.dbt_warm", "serve", str(path), str(os.getpid())],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               close_fds=True)
    os.environ[ENV_SOCKET] = str(path)
    return str(path)


def stop() -> None:
    """At the end of a refresh: a server that got no call (the gate blocked, nothing to build)
    would wait until this process ends, which for `imon refresh` is now, but not for a caller
    that runs refreshes in its own process (tests). One that served has exited already."""
    global _server
    path = os.environ.pop(ENV_SOCKET, None)
    server, _server = _server, None
    if server is not None and server.poll() is None:
        server.kill()
        server.wait()
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def client_path() -> str | None:
    """The `imon-dbt` executable next to this Python (installed by pip from pyproject.toml)."""
    from pathlib import Path

    p = Path(sys.executable).with_name("imon-dbt")
    return str(p) if p.exists() else None


# --- the server --------------------------------------------------------------------------------


def serve(path: str, parent: int) -> None:
    from orchestration.lifeline import die_with_parent

    die_with_parent(parent)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)  # bound before the imports: a client that comes early waits instead of missing us
    srv.listen(2)
    # The imports run on a thread of low priority (Linux: niceness is per thread): on two cores
    # they share the CPU with this refresh's own start-up and its GX worker, whose work comes
    # first (the gate needs GX seconds before dbt is called). dbt itself runs on the main thread
    # at normal priority, as do the threads it starts.
    importer = threading.Thread(target=_import_dbt, name="imon-dbt-import")
    importer.start()
    try:
        out, _ = srv.accept()
        err, _ = srv.accept()
        importer.join()
    finally:
        os.unlink(path)  # one call per server: a later client runs dbt itself
        srv.close()
    from dbt.cli.main import cli

    # multiprocessing's resource tracker (dbt's thread pool starts it) outlives os._exit below and
    # warns about the pool's semaphores: started now, it writes to our /dev/null, not to dbt's stderr.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    request = json.loads(_read_line(out))
    out.sendall(f"{os.getpid()}\n".encode())
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.argv = ["dbt", *request["args"]]
    try:
        cli.main(args=request["args"], prog_name="dbt")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - as the dbt command would: trace on stderr, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, _EXIT_MARK + str(code).encode() + b"\n")
    os._exit(0)


def _import_dbt() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only
    except (AttributeError, OSError):
        pass
    import dbt.adapters.duckdb  # noqa: F401  (the adapter plugin dbt loads for the profile)
    import dbt.task.build  # noqa: F401
    from dbt.cli.main import cli  # noqa: F401

    # The Python model (int_indicator_suppression) imports pandas when it runs: ~0.8 s of the
    # dbt step at district scale (py-spy), paid here while the refresh ingests.
    import numpy  # noqa: F401
    import pandas  # noqa: F401


def _read_line(conn: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed before its request")
        buf += chunk
    return buf


# --- the client (`imon-dbt`) ---------------------------------------------------------------------


def client() -> int:
    args = sys.argv[1:]
    path = os.environ.pop(ENV_SOCKET, None)
    conns = _connect(path) if path else None
    if conns is None:
        _exec_dbt(args)
    out, err = conns
    out.sendall(json.dumps({"args": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode() + b"\n")
    pid_line = b""
    while not pid_line.endswith(b"\n"):
        chunk = out.recv(64)
        if not chunk:
            return 1  # the server died before running dbt (e.g. its refresh was killed)
        pid_line += chunk
    server = int(pid_line)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: _forward(server, s))
    code = _relay(out, err)
    _wait_gone(server)
    return code


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    """dbt's exit code comes just before the server exits; the caller may open the warehouse
    next, so return only once the server's files (the DuckDB lock) are closed: the process is
    gone or a zombie (the refresh process, its parent, reaps it)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return
        if state in (b"Z", b"X"):
            return
        time.sleep(0.005)


def _connect(path: str):
    conns = []
    try:
        for _ in range(2):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            conns.append(c)
        return conns
    except OSError:  # no server (gone, used, never started): plain dbt
        for c in conns:
            c.close()
        return None


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _relay(out: socket.socket, err: socket.socket) -> int:
    """Copy the server's stdout and stderr to ours until both end; the exit code is the last
    line on stdout (held back until the end, so it never reaches dagster-dbt)."""
    import select

    open_ = {out.fileno(): (out, 1), err.fileno(): (err, 2)}
    tail = b""
    while open_:
        ready, _, _ = select.select(list(open_), [], [])
        for fd in ready:
            conn, dest = open_[fd]
            data = conn.recv(65536)
            if not data:
                del open_[fd]
                continue
            if dest == 1:
                data = tail + data
                keep = len(_EXIT_MARK) + 8
                data, tail = data[:-keep], data[-keep:]
            _write_all(dest, data)
    mark = tail.rfind(_EXIT_MARK)
    if mark < 0:
        _write_all(1, tail)
        return 1  # the server ended without dbt's exit code (killed): a failed dbt call
    _write_all(1, tail[:mark])
    return int(tail[mark + len(_EXIT_MARK):].strip() or 1)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _exec_dbt(args: list[str]) -> None:
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    os.execv(dbt, [dbt, *args])


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(client())
