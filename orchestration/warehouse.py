"""The internal DuckDB warehouse: typed raw tables and the file registry.

Person-level rows live here and nowhere else. Schema `raw` holds one table per
file type (columns from sources/contracts.yml plus `period` and `file_sha256`);
schema `meta` records which version of which file each period was loaded from.
dbt builds its models into the same file afterwards.

A file is loaded in one transaction: its period's rows replaced and the registry
updated together, so a refresh killed at any point leaves either the old or the
new version of that period, never a mix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from sources.contracts import Contract, load_contracts

DUCKDB_TYPES = {
    "month": "VARCHAR",
    "school_year": "VARCHAR",
    "text": "VARCHAR",
    "code": "VARCHAR",
    "ags": "VARCHAR",
    "pseudonym": "VARCHAR",
    "date": "DATE",
    "int": "INTEGER",
    "count": "INTEGER",
    "flag": "BOOLEAN",
}

META_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.file_versions (
    file_type    VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,
    period       VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL,
    row_count    BIGINT NOT NULL,
    ags          VARCHAR[],
    received_at  TIMESTAMP NOT NULL,
    archive_path VARCHAR NOT NULL,
    is_current   BOOLEAN NOT NULL,
    accepted_by  VARCHAR,
    accepted_reason VARCHAR,
    PRIMARY KEY (file_name, sha256)
);
-- The periods dbt's incremental aggregates re-aggregate in the next build (write_changed_periods;
-- dbt's on-run-start hook creates the same table where dbt runs on a database without it).
CREATE TABLE IF NOT EXISTS meta.changed_periods (
    file_type    VARCHAR,
    period       VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.gate_passed (
    sha256       VARCHAR PRIMARY KEY,
    file_name    VARCHAR NOT NULL,
    validated_at TIMESTAMP NOT NULL,
    warnings     INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class FileVersion:
    file_type: str
    file_name: str
    period: str
    sha256: str
    row_count: int
    ags: tuple[str, ...]
    received_at: datetime
    archive_path: str
    accepted_by: str | None = None
    accepted_reason: str | None = None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def connect(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if read_only:
        return duckdb.connect(str(db_path), read_only=True)
    con = duckdb.connect(str(db_path))
    con.execute(META_DDL)
    for contract in load_contracts().values():
        con.execute(_raw_ddl(contract))
    return con


def _raw_ddl(contract: Contract) -> str:
    cols = ",\n    ".join(f"{c.name} {DUCKDB_TYPES[c.type]}" for c in contract.columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {contract.raw_table} (\n    {cols},\n"
        "    period VARCHAR NOT NULL,\n    file_sha256 VARCHAR NOT NULL\n)"
    )


def current_versions(con: duckdb.DuckDBPyConnection) -> list[FileVersion]:
    rows = con.execute(
        """SELECT file_type, file_name, period, sha256, row_count, ags, received_at,
                  archive_path, accepted_by, accepted_reason
           FROM meta.file_versions WHERE is_current ORDER BY file_type, period"""
    ).fetchall()
    return [
        FileVersion(r[0], r[1], r[2], r[3], r[4], tuple(r[5] or ()), r[6], r[7], r[8], r[9])
        for r in rows
    ]


def passed_files(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(file name, checksum) of the files that passed the gate. The name counts too: the same
    bytes under another name are another file type or period and are gated as such (rule 5
    checks the period in the content against the name). meta.gate_passed keeps the first name
    of a checksum only, so such a copy that passes is gated again when delivered again."""
    return {(r[0], r[1]) for r in con.execute("SELECT file_name, sha256 FROM meta.gate_passed").fetchall()}


def record_passed(con: duckdb.DuckDBPyConnection, sha256: str, file_name: str, warnings: int) -> None:
    con.execute(
        "INSERT OR IGNORE INTO meta.gate_passed VALUES (?, ?, ?, ?)",
        [sha256, file_name, datetime.now(), warnings],
    )


