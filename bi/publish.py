"""Bring the PostgreSQL serving schema up to the current published set (first step of `make bi`).

Runs in the project venv (psycopg, ADBC). The serving database (IMON_BI_SERVING_DSN, else
IMON_POSTGRES_DSN, else a local `imon_serving`) is created when missing, the read-only
reader role is set up (`imon serve-setup`) and the published DuckDB file is published there
with the same atomic swap a refresh uses. Superset then reads it as the reader role only.
"""

from __future__ import annotations

import sys

from bi.settings import get_bi_settings
from orchestration.serving import PostgresPublishError, publish_to_postgres, serve_setup


def ensure_database(url: str) -> None:
    """CREATE DATABASE for the URL's database if it does not exist (needs CREATEDB there)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise ValueError(f"keine Datenbank in {url!r} angegeben")
    try:
        with psycopg.connect(url, connect_timeout=5):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"Datenbank {name} angelegt.")


def main() -> int:
    s = get_bi_settings()
    if not s.published_db.exists():
        print(f"FEHLER: kein veröffentlichter Stand in {s.published_db}: erst `make run` (imon refresh).")
        return 1
    try:
        ensure_database(s.serving_dsn)
        ensure_database(s.metadata_dsn)
        serve_setup(s.serving_dsn, reader_role=s.reader_role, password=s.reader_password)
        counts = publish_to_postgres(s.published_db, s.serving_dsn, reader_role=s.reader_role)
    except (PostgresPublishError, ValueError) as exc:
        print(f"FEHLER: {exc}")
        return 1
    print(f"Veröffentlichter Stand in PostgreSQL (Schema monitoring, Leserolle {s.reader_role}): "
          f"{counts.get('indicator_values', 0)} Werte.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
