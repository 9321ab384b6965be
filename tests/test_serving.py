"""Publishing the marts to PostgreSQL (orchestration/serving.py) against a real server.

Each test module run creates a throw-away database `imon_test_<pid>` and a reader role
`imon_reader_t<pid>` on the local server and drops both at the end. Skipped when no
server is reachable (set IMON_TEST_PG_ADMIN_DSN to point elsewhere).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from orchestration.serving import (
    PostgresPublishError,
    publish_to_postgres,
    serve_setup,
    serve_setup_sql,
)

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("adbc_driver_postgresql")

REPO = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("IMON_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def pg():
    from psycopg.conninfo import make_conninfo

    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"no PostgreSQL reachable at {ADMIN_DSN}: {exc}")
    name = f"imon_test_{os.getpid()}"
    role = f"imon_reader_t{os.getpid()}"
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {name}")
    dsn = make_conninfo(ADMIN_DSN, dbname=name)
    serve_setup(dsn, role)
    try:
        yield SimpleNamespace(dsn=dsn, role=role, reader_dsn=make_conninfo(dsn, user=role))
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def make_duck(path: Path, version: int, *, regions: int = 5, dup: bool = False, big_rows: int = 0) -> Path:
    """A published-like DuckDB file; row counts depend on `version` so sets are distinguishable."""
    path.unlink(missing_ok=True)
    n_ind = 2 + version  # v1: 3 indicators, v2: 4
    con = duckdb.connect(str(path))
    con.execute(f"""
        CREATE TABLE indicators AS
        SELECT 'ARB-0' || i AS indicator_id, 'Anteil ä ' || i AS name_de, 'share ' || i AS name_en,
               'Arbeit' AS handlungsfeld, 'prozent' AS unit, 'monatlich' AS periodicity,
               'Zähler / Nenner' AS definition, 'BA' AS source, {version} AS version
        FROM range(1, {n_ind + 1}) t(i)""")
    con.execute(f"""
        CREATE TABLE indicator_values AS
        SELECT i.indicator_id, '2024-0' || m AS period, last_day(make_date(2024, m::INT, 1)) AS period_end,
               CASE WHEN r = 0 THEN '08116' ELSE '081160' || lpad(r::VARCHAR, 2, '0') END AS region_code,
               CASE WHEN r = 0 THEN 'Landkreis Esslingen' ELSE 'Gemeinde ' || r END AS region_name,
               g AS group_code,
               CASE WHEN r = 3 THEN NULL ELSE 10.0 * m END::DOUBLE AS numerator,
               CASE WHEN r = 3 THEN NULL ELSE 100.0 END::DOUBLE AS denominator,
               CASE WHEN r = 3 THEN NULL ELSE 10.0 * m / 100.0 * 100 END::DOUBLE AS "value",
               'prozent' AS unit, r = 3 AS is_suppressed, {version} AS version
        FROM indicators i, range(1, 4) mm(m), range(0, {regions}) rr(r),
             (VALUES ('insgesamt'), ('deutsch')) gg(g)""")
    if dup:
        con.execute("INSERT INTO indicator_values SELECT * FROM indicator_values LIMIT 1")
    con.execute("""
        CREATE TABLE refresh_log AS
        SELECT TIMESTAMP '2024-05-01 03:00:00' AS refreshed_at,
               [{'name': 'ba_arbeitslose_2024-03.csv', 'sha256': 'ab12'}] AS files,
               ['ok', 'ok'] AS checks, 42::HUGEINT AS total""")
    con.execute("CREATE VIEW v_district AS SELECT * FROM indicator_values WHERE region_code = '08116'")
    if big_rows:
        con.execute(f"""CREATE TABLE big AS SELECT i AS id, 'Zeile ' || i AS label, i * 0.5 AS x,
                        DATE '2024-01-01' + (i % 365)::INT AS d FROM range({big_rows}) t(i)""")
    con.close()
    return path


def expected(version: int, regions: int = 5) -> tuple:
    n_ind = 2 + version
    return (n_ind * 3 * regions * 2, version, version, n_ind, version)


SNAPSHOT_SQL = """
    SELECT (SELECT count(*) FROM monitoring.indicator_values),
           (SELECT min(version) FROM monitoring.indicator_values),
           (SELECT max(version) FROM monitoring.indicator_values),
           (SELECT count(*) FROM monitoring.indicators),
           (SELECT min(version) FROM monitoring.indicators)"""


def snapshot(dsn: str) -> tuple:
    with psycopg.connect(dsn) as c:
        return c.execute(SNAPSHOT_SQL).fetchone()


def schemas(dsn: str, like: str) -> list[str]:
    with psycopg.connect(dsn) as c:
        return [r[0] for r in c.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [like])]


def leftovers(dsn: str) -> list[str]:
    """Staging and old schemas of publishes (the fingerprint schema of serving.py stays)."""
    return schemas(dsn, "imon\\_staging\\_%") + schemas(dsn, "imon\\_old\\_%")


def test_publish_rows_types_keys(pg, tmp_path):
    db = make_duck(tmp_path / "monitoring.duckdb", 1)
    res = publish_to_postgres(db, pg.dsn, reader_role=pg.role)

    assert res["indicator_values"] == 90 and res["indicators"] == 3
    assert res["refresh_log"] == 1 and res["v_district"] == 18  # the view, materialised
    assert res["seconds"] > 0
    assert snapshot(pg.dsn) == expected(1)
    with psycopg.connect(pg.dsn) as c:
        types = dict(c.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'monitoring'").fetchall())
        assert types["indicator_values.indicator_id"] == "text"
        assert types["indicator_values.period_end"] == "date"
        assert types["indicator_values.numerator"] == "double precision"
        assert types["indicator_values.is_suppressed"] == "boolean"
        assert types["refresh_log.refreshed_at"] == "timestamp without time zone"
        assert types["refresh_log.files"] == "text"  # list of structs -> JSON text
        assert types["refresh_log.checks"] == "ARRAY"
        assert types["refresh_log.total"] == "numeric"
        kinds = dict(c.execute(
            "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'monitoring'::regnamespace "
            "AND relkind IN ('r', 'v')").fetchall())
        assert kinds["v_district"] == "r"
        pk = c.execute(
            "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_constraint con "
            "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
            "WHERE con.conrelid = 'monitoring.indicator_values'::regclass AND con.contype = 'p'"
        ).fetchone()[0]
        assert pk == ["indicator_id", "period", "region_code", "group_code"]
        row = c.execute(
            "SELECT numerator, value, is_suppressed, period_end FROM monitoring.indicator_values "
            "WHERE region_code = '08116003' AND period = '2024-02' LIMIT 1").fetchone()
        assert row[:3] == (None, None, True) and str(row[3]) == "2024-02-29"
        assert c.execute("SELECT name_de FROM monitoring.indicators WHERE indicator_id = 'ARB-01'"
                         ).fetchone()[0] == "Anteil ä 1"
        files = c.execute("SELECT files::json->0->>'sha256' FROM monitoring.refresh_log").fetchone()[0]
        assert files == "ab12"
    assert leftovers(pg.dsn) == []


def test_table_subset_and_missing_table(pg, tmp_path):
    db = make_duck(tmp_path / "monitoring.duckdb", 1)
    res = publish_to_postgres(db, pg.dsn, tables=["indicators", "indicator_values"], reader_role=pg.role)
    assert set(res) == {"indicators", "indicator_values", "rows_written", "seconds"}
    with psycopg.connect(pg.dsn) as c:
        assert c.execute("SELECT to_regclass('monitoring.refresh_log')").fetchone()[0] is None
    with pytest.raises(PostgresPublishError, match="fehlen.*gibt_es_nicht"):
        publish_to_postgres(db, pg.dsn, tables=["indicators", "gibt_es_nicht"])
    assert snapshot(pg.dsn) == expected(1)
    assert leftovers(pg.dsn) == []


def test_concurrent_readers_see_old_or_new_set_only(pg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="orchestration.serving")
    v1 = make_duck(tmp_path / "v1.duckdb", 1)
    v2 = make_duck(tmp_path / "v2.duckdb", 2)
    publish_to_postgres(v1, pg.dsn, reader_role=pg.role)
    allowed = {expected(1), expected(2)}
    seen: list[tuple] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(sql: str, dsn: str) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                while not stop.is_set():
                    seen.append(tuple(c.execute(sql).fetchone()[:5]))
        except BaseException as exc:  # any error is a failure of the publish design
            errors.append(exc)

    # a fast loop (as the publisher role) and a slow one holding its locks 0.15 s (as the BI role)
    slow_sql = SNAPSHOT_SQL + ", pg_sleep(0.15)"
    threads = [threading.Thread(target=reader, args=(SNAPSHOT_SQL, pg.dsn)),
               threading.Thread(target=reader, args=(slow_sql, pg.reader_dsn))]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        for db in (v2, v1, v2):
            publish_to_postgres(db, pg.dsn, reader_role=pg.role)
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == []
    assert len(seen) > 20
    assert set(seen) <= allowed, set(seen) - allowed
    assert set(seen) == allowed  # the readers really ran across the swaps
    assert "Versuchen gesperrt" in caplog.text  # the swap had to wait for readers at least once
    assert snapshot(pg.dsn) == expected(2)


def test_reader_holding_locks_makes_swap_fail_cleanly(pg, tmp_path):
    publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role=pg.role)
    reader = psycopg.connect(pg.reader_dsn)  # not autocommit: the transaction stays open
    try:
        assert reader.execute("SELECT count(*) FROM monitoring.indicators").fetchone()[0] == 3
        t0 = time.monotonic()
        with pytest.raises(PostgresPublishError, match="gesperrt"):
            publish_to_postgres(make_duck(tmp_path / "v2.duckdb", 2), pg.dsn,
                                reader_role=pg.role, lock_wait_s=0.5)
        assert time.monotonic() - t0 < 10
        # the reader was not disturbed and still sees the old set
        assert reader.execute(SNAPSHOT_SQL).fetchone() == expected(1)
    finally:
        reader.rollback()
        reader.close()
    assert snapshot(pg.dsn) == expected(1)
    assert leftovers(pg.dsn) == []


def test_duplicate_key_fails_and_keeps_old_set(pg, tmp_path):
    publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role=pg.role)
    bad = make_duck(tmp_path / "bad.duckdb", 2, dup=True)
    with pytest.raises(PostgresPublishError, match="indicator_values ist nicht eindeutig"):
        publish_to_postgres(bad, pg.dsn, reader_role=pg.role)
    assert snapshot(pg.dsn) == expected(1)
    assert leftovers(pg.dsn) == []
    # the same file publishes when that table has no declared key
    publish_to_postgres(bad, pg.dsn, reader_role=pg.role, keys={"indicators": ["indicator_id"]})
    assert snapshot(pg.dsn)[0] == expected(2)[0] + 1


def test_killed_publisher_keeps_old_set_and_next_publish_cleans_up(pg, tmp_path):
    publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role=pg.role)
    big = make_duck(tmp_path / "big.duckdb", 2, big_rows=3_000_000)
    app = f"imon_kill_{os.getpid()}"
    code = ("import sys; from pathlib import Path; from orchestration.serving import publish_to_postgres; "
            "publish_to_postgres(Path(sys.argv[1]), sys.argv[2])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(big), pg.dsn], cwd=REPO,
                            env={**os.environ, "PGAPPNAME": app})  # names the ADBC session
    admin = psycopg.connect(pg.dsn, autocommit=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the bulk load (COPY) is running
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                             "AND state = 'active' AND query ILIKE 'COPY%%'", [app]).fetchone()[0]:
                break
            assert proc.poll() is None, "publisher finished before it could be killed"
            time.sleep(0.01)
        else:
            pytest.fail("bulk load never started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 30  # the server notices the dead client
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name IN "
                            "(%s, 'imon-publish') AND datname = current_database()", [app]).fetchone()[0]:
            assert time.monotonic() < deadline, "backends of the killed publisher linger"
            time.sleep(0.05)
    finally:
        admin.close()
        if proc.poll() is None:
            proc.kill()
    assert snapshot(pg.dsn) == expected(1)
    assert len(schemas(pg.dsn, "imon\\_staging\\_%")) == 1

    res = publish_to_postgres(make_duck(tmp_path / "v2.duckdb", 2), pg.dsn, reader_role=pg.role)
    assert res["indicator_values"] == expected(2)[0]
    assert snapshot(pg.dsn) == expected(2)
    assert leftovers(pg.dsn) == []


def test_reader_role_reads_marts_and_nothing_else(pg, tmp_path):
    serve_setup(pg.dsn, pg.role, password="geheim")  # idempotent: second run on the same role
    sql = serve_setup_sql(pg.role)
    assert f'"{pg.role}"' in sql and "GRANT SELECT ON ALL TABLES" in sql
    with psycopg.connect(pg.dsn, autocommit=True) as c:
        c.execute("CREATE SCHEMA IF NOT EXISTS private")
        c.execute("CREATE TABLE IF NOT EXISTS private.secret AS SELECT 1 AS person_id")
        c.execute("CREATE TABLE IF NOT EXISTS public.other AS SELECT 1 AS x")
    for version in (1, 2):  # grants must survive the drop-and-recreate of the schema
        publish_to_postgres(make_duck(tmp_path / f"v{version}.duckdb", version), pg.dsn, reader_role=pg.role)
        with psycopg.connect(pg.reader_dsn, autocommit=True) as r:
            assert r.execute(SNAPSHOT_SQL).fetchone() == expected(version)
            # search_path = monitoring: BI tools may leave the schema out
            assert r.execute("SELECT count(*) FROM indicators").fetchone()[0] == 2 + version
    with psycopg.connect(pg.reader_dsn, autocommit=True) as r:
        for stmt in ("SELECT * FROM private.secret", "SELECT * FROM public.other",
                     "SELECT count(*) FROM pg_catalog.pg_authid", "SELECT * FROM imon_publish_state.periods"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                r.execute(stmt)
        # read-only by default ...
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            r.execute("CREATE TABLE monitoring.mine (x int)")
        # ... and without the privilege even when asking for a read-write transaction
        for stmt in ("CREATE TABLE monitoring.mine (x int)", "CREATE TABLE public.mine (x int)",
                     "CREATE SCHEMA mine", "INSERT INTO monitoring.indicators (indicator_id) VALUES ('X')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with r.transaction():
                    r.execute("SET TRANSACTION READ WRITE")
                    r.execute(stmt)


def test_reader_role_no_temp_tables_and_what_it_still_sees(pg, tmp_path):
    """What docs/bi.md, "Connecting BI tools", says the role can and cannot do, checked on the server."""
    publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role=pg.role)
    with psycopg.connect(pg.dsn, autocommit=True) as c:
        c.execute("CREATE SCHEMA IF NOT EXISTS private")
        c.execute("CREATE TABLE IF NOT EXISTS private.clients AS SELECT g AS person_id FROM generate_series(1, 50) g")
        c.execute("ANALYZE private.clients")
    with psycopg.connect(pg.reader_dsn, autocommit=True) as r:
        # No temporary tables, not even in a read-write transaction.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary"):
            with r.transaction():
                r.execute("SET TRANSACTION READ WRITE")
                r.execute("CREATE TEMP TABLE scratch (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("SELECT count(*) FROM private.clients")
        # The catalogue stays readable, as in every PostgreSQL database: names, columns and
        # estimated row counts of other schemas' tables (never their rows).
        assert r.execute("SELECT reltuples FROM pg_class WHERE relname = 'clients'").fetchone() == (50,)
        assert r.execute("SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                         "WHERE c.relname = 'clients' AND a.attnum > 0").fetchall() == [("person_id",)]
        assert r.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'clients'").fetchone() == (0,)
        assert r.execute("SELECT count(*) FROM indicator_values").fetchone()[0] > 0
    # Other databases of the cluster: CONNECT belongs to PUBLIC there (pg_hba.conf restricts it).
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(pg.reader_dsn, dbname="postgres"), autocommit=True) as other:
        assert other.execute("SELECT current_user").fetchone() == (pg.role,)


def test_missing_reader_role_only_warns(pg, tmp_path, caplog):
    res = publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role="gibt_es_nicht_xyz")
    assert res["indicators"] == 3
    assert "gibt_es_nicht_xyz" in caplog.text
    # the configured BI role lost nothing it should keep: next publish re-grants
    publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role=pg.role)
    assert snapshot(pg.reader_dsn) == expected(1)


def test_unreachable_server_raises_clean_error(tmp_path):
    db = make_duck(tmp_path / "v1.duckdb", 1)
    with pytest.raises(PostgresPublishError, match="fehlgeschlagen") as info:
        publish_to_postgres(db, "postgresql://postgres:topsecret@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "topsecret" not in str(info.value)


def test_second_publisher_waits_then_gives_up(pg, tmp_path):
    from orchestration.serving import _ADVISORY_KEY

    publish_to_postgres(make_duck(tmp_path / "v1.duckdb", 1), pg.dsn, reader_role=pg.role)
    with psycopg.connect(pg.dsn, autocommit=True) as other:  # stands in for a running publish
        other.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_KEY])
        with pytest.raises(PostgresPublishError, match="andere Postgres-Veröffentlichung"):
            publish_to_postgres(make_duck(tmp_path / "v2.duckdb", 2), pg.dsn, lock_wait_s=0.3)
    assert snapshot(pg.dsn) == expected(1)
    assert leftovers(pg.dsn) == []


def _rows(dsn_or_db, table: str, schema: str = "monitoring") -> list[tuple]:
    cols = "indicator_id, period, region_code, group_code, numerator, value, is_suppressed, version"
    if isinstance(dsn_or_db, Path):
        with duckdb.connect(str(dsn_or_db), read_only=True) as d:
            return d.execute(f"SELECT {cols} FROM main.{table} ORDER BY ALL").fetchall()
    with psycopg.connect(dsn_or_db) as c:
        return c.execute(f"SELECT {cols} FROM {schema}.{table} ORDER BY 1, 2, 3, 4").fetchall()


def test_a_new_period_sends_only_the_changed_periods(pg, tmp_path):
    """Issue 20: the periods whose rows did not change are copied inside PostgreSQL from the live
    set; only changed, new and removed periods come from DuckDB. The result is the DuckDB set."""
    schema = "monitoring_periods"
    db = make_duck(tmp_path / "m.duckdb", 1)
    first = publish_to_postgres(db, pg.dsn, schema=schema, reader_role=None)
    whole = first["indicator_values"] + first["indicators"] + first["refresh_log"] + first["v_district"]
    assert first["rows_written"] == whole  # nothing live yet: every row is sent

    # 2024-03 corrected, 2024-04 new, 2024-01 withdrawn
    with duckdb.connect(str(db)) as d:
        d.execute("UPDATE indicator_values SET value = value + 1 WHERE period = '2024-03' AND region_code = '08116'")
        d.execute("INSERT INTO indicator_values SELECT * REPLACE ('2024-04' AS period) FROM indicator_values "
                  "WHERE period = '2024-03'")
        d.execute("DELETE FROM indicator_values WHERE period = '2024-01'")
        n_changed = d.execute("SELECT count(*) FROM indicator_values WHERE period IN ('2024-03', '2024-04')").fetchone()[0]
        n_district = d.execute("SELECT count(*) FROM v_district WHERE period IN ('2024-03', '2024-04')").fetchone()[0]
    second = publish_to_postgres(db, pg.dsn, schema=schema, reader_role=None)
    # whole: the tables without a period column; of the others only the two periods
    assert second["rows_written"] == second["indicators"] + second["refresh_log"] + n_changed + n_district
    assert second["rows_written"] < whole
    assert _rows(pg.dsn, "indicator_values", schema) == _rows(db, "indicator_values")
    assert _rows(pg.dsn, "v_district", schema) == _rows(db, "v_district")
    with psycopg.connect(pg.dsn) as c:  # keys as on a whole load
        assert c.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'indicator_values_pkey' AND "
                         "connamespace = %s::regnamespace", [schema]).fetchone()[0] == 1

    # Nothing changed: no row of a period table is sent again.
    third = publish_to_postgres(db, pg.dsn, schema=schema, reader_role=None)
    assert third["rows_written"] == third["indicators"] + third["refresh_log"]

    # A live table that no longer matches its fingerprints (edited by hand) is loaded whole.
    with psycopg.connect(pg.dsn, autocommit=True) as c:
        c.execute(f"DELETE FROM {schema}.indicator_values WHERE period = '2024-02' AND region_code = '08116'")
    fourth = publish_to_postgres(db, pg.dsn, schema=schema, reader_role=None)
    assert fourth["rows_written"] >= fourth["indicator_values"]
    assert _rows(pg.dsn, "indicator_values", schema) == _rows(db, "indicator_values")

    # A mart whose columns changed is loaded whole, with its new column.
    with duckdb.connect(str(db)) as d:
        d.execute("ALTER TABLE indicator_values ADD COLUMN note VARCHAR DEFAULT 'neu'")
    fifth = publish_to_postgres(db, pg.dsn, schema=schema, reader_role=None)
    assert fifth["rows_written"] >= fifth["indicator_values"] + fifth["indicators"]
    with psycopg.connect(pg.dsn) as c:
        assert c.execute(f"SELECT DISTINCT note FROM {schema}.indicator_values").fetchall() == [("neu",)]
    assert _rows(pg.dsn, "indicator_values", schema) == _rows(db, "indicator_values")
