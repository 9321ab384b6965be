"""The pseudonym key is checked (warehouse.md): the internal warehouse records a fingerprint of
the key its pseudonyms were made with, never the key. A refresh with another key stops before
loading anything; changing the key on purpose is `imon refresh --full --neuer-schluessel`.

The fingerprint is an HMAC of a fixed text with the key: it identifies the key without revealing
it, and it is not the pseudonym of any person id (those are sha256(key:sha256(key:id)))."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import duckdb

from orchestration.causes import PipelineStop

_TEXT = b"integrationsmonitor: fingerprint of the pseudonym key, v1"
DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.pseudonym_key (
    fingerprint VARCHAR NOT NULL,  -- HMAC-SHA256(key, fixed text), never the key
    state       VARCHAR NOT NULL,  -- current | rekey (a key change begun, not yet published)
    recorded_at TIMESTAMP NOT NULL
)
"""

MISMATCH = ("Der Pseudonymisierungsschlüssel (IMON_PSEUDONYM_KEY) ist ein anderer als der, mit dem das "
            "interne Warehouse aufgebaut wurde; nichts geladen. Den bisherigen Schlüssel setzen, oder den "
            "Schlüssel bewusst wechseln: imon refresh --full --neuer-schluessel (baut alles aus dem Archiv "
            "mit dem neuen Schlüssel neu auf).")
UNFINISHED = ("Ein Schlüsselwechsel wurde begonnen, aber nicht abgeschlossen; nichts geladen. Mit dem neuen "
              "Schlüssel wiederholen: imon refresh --full --neuer-schluessel.")


def key_fingerprint(key: str) -> str:
    return hmac.new(key.encode(), _TEXT, hashlib.sha256).hexdigest()


def recorded(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(fingerprint, state) of the internal warehouse, None if it has none (yet)."""
    has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                      "AND table_name = 'pseudonym_key'").fetchone()[0]
    if not has:
        return None
    row = con.execute("SELECT fingerprint, state FROM meta.pseudonym_key ORDER BY recorded_at DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else None


def problem(con: duckdb.DuckDBPyConnection, key: str, rekey: bool = False) -> str | None:
    """Why this key must not be used on this warehouse (German), or None. Read-only."""
    rec = recorded(con)
    if rekey or rec is None:
        return None
    fp, state = rec
    if state == "rekey":
        return UNFINISHED  # whatever the key: only the interrupted rebuild may continue
    return MISMATCH if fp != key_fingerprint(key) else None


def _write(con: duckdb.DuckDBPyConnection, key: str, state: str) -> None:
    con.execute(DDL)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM meta.pseudonym_key")
    con.execute("INSERT INTO meta.pseudonym_key VALUES (?, ?, ?)", [key_fingerprint(key), state, datetime.now()])
    con.execute("COMMIT")


def begin(con: duckdb.DuckDBPyConnection, key: str, rekey: bool = False) -> None:
    """At the start of a refresh (lock held): stop on another key; a warehouse without a
    fingerprint (built before this check existed) adopts the current key once; a key change
    is marked as begun until its rebuild is published (finish)."""
    why = problem(con, key, rekey)
    if why:
        raise PipelineStop(why)
    if rekey:
        _write(con, key, "rekey")
    elif recorded(con) is None:
        _write(con, key, "current")


def finish(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """After a publish: a begun key change is complete."""
    rec = recorded(con)
    if rec is not None and rec[1] == "rekey" and rec[0] == key_fingerprint(key):
        _write(con, key, "current")
