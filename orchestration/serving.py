"""Publish the aggregated marts to PostgreSQL for BI tools (warehouse.md, `IMON_POSTGRES_DSN`).

Source is only the *published* DuckDB file (aggregates, already gated); the internal
warehouse is never read here.

How a publish keeps readers safe:

1. Serialise publishers with a session advisory lock, then drop leftover
   `imon_staging_*` / `imon_old_*` schemas of earlier killed or failed publishes.
2. Build every table in a fresh schema `imon_staging_<hex>`, add the primary keys, ANALYZE.
   Readers cannot see it. A table with a `period` column whose columns are as last time
   takes the periods whose rows did not change from the live table (a copy inside
   PostgreSQL) and only the changed periods from DuckDB (issue 20: a month sends its
   periods, not the whole history); every other table, and every table on a first publish,
   is loaded whole (DuckDB -> Arrow stream -> ADBC binary COPY). What changed is decided by
   a fingerprint per period (row count and a sum of row hashes, computed in DuckDB) against
   the fingerprints of the live set, kept in schema `imon_publish_state` and replaced in the
   swap's transaction; the staged table's row count is checked against DuckDB's, and a
   table that does not match is loaded whole.
3. One short transaction swaps the schemas: take ACCESS EXCLUSIVE on every live table
   (retrying until `lock_wait_s`, never in a way that can deadlock with or cancel a
   reader; a reader may at most wait ~1 s behind us, see _lock_live_tables). Then
   rename live -> `imon_old_<hex>`, staging -> `monitoring`, re-grant the reader role,
   drop the old schema, commit. A reader blocked on the old tables re-resolves the names
   after the commit and reads the new set; a single query never mixes old and new.

Any failure before the commit leaves the live schema untouched and raises
`PostgresPublishError`; the staging schema is dropped (or by the next publish, if the
process was killed).

psycopg / ADBC are imported inside functions: this module sits on the CLI import path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestration.files import write_atomic

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "monitoring"
DEFAULT_READER_ROLE = "imon_reader"
STAGING_PREFIX = "imon_staging_"
OLD_PREFIX = "imon_old_"
# Fingerprints of the periods the live schema holds (see step 2 above); no grants to readers.
STATE_SCHEMA = "imon_publish_state"
PERIOD_COLUMN = "period"
# Keys from warehouse.md; a table not being published is simply skipped.
DEFAULT_KEYS: dict[str, list[str]] = {
    "indicator_values": ["indicator_id", "period", "region_code", "group_code"],
    "indicators": ["indicator_id"],
    "indicator_evaluation": ["indicator_id", "period", "region_code", "group_code"],
    "latest_values": ["indicator_id", "region_code", "group_code"],
    "coverage": ["kind", "subject"],
    **{f"wide_{field}": ["period", "region_code"] for field in (
        "arbeit", "sprache", "rechtsstatus_monat", "rechtsstatus_jahr", "bildung", "wohnen", "demografie")},
}
# Arbitrary constant: one publisher per database at a time (pg_advisory_lock key).
_ADVISORY_KEY = 0x1_A0_2024
_APP_NAME = "imon-publish"
# Longest a reader may be held up behind the swap waiting for one table (see _lock_live_tables).
_WAIT_STEP_S = 1.0


class PostgresPublishError(RuntimeError):
    """The Postgres publish failed; the previously published set is still in place."""


# --------------------------------------------------------------------------- catch-up state
# Which published set PostgreSQL holds, so that a refresh after a failed PostgreSQL publish (or
# after IMON_POSTGRES_DSN was set on an existing installation) is not a no-op. A small JSON
# file in the state dir, read on the no-op path: no driver import, no connection.

STATE_FILE = "postgres_published.json"


def dsn_identity(dsn: str) -> str:
    """A hash of where the DSN points (host, port, database, user, ...), without the password:
    a changed target counts as not yet published, a changed password does not."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if k != "password"}
    except Exception:  # unparsable: the driver will say so at publish time
        parts = {"dsn": dsn}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def postgres_behind(state_dir: Path, dsn: str | None, published_refresh_id: str | None,
                    schema: str = DEFAULT_SCHEMA) -> bool:
    """True when a PostgreSQL target is configured and does not hold the published set."""
    if not dsn or published_refresh_id is None:
        return False
    try:
        state = json.loads((Path(state_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return state != {"refresh_id": published_refresh_id, "target": dsn_identity(dsn), "schema": schema}


def record_postgres_published(state_dir: Path, dsn: str, published_refresh_id: str | None,
                              schema: str = DEFAULT_SCHEMA) -> None:
    """After a successful swap: PostgreSQL holds the set of `published_refresh_id`."""
    write_atomic(Path(state_dir) / STATE_FILE, json.dumps({"refresh_id": published_refresh_id,
                                                          "target": dsn_identity(dsn), "schema": schema}))


def forget_postgres_published(state_dir: Path) -> None:
    """Before a publish attempt: if it fails, the next refresh tries again."""
    (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)


# --------------------------------------------------------------------------- helpers


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (no connection needed, so serve_setup_sql stays pure)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _safe_dsn(dsn: str) -> str:
    """The DSN without its password, for error messages and logs."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<DSN>"
    parts.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in parts.items())


def _scrub(message: str, dsn: str) -> str:
    """Driver messages may echo the connection string: never let the password through."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        return message
    return message.replace(str(password), "***") if password else message


# libpq / server messages -> what the operator should know, in German (first match wins).
_CAUSES = (
    ("Connection refused", "Verbindung abgelehnt (läuft der Server, stimmen Host und Port in IMON_POSTGRES_DSN?)"),
    ("could not translate host name", "Rechnername unbekannt (Host in IMON_POSTGRES_DSN prüfen)"),
    ("Name or service not known", "Rechnername unbekannt (Host in IMON_POSTGRES_DSN prüfen)"),
    ("timeout expired", "Zeitüberschreitung beim Verbinden (Server oder Netz nicht erreichbar)"),
    ("No route to host", "Server nicht erreichbar (keine Route zum Host)"),
    ("password authentication failed", "Anmeldung abgelehnt (Benutzer oder Passwort in IMON_POSTGRES_DSN prüfen)"),
    ("no password supplied", "Anmeldung abgelehnt: kein Passwort angegeben"),
    ("no pg_hba.conf entry", "Anmeldung abgelehnt: der Server lässt diesen Benutzer/Rechner nicht zu (pg_hba.conf)"),
    ("does not exist", None),  # database / role: the server's own words name it
    ("permission denied", "fehlende Rechte"),
    ("No space left on device", "kein Speicherplatz mehr auf dem Datenbankserver"),
    ("the database system is starting up", "der Datenbankserver startet gerade"),
    ("the database system is shutting down", "der Datenbankserver fährt herunter"),
    ("server closed the connection unexpectedly", "der Server hat die Verbindung unerwartet beendet"),
)


def cause_de(exc: BaseException, dsn: str = "") -> str:
    """One German line saying why a PostgreSQL operation failed (password scrubbed)."""
    text = _scrub(str(exc), dsn) if dsn else str(exc)
    first = " ".join(text.split())  # one line
    for needle, german in _CAUSES:
        if needle.lower() in text.lower():
            if german is None:
                detail = next((ln.strip() for ln in text.splitlines() if needle in ln), first)
                detail = detail.split("FATAL:")[-1].strip()
                return f"{detail} (Name in IMON_POSTGRES_DSN prüfen)"
            if german == "fehlende Rechte":
                return f"fehlende Rechte: {first[:200]}"
            return german
    kind = "" if type(exc).__module__.startswith("psycopg") else f"{type(exc).__name__}: "
    return f"{kind}{first[:300]}"


def _duck_select(table: str, cols: list[tuple[str, str]]) -> str:
    """SELECT list (over the table's (column, type) of _duck_columns) that turns types ADBC
    cannot map (or maps lossily) into safe ones.

    ADBC maps VARCHAR/ENUM/UUID->text, DOUBLE->double precision, BOOLEAN->boolean,
    DATE->date, TIMESTAMP->timestamp, TIMESTAMPTZ->timestamptz, DECIMAL/HUGEINT->numeric,
    lists of scalars->arrays. It refuses STRUCT/MAP/UNION (also nested in lists), and
    UBIGINT would land in bigint and overflow. Those become JSON text / numeric.
    """
    out = []
    for name, dtype in cols:
        q = quote_ident(name)
        t = dtype.upper()
        if any(k in t for k in ("STRUCT(", "MAP(", "UNION(")):
            out.append(f"CAST(to_json({q}) AS VARCHAR) AS {q}")
        elif t == "UBIGINT":
            out.append(f"CAST({q} AS DECIMAL(20, 0)) AS {q}")
        elif t in ("UHUGEINT", "BIGNUM", "VARINT", "BIT", "TIME WITH TIME ZONE", "TIMETZ"):
            out.append(f"CAST({q} AS VARCHAR) AS {q}")
        else:
            out.append(q)
    return f"SELECT {', '.join(out)} FROM main.{quote_ident(table)}"


def _duck_tables(con: Any) -> list[str]:
    """All tables and views of schema `main` in the published file, in a stable order."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = 'main' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def _duck_columns(con: Any) -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, type)] of schema `main` of the published file, in one query."""
    out: dict[str, list[tuple[str, str]]] = {}
    for table, name, dtype in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = 'main' "
            "ORDER BY table_name, ordinal_position").fetchall():
        out.setdefault(table, []).append((name, dtype))
    return out


def _period_fingerprints(con: Any, columns: dict[str, list[tuple[str, str]]],
                         tables: list[str]) -> dict[str, dict[str, str]]:
    """table -> period -> row count and sum of row hashes, for the tables with a `period`
    column, in one query (each query of the loading thread waits for the GIL behind the
    report's rendering: a few round trips, not one per table)."""
    parts = []
    out: dict[str, dict[str, str]] = {}
    for table in tables:
        names = [c for c, _ in columns[table]]
        if PERIOD_COLUMN not in names:
            continue
        out[table] = {}
        parts.append(
            f"SELECT {_literal(table)} AS t, CAST({quote_ident(PERIOD_COLUMN)} AS VARCHAR) AS p, count(*) AS n, "
            f"sum(hash({', '.join(quote_ident(c) for c in names)})) % 18446744073709551616 AS h "
            f"FROM main.{quote_ident(table)} GROUP BY ALL")
    if parts:
        for table, period, n, h in con.execute(" UNION ALL ".join(parts)).fetchall():
            out[table][str(period)] = f"{n}:{h}"
    return out


def _live_fingerprints(pg: Any, schema: str) -> dict[str, tuple[str, dict[str, str]]]:
    """What the live schema was built from: table -> (signature, period -> fingerprint)."""
    if not pg.execute("SELECT to_regclass(%s)", [f"{STATE_SCHEMA}.periods"]).fetchone()[0]:
        return {}
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for table, signature, period, fp in pg.execute(
            f"SELECT table_name, signature, period, fingerprint FROM {STATE_SCHEMA}.periods "
            "WHERE schema_name = %s", [schema]).fetchall():
        out.setdefault(table, (signature, {}))[1][period] = fp
    return out


def _record_fingerprints(pg: Any, schema: str, state: dict[str, tuple[str, dict[str, str]]]) -> None:
    """Inside the swap's transaction: the fingerprints of the set that is now live."""
    pg.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
    pg.execute(f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.periods (schema_name text NOT NULL, "
               "table_name text NOT NULL, signature text NOT NULL, period text NOT NULL, fingerprint text NOT NULL)")
    pg.execute(f"DELETE FROM {STATE_SCHEMA}.periods WHERE schema_name = %s", [schema])
    rows = [(schema, t, sig, p, fp) for t, (sig, fps) in state.items() for p, fp in fps.items()]
    with pg.cursor() as cur, cur.copy(f"COPY {STATE_SCHEMA}.periods FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _cleanup_leftovers(pg: Any) -> list[str]:
    """Drop staging/old schemas left by killed or failed publishes (caller holds the advisory lock)."""
    rows = pg.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s OR nspname LIKE %s",
        [STAGING_PREFIX.replace("_", r"\_") + "%", OLD_PREFIX.replace("_", r"\_") + "%"],
    ).fetchall()
    dropped = []
    for (name,) in rows:
        try:
            pg.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")  # session lock_timeout applies
            dropped.append(name)
        except Exception as exc:  # e.g. the killed publisher's backend still winding down
            log.warning("Altes Staging-Schema %s konnte noch nicht entfernt werden: %s", name, exc)
    if dropped:
        log.info("Reste früherer Postgres-Veröffentlichungen entfernt: %s", ", ".join(dropped))
    return dropped


def _lock_holders(pg: Any, schema: str) -> str:
    """Who holds locks on the live tables (for a helpful error message)."""
    try:
        rows = pg.execute(
            "SELECT DISTINCT l.pid, coalesce(a.usename, '?'), coalesce(a.application_name, ''), "
            "coalesce(a.state, '') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE c.relnamespace = to_regnamespace(%s) AND l.pid <> pg_backend_pid() AND l.granted",
            [schema],
        ).fetchall()
    except Exception:
        return "unbekannt"
    return "; ".join(f"pid {p} ({u}, {app or '-'}, {st})" for p, u, app, st in rows) or "keine mehr"


def _lock_live_tables(pg: Any, schema: str, lock_wait_s: float) -> bool:
    """ACCESS EXCLUSIVE on every relation of the live schema, within `lock_wait_s`.

    Must run inside the swap transaction; returns False when readers kept their locks
    too long. Each attempt runs in a savepoint, so a failed attempt releases whatever it
    got and the swap transaction stays usable.

    First attempt: all tables NOWAIT (no reader notices anything). With overlapping
    readers that can starve, so later attempts wait (at most _WAIT_STEP_S) for one busy
    table and take the rest NOWAIT. While waiting we hold no other table lock, so no
    deadlock with a reader is possible (the deadlock detector could otherwise cancel the
    reader's query); new readers of that one table queue behind us for at most one step.
    """
    import psycopg

    deadline = time.monotonic() + lock_wait_s
    attempt = 0
    while True:
        rels = pg.execute(
            "SELECT c.oid, format('%%I.%%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.oid",
            [schema],
        ).fetchall()
        if not rels:
            return True
        names = ", ".join(name for _, name in rels)
        busy = None
        if attempt:
            row = pg.execute(
                "SELECT relation FROM pg_locks WHERE granted AND pid <> pg_backend_pid() "
                "AND relation = ANY(%s) ORDER BY relation LIMIT 1",
                [[oid for oid, _ in rels]],
            ).fetchone()
            busy = next((name for oid, name in rels if row and oid == row[0]), None)
        remaining = deadline - time.monotonic()
        try:
            with pg.transaction():
                if busy:
                    step_ms = max(10, int(min(remaining, _WAIT_STEP_S) * 1000))
                    pg.execute(f"SET LOCAL lock_timeout = '{step_ms}ms'")
                    pg.execute(f"LOCK TABLE {busy} IN ACCESS EXCLUSIVE MODE")
                pg.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE NOWAIT")
            pg.execute(f"SET LOCAL lock_timeout = '{max(1, int(lock_wait_s * 1000))}ms'")
            if attempt:
                log.info("Schema %s nach %d Versuchen gesperrt (Leser waren aktiv).", schema, attempt + 1)
            return True
        except psycopg.errors.LockNotAvailable:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)  # let the readers that queued behind us through
        attempt += 1


# --------------------------------------------------------------------------- public API


def serve_setup_sql(reader_role: str = DEFAULT_READER_ROLE, schema: str = DEFAULT_SCHEMA) -> str:
    """The idempotent SQL script behind `serve_setup` (for a DBA to read or run with psql).

    Run it as a superuser in the serving database (the ALTER ROLE attribute line needs
    one before PostgreSQL 16). The password is set separately (`ALTER ROLE ... PASSWORD`).
    PostgreSQL has no per-role "deny": what PUBLIC may, every role may. So TEMPORARY is
    revoked from PUBLIC on the serving database (the owner keeps it), while CONNECT to
    *other* databases of the cluster is left to the DBA (a pg_hba.conf line per role is the
    precise tool; docs/bi.md, "Connecting BI tools"). What the role still sees: the system
    catalogue (names of all schemas, tables, columns, views' definitions, estimated row
    counts), as in every PostgreSQL database.
    """
    role, lit_role, sch = quote_ident(reader_role), _literal(reader_role), quote_ident(schema)
    return f"""\
-- Integrationsmonitor: read-only role for BI tools.
-- It may read the marts in schema {schema} and nothing else. Idempotent.

-- 1. The role: may log in, nothing more. Sessions are read-only by default and look
--    into {schema} first, so BI tools see the marts without qualifying names.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit_role}) THEN
        CREATE ROLE {role} LOGIN;
    END IF;
END
$$;
ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE {role} SET default_transaction_read_only = on;
ALTER ROLE {role} SET search_path = {sch};

-- 2. Nothing in schema public: before PostgreSQL 15 every role (PUBLIC) may create
--    there; from 15 on this is already the default, so repeating it is harmless.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM {role};

-- 3. May connect to this database (explicit, in case CONNECT was revoked from PUBLIC),
--    but create no temporary tables here: PUBLIC has TEMPORARY on every database by
--    default and a privilege of PUBLIC cannot be withheld from one role, so it is revoked
--    from PUBLIC (the database owner keeps it; GRANT TEMPORARY to a role that needs it).
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), {lit_role});
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM %I', current_database(), {lit_role});
END
$$;

-- 4. Read the marts. The publisher drops and recreates schema {schema} on every
--    publish (atomic swap) and repeats these two grants inside the swap transaction,
--    so they hold for every future set. Other schemas are created without any grant
--    to PUBLIC, so the role cannot see them.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_namespace WHERE nspname = {_literal(schema)}) THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', {_literal(schema)}, {lit_role});
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', {_literal(schema)}, {lit_role});
    END IF;
END
$$;
-- 5. No large objects: PostgreSQL lets every role (PUBLIC) create and write them, even in
--    a read-only transaction (lo_create, lo_from_bytea, lowrite). EXECUTE on these
--    functions is revoked from PUBLIC in this database only (function privileges are per
--    database); reading files (lo_import) needs superuser rights anyway.
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND (p.proname LIKE 'lo\\_%' OR p.proname IN ('loread', 'lowrite'))
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
"""


def serve_setup(
    dsn: str,
    reader_role: str = DEFAULT_READER_ROLE,
    password: str | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> None:
    """Create (idempotently) the read-only role for BI tools, see `serve_setup_sql`."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(dsn, autocommit=True, application_name=_APP_NAME) as pg:
            with pg.transaction():
                pg.execute(serve_setup_sql(reader_role, schema))
                if password is not None:
                    # Utility statements take no bind parameters: compose the literal client-side.
                    pg.execute(
                        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                            sql.Identifier(reader_role), sql.Literal(password)
                        )
                    )
    except psycopg.Error as exc:
        raise PostgresPublishError(
            f"Einrichtung der Leserolle {reader_role!r} in {_safe_dsn(dsn)} fehlgeschlagen: {exc}"
        ) from exc


def publish_to_postgres(
    published_db: Path,
    dsn: str,
    tables: list[str] | None = None,
    schema: str = DEFAULT_SCHEMA,
    keys: dict[str, list[str]] | None = None,
    reader_role: str | None = DEFAULT_READER_ROLE,
    lock_wait_s: float = 30.0,
    before_swap: Callable[[Any, str], None] | None = None,
) -> dict[str, Any]:
    """Publish the marts of the published DuckDB file to `schema` in one atomic swap.

    tables: None = every table and view of the file's schema `main` (views become tables).
    keys: primary key per table; None = DEFAULT_KEYS. Duplicates make the publish fail.
    reader_role: granted USAGE + SELECT on the new schema inside the swap; skipped with a
        warning if the role does not exist (run `serve_setup` once), None = no grants.
    lock_wait_s: how long the swap (and waiting for another publisher) may wait for locks.
    before_swap: called with (connection, staging schema) after the load, before the swap (the
        refresh fills in its duration there, orchestration/defs/assets.py); raising aborts.

    Returns {table: row_count, ..., "seconds": elapsed}. Raises PostgresPublishError on
    any failure, with the previously published set left in place.
    """
    import adbc_driver_postgresql.dbapi as adbc
    import duckdb
    import psycopg

    started = time.perf_counter()
    published_db = Path(published_db)
    keys = DEFAULT_KEYS if keys is None else keys
    where = _safe_dsn(dsn)
    if not published_db.exists():
        raise PostgresPublishError(f"Veröffentlichte DuckDB-Datei fehlt: {published_db}")

    staging = STAGING_PREFIX + secrets.token_hex(6)
    old = OLD_PREFIX + secrets.token_hex(6)
    counts: dict[str, int] = {}
    written: dict[str, int] = {}  # rows sent from DuckDB (the rest copied from the live tables)
    state: dict[str, tuple[str, dict[str, str]]] = {}
    pg = None
    try:
        pg = psycopg.connect(dsn, autocommit=True, application_name=_APP_NAME)
        # 0 would mean "wait forever" to PostgreSQL
        pg.execute(f"SET lock_timeout = '{max(1, int(lock_wait_s * 1000))}ms'")
        try:
            # Session lock: a second publisher waits (lock_timeout) instead of racing us.
            pg.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_KEY])
        except psycopg.errors.LockNotAvailable as exc:
            raise PostgresPublishError(
                f"Eine andere Postgres-Veröffentlichung läuft noch ({where}); nichts geändert."
            ) from exc
        _cleanup_leftovers(pg)
        pg.execute(f"CREATE SCHEMA {quote_ident(staging)}")

        # -- load: DuckDB (read-only) -> Arrow batches -> ADBC binary COPY into staging
        # One DuckDB thread: the refresh loads PostgreSQL beside the report's rendering
        # (orchestration/defs/assets.py publish_set); with two they took both cores from it (+1 s).
        with duckdb.connect(str(published_db), read_only=True, config={"threads": 1}) as duck:
            available = _duck_tables(duck)
            wanted = available if tables is None else list(tables)
            missing = [t for t in wanted if t not in available]
            if missing:
                raise PostgresPublishError(
                    f"Tabellen fehlen in {published_db.name} (Schema main): {', '.join(missing)}"
                )
            if not wanted:
                raise PostgresPublishError(f"{published_db.name} enthält keine Tabellen.")
            live = _live_fingerprints(pg, schema)
            columns = _duck_columns(duck)
            selects = {table: _duck_select(table, columns[table]) for table in wanted}
            fingerprints = _period_fingerprints(duck, columns, wanted)
            existing = {r[0] for r in pg.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]).fetchall()}
            incremental: dict[str, list[str]] = {}  # table -> its changed or new periods
            copies = []
            for table, fps in fingerprints.items():
                signature = hashlib.sha256(json.dumps([columns[table], selects[table]]).encode()).hexdigest()
                state[table] = (signature, fps)
                prev = live.get(table)
                if prev is None or prev[0] != signature or table not in existing:
                    continue
                changed = sorted(p for p, fp in fps.items() if prev[1].get(p) != fp)
                drop = changed + sorted(set(prev[1]) - set(fps))
                incremental[table] = changed
                periods = ", ".join(_literal(p) for p in drop)
                copies.append(
                    f"CREATE TABLE {quote_ident(staging)}.{quote_ident(table)} AS SELECT * FROM "
                    f"{quote_ident(schema)}.{quote_ident(table)} WHERE NOT "
                    f"({quote_ident(PERIOD_COLUMN)}::text = ANY(ARRAY[{periods}]::text[]))")
            if copies:  # the unchanged periods, copied inside PostgreSQL, in one round trip
                pg.execute("; ".join(copies))
            with adbc.connect(dsn) as ac, ac.cursor() as cur:
                for table, changed in incremental.items():
                    written[table] = 0
                    if changed:
                        periods = ", ".join(_literal(p) for p in changed)
                        reader = duck.sql(f"SELECT * FROM ({selects[table]}) AS t WHERE CAST("
                                          f"{quote_ident(PERIOD_COLUMN)} AS VARCHAR) IN ({periods})"
                                          ).to_arrow_reader(100_000)
                        written[table] = int(cur.adbc_ingest(table, reader, mode="append", db_schema_name=staging))
                ac.commit()  # before the counts below, on the other connection
                if incremental:
                    staged = dict(pg.execute(" UNION ALL ".join(
                        f"SELECT {_literal(t)}, count(*) FROM {quote_ident(staging)}.{quote_ident(t)}"
                        for t in incremental)).fetchall())
                    for table in list(incremental):
                        expected = sum(int(fp.split(":")[0]) for fp in fingerprints[table].values())
                        if staged[table] == expected:
                            counts[table] = expected
                            continue
                        log.warning("PostgreSQL: %s stimmt nach dem Laden der geänderten Zeiträume nicht "
                                    "mit DuckDB überein; die Tabelle wird ganz geladen", table)
                        pg.execute(f"DROP TABLE {quote_ident(staging)}.{quote_ident(table)}")
                        del incremental[table]
                for table in wanted:
                    if table not in incremental:
                        reader = duck.sql(selects[table]).to_arrow_reader(100_000)
                        n = cur.adbc_ingest(table, reader, mode="create", db_schema_name=staging)
                        counts[table] = written[table] = int(n)
                ac.commit()
        t_load = time.perf_counter()

        # -- keys, statistics, provenance (still invisible to readers)
        for table in wanted:
            if table in keys:
                cols = ", ".join(quote_ident(c) for c in keys[table])
                try:
                    pg.execute(
                        f"ALTER TABLE {quote_ident(staging)}.{quote_ident(table)} "
                        f"ADD CONSTRAINT {quote_ident(table + '_pkey')} PRIMARY KEY ({cols})"
                    )
                except psycopg.Error as exc:
                    raise PostgresPublishError(
                        f"Schlüssel ({', '.join(keys[table])}) von {table} ist nicht eindeutig "
                        f"oder unvollständig: {exc}".strip()
                    ) from exc
            if counts[table] < 0:  # driver could not tell
                counts[table] = pg.execute(
                    f"SELECT count(*) FROM {quote_ident(staging)}.{quote_ident(table)}"
                ).fetchone()[0]
        t_keys = time.perf_counter()
        pg.execute(f"ANALYZE {', '.join(f'{quote_ident(staging)}.{quote_ident(t)}' for t in wanted)}")
        pg.execute(
            f"COMMENT ON SCHEMA {quote_ident(staging)} IS "
            + _literal(
                f"Integrationsmonitor: veröffentlichte Marts aus {published_db.name}, "
                f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}"
            )
        )
        t_analyze = time.perf_counter()
        grant_to = None
        if reader_role:
            if pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [reader_role]).fetchone():
                grant_to = reader_role
            else:
                log.warning(
                    "Leserolle %s existiert nicht in %s - keine Leserechte vergeben "
                    "(einmalig serve_setup ausführen).", reader_role, where
                )

        if before_swap is not None:
            before_swap(pg, staging)
        # -- the swap: one transaction, readers see the old or the new set
        with pg.transaction():
            if not _lock_live_tables(pg, schema, lock_wait_s):
                holders = _lock_holders(pg, schema)
                raise PostgresPublishError(
                    f"Schema {schema} wird seit {lock_wait_s:g} s von Lesern gesperrt "
                    f"({holders}); der bisherige Stand bleibt veröffentlicht."
                )
            live_exists = pg.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]
            ).fetchone()
            if live_exists:
                pg.execute(f"ALTER SCHEMA {quote_ident(schema)} RENAME TO {quote_ident(old)}")
            pg.execute(f"ALTER SCHEMA {quote_ident(staging)} RENAME TO {quote_ident(schema)}")
            if grant_to:
                pg.execute(f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO {quote_ident(grant_to)}")
                pg.execute(
                    f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote_ident(schema)} TO {quote_ident(grant_to)}"
                )
            if live_exists:
                pg.execute(f"DROP SCHEMA {quote_ident(old)} CASCADE")
            _record_fingerprints(pg, schema, state)
        staging = ""  # it is the live schema now
        t_swap = time.perf_counter()
    except PostgresPublishError:
        raise
    except Exception as exc:  # psycopg, ADBC and DuckDB each have their own hierarchy
        raise PostgresPublishError(
            f"Veröffentlichung nach PostgreSQL ({where}) fehlgeschlagen: {cause_de(exc, dsn)}. "
            "Der DuckDB-Stand ist veröffentlicht; die nächste Aktualisierung, die PostgreSQL "
            "erreicht, holt die Veröffentlichung dort nach."
        ) from exc
    finally:
        if pg is not None:
            if staging:
                try:  # best effort; otherwise the next publish removes it
                    pg.execute(f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE")
                except Exception as exc:
                    log.warning("Staging-Schema %s bleibt bis zur nächsten Veröffentlichung: %s", staging, exc)
            pg.close()  # also releases the advisory lock

    result: dict[str, Any] = dict(counts)
    result["rows_written"] = sum(written.values())
    result["seconds"] = round(time.perf_counter() - started, 3)
    log.info(
        "PostgreSQL-Veröffentlichung (%s): %s; Laden %.2f s, Schlüssel %.2f s, ANALYZE %.2f s, Tausch %.2f s",
        where, result, t_load - started, t_keys - t_load, t_analyze - t_keys, t_swap - t_analyze,
    )
    return result
