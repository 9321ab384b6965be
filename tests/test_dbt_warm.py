"""dbt started ahead (orchestration/dbt_warm.py): the call through `imon-dbt` and a waiting server
is the plain dbt call (output, exit code), a server serves once, and it dies with its refresh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

DBT_DIR = REPO / "dbt_project"
CLIENT = Path(sys.executable).with_name("imon-dbt")
PLAIN = Path(sys.executable).with_name("dbt")

# A parent that starts a server the way `imon refresh` does, says where, and waits.
PARENT = """
import os, sys, time
sys.path.insert(0, {repo!r})
from orchestration import dbt_warm
print(dbt_warm.start({state!r}), flush=True)
time.sleep(600)
"""


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ, IMON_INTERNAL_DB=str(tmp_path / "internal.duckdb"), DBT_PROFILES_DIR=str(DBT_DIR),
             DBT_LOG_FORMAT="json", DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "target"))
    e.pop("IMON_DBT_WARM_SOCKET", None)
    return e


def _server_pid(sock: str) -> int | None:
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if sock.encode() in (p / "cmdline").read_bytes():
                    return int(p.name)
            except OSError:
                pass
    return None


def _start_parent(tmp_path, env):
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(repo=str(REPO), state=str(tmp_path))],
                              stdout=subprocess.PIPE, text=True, env=env)
    sock = parent.stdout.readline().strip()
    assert sock, "no server started"
    return parent, sock


def _messages(stdout: str) -> list[str]:
    """dbt's JSON log lines without what differs between two runs (time, ids, pid)."""
    out = []
    for line in stdout.splitlines():
        ev = json.loads(line)
        out.append(f"{ev['info']['name']}:{ev['info']['msg']}" if ev["info"]["name"] != "MainReportVersion"
                   else "version")
    return [m for m in out if not m.startswith(("UnableToPartialParse", "PartialParsing"))]


def _call(exe, args, env, **extra):
    return subprocess.run([str(exe), *args], cwd=DBT_DIR, env={**env, **extra}, capture_output=True, text=True,
                          timeout=300)


def test_a_call_through_the_server_is_the_plain_dbt_call(tmp_path, env):
    assert CLIENT.exists(), "imon-dbt is installed by `pip install -e .` (pyproject.toml [project.scripts])"
    parent, sock = _start_parent(tmp_path, env)
    try:
        server = None
        for _ in range(200):  # bound before its imports: there at once
            server = _server_pid(sock)
            if server and Path(sock).exists():
                break
            time.sleep(0.05)
        assert server, "server process not found"
        ok_args = ["ls", "--resource-type", "model", "--output", "name"]
        bad_args = ["run-operation", "no_such_macro_anywhere"]
        warm = _call(CLIENT, ok_args, env, IMON_DBT_WARM_SOCKET=sock)
        assert warm.returncode == 0, warm.stdout[-2000:] + warm.stderr[-2000:]
        assert any(f'"pid": {server}' in line for line in warm.stdout.splitlines()), "dbt did not run in the server"
        assert warm.stderr == ""
        # served once: the socket is gone, the server exits
        assert not Path(sock).exists()
        for _ in range(100):
            if _server_pid(sock) is None:
                break
            time.sleep(0.05)
        assert _server_pid(sock) is None
        plain = _call(PLAIN, ok_args, env)
        assert plain.returncode == 0
        assert _messages(warm.stdout) == _messages(plain.stdout)
        assert "\"msg\": \"indicator_values\"" in warm.stdout
        # a later call finds no server and is plain dbt, with dbt's exit code
        again = _call(CLIENT, bad_args, env, IMON_DBT_WARM_SOCKET=sock)
        plain_bad = _call(PLAIN, bad_args, env)
        assert plain_bad.returncode != 0 and again.returncode == plain_bad.returncode
        assert f'"pid": {server}' not in again.stdout
    finally:
        parent.kill()
        parent.wait()


