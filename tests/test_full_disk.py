"""A full disk says so: the data folder on a real, size-limited file system (tmpfs).

A refresh that runs out of space must end with the full disk in words (which disk, how much is
free and needed, that nothing is lost, what to do), not with the storage engine's words
(`OperationalError: disk I/O error`); the mail says the same. After the space is freed the
next refresh publishes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time

import duckdb
import pytest

from conftest import imon


def _mount_tmpfs(where, size_kb: int) -> None:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root/CAP_SYS_ADMIN): {proc.stderr.strip()}")


def _resize(where, size_kb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(where)], check=True)


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, 200 * 1024)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_is_named_with_free_and_needed_space(refreshed, next_month_files, small_disk, tmp_path):
    from aiosmtpd.controller import Controller

    from conftest import env_for
    from test_notify import Inbox, _deliver, _free_port

    data, landing = small_disk / "data", tmp_path / "landing"
    shutil.copytree(refreshed / "data", data, ignore=shutil.ignore_patterns("*.lock"))
    landing.mkdir()
    for f in next_month_files.values():
        _deliver(f, landing)
    used_kb = shutil.disk_usage(small_disk).used // 1024
    _resize(small_disk, used_kb + 3 * 1024)  # 3 MB left: less than a new copy of the published set
    published = data / "published" / "monitoring.duckdb"
    before = _sha(published)

    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    try:
        env = env_for(data, landing, IMON_NOTIFY_SMTP=f"127.0.0.1:{ctl.port}", IMON_NOTIFY_FROM="imon@x.example",
                      IMON_NOTIFY_TO="daten@x.example", IMON_TODAY="2025-02-25")
        proc = imon("refresh", env=env)
        time.sleep(0.3)
    finally:
        ctl.stop()
    out = proc.stdout.strip().splitlines()
    fehler = next(ln for ln in out if ln.startswith("FEHLER: "))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert fehler.startswith(f"FEHLER: Kein Speicherplatz mehr auf dem Datenträger: der Datenträger von "
                             f"IMON_DATA_DIR ({data}) ist voll, frei "), fehler
    assert "eine Aktualisierung braucht etwa " in fehler and "Platz schaffen" in fehler
    assert "disk I/O error" not in fehler and "OperationalError" not in fehler
    assert _sha(published) == before  # the published set is unchanged
    # nothing lost: every new file is archived or still in the inbox
    for f in next_month_files.values():
        assert list((data / "archive").rglob(f"{f.stem}.*{f.suffix}")) or list(landing.rglob(f.name)), f.name
    assert len(inbox.messages) == 1 and fehler.removeprefix("FEHLER: ") in inbox.messages[0]["text"]
    assert inbox.messages[0]["subject"].startswith("[Integrationsmonitor] FEHLER: Kein Speicherplatz mehr")

    _resize(small_disk, 200 * 1024)  # space freed: the next refresh publishes the new month
    env.pop("IMON_NOTIFY_SMTP")
    proc = imon("refresh", env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    con = duckdb.connect(str(published), read_only=True)
    try:
        periods = {r[0] for r in con.execute("SELECT DISTINCT period FROM refresh_files").fetchall()}
    finally:
        con.close()
    assert "2025-02" in periods


def test_sqlite_and_duckdb_errors_on_a_full_disk_are_named(small_disk, monkeypatch):
    """The exceptions the storage engines really raise when the disk fills (SQLite: Dagster's
    run storage; DuckDB: the warehouse), mapped on that disk; on a disk with room, SQLite's
    I/O error is not called a full disk."""
    import sqlite3

    from orchestration.causes import from_exception, from_message

    _resize(small_disk, 1024)  # 1 MB
    monkeypatch.setenv("IMON_DATA_DIR", str(small_disk))
    con = sqlite3.connect(small_disk / "runs.db")
    con.execute("CREATE TABLE t (x BLOB)")
    with pytest.raises(sqlite3.Error) as err:
        for _ in range(100):
            con.execute("INSERT INTO t VALUES (randomblob(65536))")
            con.commit()
    con.close()
    line = from_message(type(err.value).__name__, str(err.value))
    assert line.startswith(f"Kein Speicherplatz mehr auf dem Datenträger: der Datenträger von IMON_DATA_DIR "
                           f"({small_disk}) ist voll, frei "), (str(err.value), line)
    with pytest.raises(duckdb.Error) as derr:
        dcon = duckdb.connect(str(small_disk / "w.duckdb"))
        dcon.execute("CREATE TABLE t AS SELECT range AS x, md5(range::VARCHAR) AS y FROM range(2000000)")
        dcon.execute("CHECKPOINT")
    assert from_exception(derr.value).startswith("Kein Speicherplatz mehr auf dem Datenträger"), str(derr.value)
    for f in small_disk.iterdir():
        f.unlink()
    _resize(small_disk, 200 * 1024)
    assert from_message("OperationalError", "disk I/O error") == "OperationalError: disk I/O error"
