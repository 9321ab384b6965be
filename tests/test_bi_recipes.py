"""The connection recipes of docs/bi.md and example queries, run for real.

DuckDB: the published file opened read-only, as analysts and BI tools must open it.
PostgreSQL: a refresh with IMON_POSTGRES_DSN set publishes the marts; the BI reader role
(`imon serve-setup`) runs the same queries and can read nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, imon

QUERIES = REPO / "docs" / "example_queries.sql"
ADMIN_DSN = os.environ.get("IMON_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def example_queries() -> dict[str, str]:
    text = QUERIES.read_text(encoding="utf-8")
    out = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        sql = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip().rstrip(";")
        out[name.strip()] = sql
    return out


def test_example_queries_on_published_duckdb(refreshed):
    """The recipes run on a connection locked as docs/bi.md tells BI clients to open it,
    and that lock keeps the files next to the published one out of reach."""
    from bi.settings import DUCKDB_LOCK

    con = duckdb.connect(str(refreshed / "data" / "published" / "monitoring.duckdb"), read_only=True,
                         config=dict(DUCKDB_LOCK))
    results = {name: con.execute(sql).fetchall() for name, sql in example_queries().items()}
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"SELECT count(*) FROM glob('{refreshed / 'data'}/**')")
    assert len(results) == 4
    over_time = results["indicator_over_time_for_one_municipality"]
    assert len(over_time) >= 12 and [r[0] for r in over_time] == sorted(r[0] for r in over_time)
    latest = results["all_municipalities_latest_period"]
    assert len(latest) == 44 and len({r[2] for r in latest}) == 1
    wide = results["field_of_action_wide"]
    assert len(wide) == 45
    assert results["evaluation_against_targets"], "the demo Zielwerte should give at least one status"


@pytest.fixture(scope="module")
def pg_database():
    psycopg = pytest.importorskip("psycopg")
    from psycopg.conninfo import make_conninfo

    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means: no server here
        pytest.skip(f"no PostgreSQL reachable at {ADMIN_DSN}: {exc}")
    name = f"imon_bi_{uuid.uuid4().hex[:8]}"
    role = f"imon_reader_bi{os.getpid()}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(ADMIN_DSN, dbname=name), role
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def test_refresh_publishes_to_postgres_and_reader_sees_marts_only(clone_state, pg_database, next_month_files):
    import psycopg
    from psycopg.conninfo import make_conninfo

    dsn, role = pg_database
    data, landing, env = clone_state()
    imon("serve-setup", "--dsn", dsn, "--role", role, env=env, check_rc=0)
    env["IMON_POSTGRES_DSN"] = dsn
    env["IMON_POSTGRES_READER_ROLE"] = role
    # A new month: a new set goes to DuckDB and to the newly set PostgreSQL in the same run (the
    # current set would go there too without a new file: every target catches up, warehouse.md).
    src = next_month_files["jobcenter"]
    (landing / "jobcenter").mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, landing / "jobcenter" / src.name)
    proc = imon("refresh", env=env, check_rc=0)
    assert "VERÖFFENTLICHT: neuer Indikatorensatz" in proc.stdout, proc.stdout[-2000:]

    duck = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    reader = psycopg.connect(make_conninfo(dsn, user=role), autocommit=True)
    reader.execute("SET search_path TO monitoring")
    # PostgreSQL loaded the set before the DuckDB commit and swapped after it, with the duration
    # the commit recorded (the whole run, issue 20): the same history in both.
    history = "SELECT refresh_id, mode, duration_s FROM refresh_log ORDER BY published_at"
    assert reader.execute(history).fetchall() == duck.execute(history).fetchall()
    assert duck.execute("SELECT count(*) FROM refresh_log WHERE duration_s IS NULL").fetchone()[0] == 0
    for name, sql in example_queries().items():
        pg_rows = reader.execute(sql).fetchall()
        duck_rows = duck.execute(sql).fetchall()
        assert len(pg_rows) == len(duck_rows), name
        assert [tuple(str(v) if v is not None else None for v in r[:2]) for r in pg_rows] == \
               [tuple(str(v) if v is not None else None for v in r[:2]) for r in duck_rows], name

    n_pg = reader.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
    assert n_pg == duck.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
    duck.close()

    # The month's next file: PostgreSQL now takes the unchanged periods from its live tables and
    # only the changed ones from DuckDB (orchestration/serving.py); the set equals DuckDB's.
    src = next_month_files["abh_bestand"]
    (landing / src.parent.name).mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, landing / src.parent.name / src.name)
    proc = imon("refresh", env=env, check_rc=0)
    assert "VERÖFFENTLICHT: neuer Indikatorensatz" in proc.stdout, proc.stdout[-2000:]
    duck = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    for table, key in (("indicator_values", "indicator_id, period, region_code, group_code"),
                       ("wide_rechtsstatus_monat", "period, region_code"), ("latest_values", "indicator_id, region_code, group_code")):
        sql = f"SELECT * FROM {table} ORDER BY {key}"
        assert reader.execute(sql).fetchall() == duck.execute(sql).fetchall(), table
    assert reader.execute(history).fetchall() == duck.execute(history).fetchall()
    # the reader role reads the marts and nothing else
    admin = psycopg.connect(dsn, autocommit=True)
    admin.execute("CREATE SCHEMA IF NOT EXISTS private; CREATE TABLE IF NOT EXISTS private.secret(x int)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("SELECT * FROM private.secret")
    # refused as read-only session or for lack of privilege: either way nothing is created
    with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
        reader.execute("CREATE TABLE monitoring.mine(x int)")
    assert reader.execute("SELECT to_regclass('monitoring.mine')").fetchone()[0] is None


def test_failed_postgres_publish_exits_1_and_duckdb_stays_consistent(pg_refused_refresh):
    # `imon refresh --full` with a refused PostgreSQL (tests/conftest.py, one run shared with
    # test_operator_output and test_publish_targets)
    r = pg_refused_refresh
    assert r["proc"].returncode == 1, r["proc"].stdout[-3000:]
    assert "FEHLER" in r["proc"].stdout.strip().splitlines()[-1]
    # the DuckDB publish happened before and is a whole, readable set
    assert r["after"]["indicator_rows"] > 0
    assert r["after"]["mode"] == "full"