def write_changed_periods(con: duckdb.DuckDBPyConnection, published: set[tuple[str, str]]) -> None:
    """meta.changed_periods := the (file type, period) whose current file version is not in the
    published set (file name, checksum), in one transaction. Data, not a dbt var: the dbt
    command line stays the same every night, so dbt can parse partially."""
    rows = sorted({(v.file_type, v.period) for v in current_versions(con) if (v.file_name, v.sha256) not in published})
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM meta.changed_periods")
        if rows:
            con.executemany("INSERT INTO meta.changed_periods VALUES (?, ?)", rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def pseudonymise_sql(column: str) -> str:
    """Keyed hash of a provider pseudonym, computed vectorised in DuckDB.

    sha256(key || sha256(key || id)): the nested form is not open to length
    extension, and without the key the provider's ids cannot be re-linked.
    The key is bound as parameter $key, never written into SQL text or logs.
    """
    return f"sha256($key || ':' || sha256($key || ':' || {column}))"


def load_files(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    items: list,  # [(pyarrow.Table with the contract's typed columns (+ `_line`), FileVersion)]
    pseudonym_key: str,
    gate_passed: list[tuple[str, str, int]] = (),  # (sha256, file_name, warnings) to record
) -> None:
    """Replace the periods of raw.<file_type> with these files and register them, atomically:
    one transaction for the batch, so each period holds either its old or its new rows."""
    if not items:
        return
    periods = [v.period for _, v in items]
    if len(set(periods)) != len(periods):
        raise ValueError(f"{contract.file_type}: zwei Dateien für denselben Zeitraum in einem Ladevorgang")
    loaded = {r[0] for r in con.execute(
        "SELECT period FROM meta.file_versions WHERE is_current AND file_type = ?", [contract.file_type]).fetchall()}
    con.execute("BEGIN TRANSACTION")
    try:
        replaced = [p for p in periods if p in loaded]
        if replaced:
            con.execute(f"DELETE FROM {contract.raw_table} WHERE period IN (SELECT unnest($p::VARCHAR[]))",
                        {"p": replaced})
        insert_rows(con, contract, items, pseudonym_key, contract.raw_table)
        for _, v in items:
            con.execute(
                "UPDATE meta.file_versions SET is_current = false WHERE file_type = ? AND period = ?",
                [v.file_type, v.period],
            )
            con.execute(
                """INSERT OR REPLACE INTO meta.file_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, true, ?, ?)""",
                [
                    v.file_type, v.file_name, v.period, v.sha256, v.row_count, list(v.ags), v.received_at,
                    v.archive_path, v.accepted_by, v.accepted_reason,
                ],
            )
        for sha, file_name, warnings in gate_passed:
            record_passed(con, sha, file_name, warnings)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def insert_rows(con: duckdb.DuckDBPyConnection, contract: Contract, items: list, pseudonym_key: str,
                target: str) -> None:
    """Append the rows of typed file tables to `target` (a raw table or its rebuild copy), with
    period and checksum columns and the pseudonyms re-keyed. Each distinct id of the batch is
    hashed once (a monthly stock repeats the same persons every month) and joined back."""
    import pyarrow as pa

    names = contract.column_names
    tables = []
    for table, v in items:
        t = table.select(names)
        t = t.append_column("period", pa.repeat(pa.scalar(v.period, pa.string()), t.num_rows))
        tables.append(t.append_column("file_sha256", pa.repeat(pa.scalar(v.sha256, pa.string()), t.num_rows)))
    pseudo = [c.name for c in contract.columns if c.type == "pseudonym"]
    select = [f'"_h_{c}".h AS {c}' if c in pseudo else f"b.{c}" for c in names] + ["b.period", "b.file_sha256"]
    joins = " ".join(f'LEFT JOIN _pseudonyms AS "_h_{c}" ON "_h_{c}".id = b.{c}' for c in pseudo)
    con.register("incoming_batch", pa.concat_tables(tables))
    try:
        if pseudo:
            # DISTINCT ids: the join below must find exactly one hash per id.
            ids = " UNION ".join(f"SELECT DISTINCT {c} AS id FROM incoming_batch" for c in pseudo)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _pseudonyms AS SELECT id, {pseudonymise_sql('id')} AS h "
                        f"FROM (SELECT DISTINCT id FROM ({ids}) WHERE id IS NOT NULL)", {"key": pseudonym_key})
        con.execute(f"INSERT INTO {target} SELECT {', '.join(select)} FROM incoming_batch AS b {joins} "
                    "ORDER BY b.period")
        if pseudo:
            con.execute("DROP TABLE _pseudonyms")
    finally:
        con.unregister("incoming_batch")


def rebuild_table(contract: Contract) -> str:
    """Where a full rebuild assembles a raw table before swapping it in (see swap_rebuilt)."""
    return f"{contract.raw_table}__rebuild"


def start_rebuild(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    target = rebuild_table(contract)
    con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {contract.raw_table} LIMIT 0")
    return target


def swap_rebuilt(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """The rebuilt copy replaces the raw table in one transaction: a rebuild killed before this
    leaves the old table whole (and a stale copy the next rebuild replaces)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DROP TABLE {contract.raw_table}")
        con.execute(f"ALTER TABLE {rebuild_table(contract)} RENAME TO {contract.raw_table.split('.')[-1]}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def fingerprint(versions: list[FileVersion]) -> str:
    """One checksum over the set of file versions an indicator set is built from."""
    items = sorted((v.file_name, v.sha256) for v in versions)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()
