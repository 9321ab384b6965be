"""The internal warehouse's load step on a real DuckDB file: a batch of files replaces its
periods atomically, every row arrives exactly once, and pseudonyms are keyed hashes that
are stable across files and never the provider's id."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration import warehouse as wh
from sources.contracts import load_contracts

C = load_contracts()["jobcenter"]
KEY = "test-key-0123456789"


def table(period: str, ids: list[str]) -> pa.Table:
    n = len(ids)
    cols = {c.name: pa.nulls(n, pa.string()) for c in C.columns}
    cols.update(berichtsmonat=pa.array([period] * n), person_id=pa.array(ids), bg_id=pa.array([f"bg{i}" for i in ids]),
                geburtsjahr=pa.array([1980] * n, pa.int32()))
    for c in C.columns:
        if c.type == "flag":
            cols[c.name] = pa.array([False] * n)
    return pa.table([cols[c.name] for c in C.columns], names=C.column_names)


def version(period: str, sha: str) -> wh.FileVersion:
    return wh.FileVersion("jobcenter", f"jobcenter_{period}.csv", period, sha, 0, (), dt.datetime.now(), "x")


def test_batch_load_rows_once_and_stable_pseudonyms(tmp_path):
    con = wh.connect(tmp_path / "internal.duckdb")
    # The same persons in three months, one batch: each row exactly once.
    ids = [f"p{i}" for i in range(500)]
    wh.load_files(con, C, [(table(p, ids), version(p, p * 2)) for p in ("2024-01", "2024-02", "2024-03")], KEY,
                  gate_passed=[("2024-01" * 2, "jobcenter_2024-01.csv", 0)])
    rows = con.execute("SELECT period, count(*), count(DISTINCT person_id) FROM raw.jobcenter GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("2024-01", 500, 500), ("2024-02", 500, 500), ("2024-03", 500, 500)]
    # Stable across files, never the raw id, different ids stay different.
    assert con.execute("SELECT count(DISTINCT person_id) FROM raw.jobcenter").fetchone()[0] == 500
    assert con.execute("SELECT count(*) FROM raw.jobcenter WHERE person_id LIKE 'p%' OR bg_id LIKE 'bg%'").fetchone()[0] == 0
    assert wh.passed_files(con) == {("jobcenter_2024-01.csv", "2024-01" * 2)}
    # A re-delivery replaces its period's rows only, and the registry points at it.
    wh.load_files(con, C, [(table("2024-02", ids[:10]), version("2024-02", "new"))], KEY)
    rows = con.execute("SELECT period, count(*) FROM raw.jobcenter GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("2024-01", 500), ("2024-02", 10), ("2024-03", 500)]
    assert {v.period: v.sha256 for v in wh.current_versions(con)}["2024-02"] == "new"
    con.close()


def test_a_failed_batch_changes_nothing(tmp_path):
    con = wh.connect(tmp_path / "internal.duckdb")
    wh.load_files(con, C, [(table("2024-01", ["a", "b"]), version("2024-01", "s1"))], KEY)
    with pytest.raises(ValueError):  # two files for one period in one batch
        wh.load_files(con, C, [(table("2024-01", ["c"]), version("2024-01", "s2")),
                               (table("2024-01", ["d"]), version("2024-01", "s3"))], KEY)
    broken = table("2024-02", ["x"]).drop_columns(["bg_id"])  # not the contract's columns
    with pytest.raises(Exception):
        wh.load_files(con, C, [(table("2024-01", ["c"]), version("2024-01", "s4")), (broken, version("2024-02", "s5"))], KEY)
    assert con.execute("SELECT period, count(*) FROM raw.jobcenter GROUP BY 1").fetchall() == [("2024-01", 2)]
    assert [v.sha256 for v in wh.current_versions(con)] == ["s1"]
    con.close()


def test_ingest_batches_keep_order_and_bound_size():
    """Ingest batches: every file once, in order, at most INGEST_BATCH_BYTES unless a single
    file is bigger (it then forms a batch of its own)."""
    from orchestration.ingest import INGEST_BATCH_BYTES, _batches

    mb = 1024 * 1024
    sizes = [9 * mb] * 11 + [200 * mb] + [10_000] * 300
    batches = _batches(list(range(len(sizes))), lambda i: sizes[i])
    assert [i for b in batches for i in b] == list(range(len(sizes)))
    for b in batches:
        assert len(b) == 1 or sum(sizes[i] for i in b) <= INGEST_BATCH_BYTES
    assert [11] in batches  # the oversize file alone
    assert len(batches[-1]) == 300  # many small files share one batch (one GX pass, one transaction)
    assert _batches([], lambda i: 0) == []
