"""The run history's storage (orchestration/dagster_storage.py): Dagster's SQLite files, written
on pooled connections. What a refresh wrote must be what Dagster's own SQLite storage reads, so
`storage: sqlite` can be put back, and the pooled storage must behave as the stock one."""

from __future__ import annotations

import threading

import dagster as dg
import yaml
from dagster import DagsterInstance

from conftest import REPO


def _instance(home, storage: dict) -> DagsterInstance:
    (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": storage, "telemetry": {"enabled": False}}))
    return DagsterInstance.from_config(str(home))


def test_the_instance_uses_the_pooled_storage(tmp_path, monkeypatch):
    from orchestration.dagster_storage import PooledSqliteEventLogStorage
    from orchestration.instance import get_instance
    from orchestration.settings import get_settings

    monkeypatch.setenv("IMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IMON_DAGSTER_PG_URL", raising=False)
    instance = get_instance(get_settings())
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    assert "orchestration.dagster_storage" in (REPO / "dagster.yaml").read_text()


def test_a_refresh_history_reads_with_dagsters_own_sqlite_storage(refreshed, tmp_path):
    """The run, its events, the asset materializations and check results of the real refresh
    (session fixture) as the stock `storage: sqlite` sees them."""
    import shutil

    base = tmp_path / "history"
    shutil.copytree(refreshed / "data" / "dagster", base)
    stock = _instance(tmp_path, {"sqlite": {"base_dir": str(base)}})
    runs = stock.get_runs()
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    records = stock.get_records_for_run(runs[0].run_id, limit=10_000).records
    types = {r.event_log_entry.dagster_event_type for r in records if r.event_log_entry.is_dagster_event}
    assert {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.ASSET_CHECK_EVALUATION} <= types
    published = stock.get_latest_materialization_event(dg.AssetKey("published_warehouse"))
    assert published is not None and published.run_id == runs[0].run_id
    # the index shard's check table (the UI's check history) was written too
    gate = stock.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(["raw", "jobcenter"]), "gate"), limit=5)
    assert gate and gate[0].run_id == runs[0].run_id


def test_pooled_storage_writes_reads_from_threads_and_survives_a_wipe(tmp_path):
    base = tmp_path / "history"
    pooled = _instance(tmp_path, {"custom": {"module": "orchestration.dagster_storage",
                                             "class": "PooledSqliteStorage", "config": {"base_dir": str(base)}}})
    other = DagsterInstance.from_config(str(tmp_path))  # another process's view of the same files
    pooled.report_runless_asset_event(dg.AssetMaterialization(asset_key="a"))
    errors = []

    def in_thread():  # the webserver's event watcher reads from another thread
        try:
            pooled.report_runless_asset_event(dg.AssetMaterialization(asset_key="b"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert not errors
    assert other.get_latest_materialization_event(dg.AssetKey("b")) is not None
    pooled.event_log_storage.wipe()
    assert pooled.get_latest_materialization_event(dg.AssetKey("a")) is None
    pooled.report_runless_asset_event(dg.AssetMaterialization(asset_key="c"))
    assert other.get_latest_materialization_event(dg.AssetKey("c")) is not None
    pooled.dispose()


def test_pooled_storage_does_not_sync_the_disk_at_every_commit(tmp_path):
    """WAL with synchronous=NORMAL on the pooled connections (the stock storage syncs twice per
    event); the files stay in WAL mode, which another process's stock storage reads."""
    import sqlalchemy as sa

    base = tmp_path / "history"
    pooled = _instance(tmp_path, {"custom": {"module": "orchestration.dagster_storage",
                                             "class": "PooledSqliteStorage", "config": {"base_dir": str(base)}}})
    pooled.report_runless_asset_event(dg.AssetMaterialization(asset_key="a"))
    storage = pooled.event_log_storage
    with storage._connect("index") as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    other = DagsterInstance.from_config(str(tmp_path))
    assert other.get_latest_materialization_event(dg.AssetKey("a")) is not None
    pooled.dispose()
