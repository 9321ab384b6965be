"""New code takes effect by itself (issue 12): a fingerprint of the project code the indicator set
is built from, so a deployed change of the dbt project, the indicator catalogue or the contracts
makes the next refresh rebuild every model (dbt --full-refresh; raw tables are not reloaded).

Cheap (hashes a few hundred small files, no heavy imports): it runs on the no-op path."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT

# What the published numbers depend on besides the data. profiles.yml is left out: it names the
# warehouse path, not how figures are computed.
DBT_PARTS = ("models", "macros", "seeds", "tests", "snapshots", "analyses", "dbt_project.yml")
OTHER_FILES = ("sources/indicators.yml", "sources/contracts.yml")

DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.project_code (
    fingerprint VARCHAR NOT NULL,  -- code_fingerprint() of the last published build
    recorded_at TIMESTAMP NOT NULL
)
"""


def code_files(dbt_dir: Path = DBT_PROJECT_DIR, repo: Path = REPO_ROOT) -> list[tuple[str, Path]]:
    out = []
    for part in DBT_PARTS:
        p = dbt_dir / part
        if p.is_file():
            out.append((f"dbt_project/{part}", p))
        elif p.is_dir():
            out.extend((f"dbt_project/{f.relative_to(dbt_dir).as_posix()}", f)
                       for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    out.extend((name, repo / name) for name in OTHER_FILES if (repo / name).is_file())
    return sorted(out)


def code_fingerprint(dbt_dir: Path = DBT_PROJECT_DIR, repo: Path = REPO_ROOT) -> str:
    h = hashlib.sha256()
    for name, path in code_files(dbt_dir, repo):
        h.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def recorded(con: duckdb.DuckDBPyConnection) -> str | None:
    has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                      "AND table_name = 'project_code'").fetchone()[0]
    if not has:
        return None
    row = con.execute("SELECT fingerprint FROM meta.project_code ORDER BY recorded_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


def changed(con: duckdb.DuckDBPyConnection) -> bool:
    """The models in this warehouse were built from other code than the current (or from code
    not recorded: an installation from before this check rebuilds once)."""
    return recorded(con) != code_fingerprint()


def record(con: duckdb.DuckDBPyConnection, fingerprint: str) -> None:
    con.execute(DDL)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM meta.project_code")
    con.execute("INSERT INTO meta.project_code VALUES (?, ?)", [fingerprint, datetime.now()])
    con.execute("COMMIT")
