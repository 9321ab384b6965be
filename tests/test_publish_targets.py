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
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import CLOSED_PORT_DSN, NEXT_MONTH, env_for, imon
from sources import catalogue

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


def report_pages(data: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (data / "reports").glob("*.html")}


def stated_stand(page: bytes) -> str:
    """The data stand a report page states in its footer."""
    return re.search(r'<p class="stand">[^<]*?Datenstand (\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr)',
                     page.decode("utf-8")).group(1)


def test_data_dir_with_a_quote_and_a_month_of_jobcenter_only(clone_state, next_month_files, tmp_path):
    """A data folder with quotes in its path; on it (so that no other refresh is paid for it),
    issue 20's report: a month of one file type renders only the pages that depend on it."""
    data0, _, _ = clone_state()
    root = tmp_path / "Daten 'Integration' O'Brien"
    data, landing = root / "data", root / "landing"
    shutil.move(str(data0), data)  # a rename: the report's files keep their modification times
    landing.mkdir(parents=True)
    env = env_for(data, landing)
    before = report_pages(data)
    deliver([next_month_files["jobcenter"]], landing)
    proc = imon("refresh", env=env, check_rc=0)
    assert "VERÖFFENTLICHT" in last_line(proc)
    month = report_pages(data)
    proc = imon("refresh", "--full", env=env, check_rc=0)
    assert "VERÖFFENTLICHT" in last_line(proc)
    full = report_pages(data)
    con = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM indicator_values WHERE period = ?", [NEXT_MONTH]).fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM refresh_log").fetchone()[0] == 3
        published = [t.strftime("%d.%m.%Y, %H:%M Uhr") for (t,) in con.execute(
            "SELECT published_at FROM refresh_log ORDER BY published_at").fetchall()]
    finally:
        con.close()
    assert (data / "reports" / "index.html").exists()

    # The month: the pages of the indicators computed from jobcenter files, of their fields and
    # the overview are made anew and show the month; every other page is the very same file.
    jobcenter = [i for i in catalogue.load().indicators if "jobcenter" in i.sources]
    dependent = {f"indikator-{i.id.lower()}.html" for i in jobcenter} | {f"{i.field}.html" for i in jobcenter}
    assert jobcenter and month.keys() == before.keys()
    assert {n for n in month if month[n] != before[n]} == dependent | {"index.html"}
    for name in dependent | {"index.html"}:
        assert month[name][0] != before[name][0] and month[name][1] != before[name][1], name
        assert "Februar 2025" in month[name][1].decode("utf-8"), name
        assert stated_stand(month[name][1]) == published[1], name  # the publication that changed it
    for name in month.keys() - dependent - {"index.html"}:
        assert stated_stand(month[name][1]) == published[0], name  # unchanged since the first one
    assert f'<span class="pill">Datenstand: {published[1]}</span>' in month["index.html"][1].decode("utf-8")
    # The rebuild from the archive publishes the same values: only the overview is made anew.
    assert {n for n in full if full[n] != month[n]} == {"index.html"}
    assert f'<span class="pill">Datenstand: {published[2]}</span>' in full["index.html"][1].decode("utf-8")


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
