"""Publishing as the data team meets it: real `imon refresh` runs on a clone of the refreshed state.

- Every publish target catches up (warehouse.md): a failed PostgreSQL publish (a real closed
  port) exits 1 with one German cause line; the next refresh that reaches the real server
  publishes the current set there although no new file arrived, and so does the first refresh
  after IMON_POSTGRES_DSN is set on an existing installation.
- A data dir whose path holds a quote is just a path (no SQL built from it breaks).
- A second process holding the published file open read-write is named, with what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import CLOSED_PORT_DSN, NEXT_MONTH, env_for, imon

psycopg = pytest.importorskip("psycopg")
ADMIN_DSN = os.environ.get("IMON_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def deliver(files, landing: Path) -> None:
    from sources.contracts import identify

    for f in files:
        dest = landing / identify(f)[0].provider / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)


def published_set(data: Path) -> tuple[str, int]:
    con = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    try:
        rid = con.execute("SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1").fetchone()[0]
        n = con.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
        return rid, n
    finally:
        con.close()


def last_line(proc) -> str:
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def pg_db():
    from psycopg.conninfo import make_conninfo

    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL reachable at {ADMIN_DSN}: {exc}")
    name = f"imon_publish_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(ADMIN_DSN, dbname=name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def pg_rows(dsn: str) -> int | None:
    with psycopg.connect(dsn) as c:
        if not c.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'monitoring'").fetchone():
            return None
        return c.execute("SELECT count(*) FROM monitoring.indicator_values").fetchone()[0]


def test_failed_postgres_publish_exits_1_and_the_next_refresh_catches_up(pg_refused_refresh, pg_db, tmp_path):
    # 1. PostgreSQL unreachable (a real closed port): DuckDB is published, the refresh exits 1.
    #    The run (a new Jobcenter month, --full) is shared with test_operator_output and
    #    test_bi_recipes (tests/conftest.py); this test goes on with a copy of what it left.
    r = pg_refused_refresh
    proc = r["proc"]
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = last_line(proc)
    assert "PostgreSQL" in line and "Verbindung abgelehnt" in line, proc.stdout[-3000:]
    assert "geheim123" not in proc.stdout + proc.stderr
    assert not r["inbox_file_left"]  # DuckDB has it
    assert r["after"]["refresh_log_rows"] == r["before"]["refresh_log_rows"] + 1
    assert NEXT_MONTH in r["after"]["periods"] and NEXT_MONTH not in r["before"]["periods"]
    data, landing = tmp_path / "data", tmp_path / "landing"
    shutil.copytree(r["data"], data, ignore=shutil.ignore_patterns("*.lock"))
    landing.mkdir()
    env = env_for(data, landing)
    status = imon("status", env={**env, "IMON_POSTGRES_DSN": pg_db}, check_rc=0).stdout
    assert "PostgreSQL: hält den veröffentlichten Stand noch nicht" in status
    rid, n_rows = published_set(data)
    assert (rid, n_rows) == (r["after"]["refresh_id"], r["after"]["indicator_rows"])

    # 2. The right DSN, no new file: not "Nichts Neues", PostgreSQL gets the current set.
    good = {**env, "IMON_POSTGRES_DSN": pg_db}
    proc = imon("refresh", env=good, check_rc=0)
    assert "Nichts Neues" not in proc.stdout, proc.stdout[-2000:]
    assert pg_rows(pg_db) == n_rows
    assert published_set(data)[0] == rid  # the DuckDB set was identical: not republished

    # 3. Caught up: the next refresh is a no-op again.
    proc = imon("refresh", env=good, check_rc=0)
    assert "Nichts Neues" in last_line(proc)
    assert "PostgreSQL" not in imon("status", env=good, check_rc=0).stdout

    # 4. A wrong DSN again (no new file): the target changed, so it is tried, and fails clearly.
    proc = imon("refresh", env={**env, "IMON_POSTGRES_DSN": CLOSED_PORT_DSN}, check_rc=1)
    assert "Verbindung abgelehnt" in last_line(proc)


def test_postgres_dsn_set_on_an_existing_installation_publishes_there(clone_state, pg_db):
    data, landing, env = clone_state()
    imon("refresh", env=env, check_rc=0)  # no DSN: nothing to do
    proc = imon("refresh", env={**env, "IMON_POSTGRES_DSN": pg_db}, check_rc=0)
    assert "Nichts Neues" not in proc.stdout
    assert pg_rows(pg_db) == published_set(data)[1]


def test_data_dir_with_a_quote(clone_state, next_month_files, tmp_path):
    data0, _, _ = clone_state()
    root = tmp_path / "Daten 'Integration' O'Brien"
    data, landing = root / "data", root / "landing"
    shutil.move(str(data0), data)
    landing.mkdir(parents=True)
    env = env_for(data, landing)
    deliver([next_month_files["jobcenter"]], landing)
    proc = imon("refresh", env=env, check_rc=0)
    assert "VERÖFFENTLICHT" in last_line(proc)
    proc = imon("refresh", "--full", env=env, check_rc=0)
    assert "VERÖFFENTLICHT" in last_line(proc)
    con = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM indicator_values WHERE period = ?", [NEXT_MONTH]).fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM refresh_log").fetchone()[0] == 3
    finally:
        con.close()
    assert (data / "reports" / "index.html").exists()


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write, as a careless notebook would
print("bereit", flush=True)
time.sleep(600)
"""


def test_published_file_held_read_write_by_another_process(clone_state, next_month_files):
    data, landing, env = clone_state()
    deliver([next_month_files["jobcenter"]], landing)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data / "published" / "monitoring.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "bereit"
        proc = imon("refresh", env=env, check_rc=1)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out, out[-3000:]
        line = last_line(proc)
        assert f"Prozess {holder.pid}" in line and "read_only=True" in line, line
        status = imon("status", env=env, check_rc=1)
        assert "Traceback" not in status.stdout + status.stderr and f"Prozess {holder.pid}" in last_line(status)
        assert (landing / "jobcenter" / next_month_files["jobcenter"].name).exists()
    finally:
        holder.kill()
        holder.wait()
    proc = imon("refresh", env=env, check_rc=0)
    assert "VERÖFFENTLICHT" in last_line(proc)
