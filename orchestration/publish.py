"""Write, audit, publish: the published warehouse is replaced in one atomic step.

The new file is built beside the old one under a temporary name, closed (which
checkpoints it, so no WAL is left), fsynced, and renamed over
`published/monitoring.duckdb`. A reader that has the old file open keeps reading
the old set; a reader that opens afterwards gets the whole new set. A kill before
the rename leaves only a temp file, removed by the next publish.

Only the dbt `marts` schema is copied (aggregates by construction: person-level
models live in `staging`/`intermediate`), plus the refresh history. The history
lives in the published file itself, which makes it the single source of truth of
what was published when, from which file versions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.causes import PipelineStop, duckdb_lock_conflict
from orchestration.settings import pause_point

MARTS_SCHEMA = "marts"
# Column names that must never reach a published table (person-level data).
FORBIDDEN_COLUMNS = {"person_id", "bg_id", "kind_id", "file_sha256_person", "geburtsjahr", "einreisedatum",
                     "untersuchungsdatum"}

REFRESH_LOG_DDL = """
CREATE TABLE IF NOT EXISTS refresh_log (
    refresh_id     VARCHAR,      -- the Dagster run id of the refresh
    published_at   TIMESTAMP,
    mode           VARCHAR,      -- initial | incremental | full | rebuild (docs/architecture.md, "The published warehouse")
    fingerprint    VARCHAR,      -- sha256 over the (file name, checksum) pairs below
    file_count     INTEGER,
    files          VARCHAR,      -- JSON list of {file_type, file_name, period, sha256, accepted_by, accepted_reason}
    acceptances    VARCHAR,      -- JSON list of volume-rule acceptances in this set (who, when, why, checksum)
    checks_passed  INTEGER,
    checks_warned  INTEGER,
    checks_summary VARCHAR,      -- JSON: check name -> passed/warned
    indicator_rows BIGINT,
    duration_s     DOUBLE,
    suppressed_primary   BIGINT,  -- cells suppressed by the primary rule (docs/confidentiality.md)
    suppressed_secondary BIGINT,  -- cells added by the rounds of the secondary rule
    disclosure_audit     VARCHAR  -- outcome of the disclosure audit on exactly this set (German, no values)
)
"""

REFRESH_FILES_DDL = """
CREATE TABLE IF NOT EXISTS refresh_files (
    refresh_id      VARCHAR,
    file_type       VARCHAR,
    file_name       VARCHAR,
    period          VARCHAR,
    sha256          VARCHAR,
    received_at     TIMESTAMP,
    accepted_by     VARCHAR,
    accepted_reason VARCHAR
)
"""


def sql_literal(text: str | Path) -> str:
    """A string (e.g. a path in ATTACH, which takes no bind parameter) as an SQL literal: a data
    dir named `Daten 'alt'` must not end the literal early."""
    return "'" + str(text).replace("'", "''") + "'"


class PublishedFileBusy(PipelineStop):
    """Another process holds the published file open for writing (a reader that forgot read_only)."""


class DisclosureRisk(PipelineStop):
    """The published set would let a suppressed cell be computed back (orchestration/disclosure.py)."""


def busy_error(path: Path, exc: Exception) -> PublishedFileBusy | None:
    """DuckDB's lock conflict on `path` as a one-line German refusal, or None if `exc` is something else."""
    text = duckdb_lock_conflict(path, str(exc))
    return PublishedFileBusy(text) if text else None


def _connect_published(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        busy = busy_error(path, exc)
        if busy is not None:
            raise busy from None
        raise


@dataclass
class PublishedState:
    fingerprint: str | None
    files: set[tuple[str, str]]  # (file name, sha256) the published set was built from
    refresh_id: str | None = None  # the refresh that published it (identifies the set, also after --full)


def read_published_state(published_db: Path) -> PublishedState:
    if not published_db.exists():
        return PublishedState(None, set())
    con = _connect_published(published_db)
    try:
        row = con.execute(
            "SELECT refresh_id, fingerprint FROM refresh_log ORDER BY published_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return PublishedState(None, set())
        # No bound parameter: DuckDB imports pandas (0.3 s) to bind one, on the no-op path.
        files = con.execute(
            "SELECT file_name, sha256 FROM refresh_files WHERE refresh_id = "
            "(SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1)"
        ).fetchall()
        return PublishedState(row[1], {(f[0], f[1]) for f in files}, row[0])
    finally:
        con.close()


def mart_tables(con: duckdb.DuckDBPyConnection, schema: str = MARTS_SCHEMA) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema]
        ).fetchall()
    ]