def test_a_failing_call_through_the_server_keeps_dbts_exit_code(tmp_path, env):
    parent, sock = _start_parent(tmp_path, env)
    try:
        args = ["run-operation", "no_such_macro_anywhere"]
        warm = _call(CLIENT, args, env, IMON_DBT_WARM_SOCKET=sock)
        plain = _call(PLAIN, args, env)
        assert plain.returncode != 0
        assert warm.returncode == plain.returncode, warm.stdout[-2000:]
        assert "no_such_macro_anywhere" in warm.stdout
    finally:
        parent.kill()
        parent.wait()


def test_the_server_dies_with_its_refresh(tmp_path, env):
    """SIGKILL of the process that started it (a killed refresh): the server goes too, so no dbt is
    left holding the warehouse."""
    parent, sock = _start_parent(tmp_path, env)
    server = None
    for _ in range(200):
        server = _server_pid(sock)
        if server:
            break
        time.sleep(0.05)
    assert server
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    for _ in range(100):
        if not Path(f"/proc/{server}").exists() or b") Z" in Path(f"/proc/{server}/stat").read_bytes():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{server}").exists() or b") Z" in Path(f"/proc/{server}/stat").read_bytes()


def test_a_server_without_a_call_is_stopped_with_its_refresh(tmp_path, env, monkeypatch):
    """A refresh the gate blocks never calls dbt: run_refresh stops the waiting server at its end,
    so a process that runs refreshes itself (not only `imon refresh`, which exits) keeps none."""
    from orchestration import dbt_warm

    monkeypatch.delenv(dbt_warm.ENV_SOCKET, raising=False)
    sock = dbt_warm.start(tmp_path)
    assert sock and os.environ[dbt_warm.ENV_SOCKET] == sock
    deadline = time.monotonic() + 30
    while _server_pid(sock) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = _server_pid(sock)
    assert pid is not None, "server not running"
    dbt_warm.stop()
    assert _server_pid(sock) is None and not Path(f"/proc/{pid}").exists()
    assert dbt_warm.ENV_SOCKET not in os.environ and not Path(sock).exists()
    dbt_warm.stop()  # nothing left to stop: no error


# What the Dagster definitions hold: assets with their upstream keys, asset checks, jobs.
GRAPH = """
import json, sys
sys.path.insert(0, {repo!r})
if {with_dbt_core!r}:
    import dbt.version  # as a process that had imported dbt-core before (a test, the re-stamp)
from orchestration.definitions import defs
graph = defs.resolve_asset_graph()
print(json.dumps({{
    "dbt_core_imported": any(m == "dbt" or m.startswith("dbt.") for m in sys.modules),
    "assets": sorted([k.to_user_string(), sorted(p.to_user_string() for p in graph.get(k).parent_keys)]
                     for k in graph.get_all_asset_keys()),
    "checks": sorted(c.to_user_string() for c in graph.asset_check_keys),
    "jobs": sorted(j.name for j in defs.resolve_all_job_defs()),
}}))
"""


def test_definitions_load_without_dbt_core_and_hold_the_same_graph():
    """A refresh process and the UI's code server do not import dbt-core (orchestration/defs/
    __init__.py): dagster-dbt then reads the manifest itself. Its lineage, checks and jobs are
    the ones dagster-dbt builds with dbt-core."""
    def graph(with_dbt_core: bool) -> dict:
        out = subprocess.run([sys.executable, "-c", GRAPH.format(repo=str(REPO), with_dbt_core=with_dbt_core)],
                             capture_output=True, text=True, timeout=300, cwd=REPO)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    without, with_core = graph(False), graph(True)
    assert without["dbt_core_imported"] is False and with_core["dbt_core_imported"] is True
    assert len(without["checks"]) > 90 and any(a[0].startswith("marts/") for a in without["assets"])
    for part in ("assets", "checks", "jobs"):
        assert without[part] == with_core[part], part
