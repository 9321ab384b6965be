"""The run history's SQLite storage, with the event log kept on open connections.

Dagster's SqliteEventLogStorage creates a SQLAlchemy engine, opens a SQLite connection and
disposes both for every statement it runs: about six times per event (the event, its mirror in
the index shard, two schema probes), ~1 ms each. A refresh writes 400-600 events, so this alone
cost 2-3 s of every refresh (issue 20). This subclass keeps one engine with a small pool per
shard, remembers the schema probes that have answered yes and does not sync the disk at every
commit (below). Files, tables and transactions are the ones Dagster writes: a history written by either class is read by the other, and
`storage: sqlite` in dagster.yaml can be put back at any time.

Other processes (dagster dev, the daemon) open the same files; SQLite's file locks are per
transaction, and a pooled connection between transactions holds none.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy import event


def _no_fsync_per_commit(dbapi_connection, _record) -> None:
    """Dagster keeps the event log in WAL mode; its default `synchronous=FULL` syncs the disk at
    every commit, two per event (~1 ms each here, ~0.8 s per refresh). NORMAL is what SQLite
    recommends with WAL: a power cut can lose the last events of a run, never the file's
    consistency. The published set and its refresh_log do not live here."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        self._engines: dict = {}
        self._engines_lock = threading.Lock()
        self._known: set[tuple[str, str]] = set()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str):
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is None:
                # pool_size 1: the storage serialises its statements (self._db_lock); overflow
                # connections (never expected) are closed when returned.
                engine = create_engine(self.conn_string_for_shard(shard), pool_size=1, max_overflow=4,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                event.listen(engine, "connect", _no_fsync_per_commit)
                self._engines[shard] = engine
            return engine

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def _forget_engines(self) -> None:
        with self._engines_lock:
            engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.dispose()

    # Schema probes: a migration only ever adds these, so a yes stays a yes in this process.
    def has_secondary_index(self, name: str) -> bool:
        return self._remember_yes(("index", name), super().has_secondary_index)

    def has_asset_key_col(self, column_name: str) -> bool:
        return self._remember_yes(("column", column_name), super().has_asset_key_col)

    def _remember_yes(self, key: tuple[str, str], probe) -> bool:
        if key in self._known:
            return True
        found = probe(key[1])
        if found:
            self._known.add(key)
        return found

    # Files deleted or rewritten underneath: drop the connections that point at them.
    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        self._forget_engines()

    def wipe(self) -> None:
        self._forget_engines()
        self._known.clear()
        super().wipe()
        self._forget_engines()

    def upgrade(self) -> None:
        self._forget_engines()
        super().upgrade()

    def dispose(self) -> None:
        super().dispose()
        self._forget_engines()


class PooledSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` with the event log above; run and schedule storage unchanged."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage.dispose()
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)