@dataclass
class StagedPublish:
    """A complete next published set in a temp file beside the published one, not yet visible:
    its refresh_log row has no duration yet. `commit(duration_s)` records the duration, then
    replaces the published file in one atomic rename; `discard()` removes it. Between the two,
    the file may be read (read-only) to build what goes out with it (PostgreSQL, the report), so
    that the duration a refresh records covers them too (issue 20)."""

    path: Path
    published_db: Path
    refresh_id: str
    info: dict

    def commit(self, duration_s: float) -> dict:
        try:
            con = duckdb.connect(str(self.path))
            try:
                con.execute("UPDATE refresh_log SET duration_s = ? WHERE refresh_id = ?",
                            [duration_s, self.refresh_id])
                con.execute("CHECKPOINT")
            finally:
                con.close()
            with open(self.path, "rb") as f:
                os.fsync(f.fileno())
            pause_point("publish")
            os.replace(self.path, self.published_db)
        except BaseException:
            self.discard()
            raise
        dir_fd = os.open(self.published_db.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return self.info

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def stage_publish(
    internal_db: Path,
    published_db: Path,
    *,
    refresh_id: str,
    mode: str,
    versions: list,  # warehouse.FileVersion
    fingerprint: str,
    acceptances: list[dict],
    checks: dict[str, str],
) -> StagedPublish | dict:
    """The next published set as a StagedPublish, or (an incremental refresh built from exactly the
    published file versions) the published set's info with "unchanged": True."""
    published_db.parent.mkdir(parents=True, exist_ok=True)
    for stale in published_db.parent.glob(f".{published_db.name}.tmp-*"):
        stale.unlink()  # left by a publish that was killed
    if mode == "incremental" and read_published_state(published_db).fingerprint == fingerprint:
        # Built from exactly the published file versions (e.g. a byte-identical re-delivery):
        # nothing changed, so the published file stays byte-identical and gets no history row.
        con = _connect_published(published_db)
        try:
            n_rows = con.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        finally:
            con.close()
        return {"tables": tables, "indicator_rows": n_rows, "path": str(published_db), "unchanged": True}
    tmp = published_db.with_name(f".{published_db.name}.tmp-{os.getpid()}")
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"ATTACH {sql_literal(internal_db)} AS internal (READ_ONLY)")
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'internal' AND schema_name = ? "
                "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'internal' AND schema_name = ? "
                "ORDER BY 1",
                [MARTS_SCHEMA, MARTS_SCHEMA],
            ).fetchall()
        ]
        if "indicator_values" not in tables:
            raise RuntimeError("internal warehouse has no marts.indicator_values: dbt build incomplete")
        for t in tables:
            cols = {
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name='internal' "
                    "AND schema_name=? AND table_name=?",
                    [MARTS_SCHEMA, t],
                ).fetchall()
            }
            leaked = cols & FORBIDDEN_COLUMNS
            if leaked:
                raise RuntimeError(f"marts.{t} has person-level columns {sorted(leaked)}: not published")
            con.execute(f'CREATE TABLE main."{t}" AS SELECT * FROM internal.{MARTS_SCHEMA}."{t}"')

        # History: carry over what was published before, then add this refresh.
        con.execute(REFRESH_LOG_DDL)
        con.execute(REFRESH_FILES_DDL)
        if published_db.exists():
            try:
                con.execute(f"ATTACH {sql_literal(published_db)} AS previous (READ_ONLY)")
            except duckdb.Error as exc:
                busy = busy_error(published_db, exc)
                if busy is not None:
                    raise busy from None
                raise
            prev_tables = {r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name='previous'").fetchall()}
            if "refresh_log" in prev_tables:
                con.execute("INSERT INTO refresh_log BY NAME SELECT * FROM previous.refresh_log")
            if "refresh_files" in prev_tables:
                con.execute("INSERT INTO refresh_files BY NAME SELECT * FROM previous.refresh_files")
            con.execute("DETACH previous")
        by_rule = dict(con.execute(
            "SELECT suppression_round > 0, count(*) FROM internal.intermediate.int_indicator_suppression "
            "WHERE is_suppressed GROUP BY 1").fetchall())
        con.execute("DETACH internal")
        # The blocking check no_recoverable_cells ran on the working copy; audited again on what is
        # published now, so refresh_log records the audit of exactly this set.
        from orchestration.disclosure import audit_table

        audit = audit_table(con, "main.indicator_values")
        if not audit.passed:
            raise DisclosureRisk(f"Geheimhaltung verletzt, nichts veröffentlicht: {audit.summary()} "
                                 f"({'; '.join(audit.cell_names(limit=5))})")
        # The evaluation (changes, district position, Zielwerte status) is computed on the
        # suppressed values, so it can never reveal what suppression hides.
        from orchestration.evaluation import add_evaluation
        from orchestration.settings import TARGETS_FILE

        add_evaluation(con, TARGETS_FILE)
        tables = sorted({*tables, "indicator_evaluation", "indicator_targets"})

        files = [
            {
                "file_type": v.file_type, "file_name": v.file_name, "period": v.period, "sha256": v.sha256,
                "accepted_by": v.accepted_by, "accepted_reason": v.accepted_reason,
            }
            for v in versions
        ]
        if versions:
            con.executemany(
                "INSERT INTO refresh_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [refresh_id, v.file_type, v.file_name, v.period, v.sha256, v.received_at,
                     v.accepted_by, v.accepted_reason]
                    for v in versions
                ],
            )
        n_rows = con.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
        con.execute(
            "INSERT INTO refresh_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                refresh_id, datetime.now(), mode, fingerprint, len(versions),
                json.dumps(files, ensure_ascii=False), json.dumps(acceptances, ensure_ascii=False),
                sum(v == "passed" for v in checks.values()), sum(v == "warned" for v in checks.values()),
                json.dumps(checks, ensure_ascii=False), n_rows,
                None,  # duration_s: at the commit
                by_rule.get(False, 0), by_rule.get(True, 0), audit.summary(),
            ],
        )
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    return StagedPublish(tmp, published_db, refresh_id,
                         {"tables": tables, "indicator_rows": n_rows, "path": str(published_db)})
