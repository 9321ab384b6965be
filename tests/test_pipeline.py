"""The backbone end to end: what one real `imon refresh` of 25 months of extracts publishes.

Everything here reads the session fixture `refreshed` (one real refresh in a subprocess) or a
private clone of it; the published figures are compared with the independent pandas oracle.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import NEXT_MONTH, REPO, env_for, imon
from oracle import compute_indicators
from sources import catalogue

REFERENCE = REPO / "dbt_project" / "seeds"
KEY = ["indicator_id", "period", "region_code", "group_code"]
# Tables the publish step writes beside the dbt marts (orchestration/publish.py, evaluation.py).
PUBLISH_TABLES = {"refresh_log", "refresh_files", "indicator_evaluation", "indicator_targets"}
PERSON_COLUMNS = {"person_id", "bg_id", "geburtsjahr", "einreisedatum"}
HEX64 = r"[0-9a-f]{64}"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def extract_files(root: Path) -> dict[str, Path]:
    return {p.name: p for p in root.rglob("*") if p.is_file()}


def published(root: Path) -> Path:
    return root / "data" / "published" / "monitoring.duckdb"


@pytest.fixture(scope="module")
def pub(refreshed):
    con = duckdb.connect(str(published(refreshed)), read_only=True)
    yield con
    con.close()


def tables_of(con) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]


# --- the figures ------------------------------------------------------------------------------


def test_published_indicators_equal_the_oracle(pub, base_extracts):
    got = pub.execute("SELECT * FROM indicator_values").df()
    want = compute_indicators(base_extracts, REFERENCE)
    assert set(got["indicator_id"]) == set(want["indicator_id"])
    assert set(want["indicator_id"]) == {i.id for i in catalogue.load().indicators}
    m = got.merge(want, on=KEY, how="outer", suffixes=("_pub", "_oracle"), indicator=True)
    only = m[m["_merge"] != "both"]
    assert only.empty, f"{len(only)} rows only on one side:\n{only[KEY + ['_merge']].head(20)}"
    for col in ("numerator", "denominator", "value"):
        a, b = m[f"{col}_pub"].astype(float), m[f"{col}_oracle"].astype(float)
        bad = ~((a.isna() & b.isna()) | (np.abs(a - b) <= 1e-9))
        assert not bad.any(), f"{col} differs in {bad.sum()} rows:\n{m.loc[bad, KEY + [f'{col}_pub', f'{col}_oracle']].head(20)}"
    for col in ("unit", "region_name"):
        bad = m[f"{col}_pub"] != m[f"{col}_oracle"]
        assert not bad.any(), m.loc[bad, KEY + [f"{col}_pub", f"{col}_oracle"]].head(20)
    bad = m["is_suppressed_pub"].astype(bool) != m["is_suppressed_oracle"].astype(bool)
    assert not bad.any(), m.loc[bad, KEY].head(20)
    bad = pd.to_datetime(m["period_end_pub"]) != pd.to_datetime(m["period_end_oracle"])
    assert not bad.any(), m.loc[bad, KEY + ["period_end_pub", "period_end_oracle"]].head(20)


def test_indicator_values_key_is_unique(pub):
    dupes = pub.execute(f"""SELECT {', '.join(KEY)}, count(*) FROM indicator_values
                            GROUP BY ALL HAVING count(*) > 1 LIMIT 5""").fetchall()
    assert dupes == []
    assert pub.execute("SELECT count(*) FROM indicator_values").fetchone()[0] > 1000


# --- aggregates only -------------------------------------------------------------------------


def test_only_expected_tables(pub):
    marts = {p.stem for p in (REPO / "dbt_project" / "models" / "marts").glob("*.sql")}
    tables = set(tables_of(pub))
    assert {"indicator_values", "indicators", "refresh_log", "refresh_files"} <= tables
    assert tables <= marts | PUBLISH_TABLES, f"unexpected tables: {sorted(tables - marts - PUBLISH_TABLES)}"
    # nothing but schema main (no copied staging/intermediate/raw schemas)
    schemas = {r[0] for r in pub.execute(
        "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    assert schemas == {"main"}


def test_no_person_level_columns_or_values(pub, refreshed, base_extracts):
    cols = pub.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'main'").fetchall()
    leaked = [(t, c) for t, c, _ in cols if c.lower() in PERSON_COLUMNS]
    assert leaked == []

    # The pseudonyms as stored internally (64 hex) and as the providers delivered them.
    internal = duckdb.connect(str(refreshed / "data" / "warehouse" / "internal.duckdb"), read_only=True)
    try:
        ours = {r[0] for r in internal.execute(
            "SELECT person_id FROM raw.jobcenter UNION SELECT bg_id FROM raw.jobcenter "
            "UNION SELECT person_id FROM raw.abh_bestand UNION SELECT person_id FROM raw.abh_einbuergerungen"
        ).fetchall()}
    finally:
        internal.close()
    assert len(ours) > 1000 and all(len(p) == 64 for p in list(ours)[:100])
    theirs = set()
    for f in (base_extracts / "jobcenter").glob("*.csv"):
        frame = pd.read_csv(f, sep=";", dtype=str, encoding="utf-8-sig")
        frame.columns = [c.strip().lower() for c in frame.columns]  # headers may carry blanks
        theirs |= set(frame["person_id"].dropna()) | set(frame["bg_id"].dropna())
    assert theirs

    checksums = {sha256(p) for p in extract_files(base_extracts).values()}
    fingerprints = {r[0] for r in pub.execute("SELECT fingerprint FROM refresh_log").fetchall()}
    for t, c, typ in cols:
        if typ != "VARCHAR":
            continue
        # every 64-hex string anywhere (also inside JSON text) must be a file checksum or fingerprint
        hexes = {r[0] for r in pub.execute(
            f'SELECT DISTINCT unnest(regexp_extract_all(lower("{c}"), \'{HEX64}\')) FROM "{t}"').fetchall()}
        assert not hexes & ours, f"{t}.{c} holds internal pseudonyms"
        assert hexes <= checksums | fingerprints, f"{t}.{c}: unexplained 64-hex values {sorted(hexes)[:3]}"
        values = {r[0] for r in pub.execute(f'SELECT DISTINCT "{c}" FROM "{t}"').fetchall()}
        assert not values & theirs, f"{t}.{c} holds provider pseudonyms"


# --- history and archive ----------------------------------------------------------------------


def test_refresh_log_names_every_file_with_its_checksum(pub, base_extracts):
    files = extract_files(base_extracts)
    want = {name: sha256(p) for name, p in files.items()}
    rows = pub.execute("SELECT refresh_id, file_count, files, indicator_rows FROM refresh_log").fetchall()
    assert len(rows) == 1
    refresh_id, count, files_json, n = rows[0]
    assert count == len(want)
    assert {f["file_name"]: f["sha256"] for f in json.loads(files_json)} == want
    assert n == pub.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
    got = dict(pub.execute("SELECT file_name, sha256 FROM refresh_files WHERE refresh_id = ?", [refresh_id]).fetchall())
    assert got == want


def test_archive_holds_every_file_unchanged(refreshed, base_extracts):
    from sources.contracts import identify

    archive = refreshed / "data" / "archive"
    files = extract_files(base_extracts)
    # content-addressed: <provider>/<stem>.<first 16 hex of sha256><suffix>; two files with the
    # same bytes (e.g. header-only naturalisation months) are still two archive entries
    for name, src in files.items():
        contract, _ = identify(src)
        digest = sha256(src)
        archived = archive / contract.provider / f"{src.stem}.{digest[:16]}{src.suffix}"
        assert archived.exists(), f"{name} not archived"
        assert sha256(archived) == digest
    assert len([p for p in archive.rglob("*") if p.is_file()]) == len(files)
    # the inbox was emptied: every file went to the archive, none to quarantine
    assert not [p for p in (refreshed / "landing").rglob("*") if p.is_file()]
    assert not (refreshed / "data" / "quarantine").exists() or not any((refreshed / "data" / "quarantine").iterdir())


# --- refresh behaviour ------------------------------------------------------------------------


def test_noop_refresh_is_fast_and_changes_nothing(clone_state):
    data, landing, env = clone_state()
    pub_file = data / "published" / "monitoring.duckdb"
    before = sha256(pub_file)
    t0 = time.perf_counter()
    proc = imon("refresh", env=env, check_rc=0)
    seconds = time.perf_counter() - t0
    assert "Nichts Neues" in proc.stdout.strip().splitlines()[-1]
    assert seconds < 8, f"no-op refresh took {seconds:.1f} s"
    assert sha256(pub_file) == before
    # Issue 20: nothing heavy on this path (pandas alone is 0.3 s; DuckDB imports it to bind a
    # query parameter), whatever the machine's speed.
    err = imon("refresh", env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, check_rc=0).stderr
    loaded = {ln.rsplit("|", 1)[-1].strip().split(".")[0] for ln in err.splitlines() if ln.startswith("import time:")}
    assert "duckdb" in loaded  # the import log was written
    assert not loaded & {"pandas", "dagster", "dagster_dbt", "dbt", "great_expectations"}, loaded


def test_unknown_file_is_reported_and_left_alone(clone_state):
    data, landing, env = clone_state()
    stray = [landing / "jobcenter" / "jobcenter_2025-2.csv", landing / "notizen.txt"]
    for p in stray:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("irgendwas;anderes\n1;2\n", encoding="utf-8")
    before = sha256(data / "published" / "monitoring.duckdb")
    proc = imon("refresh", env=env, check_rc=0)
    for p in stray:
        assert p.exists() and p.read_text(encoding="utf-8") == "irgendwas;anderes\n1;2\n"
        assert str(p) in proc.stdout and "passt zu keinem Dateimuster" in proc.stdout
    assert not (data / "quarantine").exists() or not any((data / "quarantine").iterdir())
    assert sha256(data / "published" / "monitoring.duckdb") == before


def test_refresh_without_pseudonym_key_fails_clearly(clone_state, next_month_files):
    data, landing, env = clone_state()
    src = next_month_files["jobcenter"]
    dest = landing / "jobcenter" / src.name
    dest.parent.mkdir(parents=True)
    shutil.copy2(src, dest)
    env = {k: v for k, v in env.items() if k != "IMON_PSEUDONYM_KEY"}
    before = sha256(data / "published" / "monitoring.duckdb")
    proc = imon("refresh", env=env, check_rc=1)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("FEHLER") and "IMON_PSEUDONYM_KEY" in last, proc.stdout[-2000:]
    assert dest.exists(), "the file must wait in the inbox for a run with the key"
    assert sha256(data / "published" / "monitoring.duckdb") == before
    assert not list(data.glob("archive/jobcenter/*" + NEXT_MONTH + "*"))


def test_dagster_definitions_load_with_lineage():
    import dagster as dg

    from orchestration.definitions import defs
    from sources.contracts import load_contracts

    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    contracts = load_contracts()
    raw = {dg.AssetKey(["raw", ft]) for ft in contracts}
    assert raw <= keys
    # one ingest asset per contract, grouped by its provider folder
    assert {k.path[1]: graph.get(k).group_name for k in raw} == {ft: c.provider for ft, c in contracts.items()}
    for target in (dg.AssetKey(["marts", "indicator_values"]), dg.AssetKey("published_warehouse")):
        upstream = dg.AssetSelection.assets(target).upstream().resolve(graph)
        assert raw <= upstream, f"{target.to_user_string()} lacks lineage from {sorted(raw - upstream)}"
    assert defs.resolve_job_def("refresh") is not None
    assert dg.AssetKey(["marts", "indicator_values"]) in graph.get(dg.AssetKey("published_warehouse")).parent_keys


def test_report_materialized_alone_from_the_published_set(clone_state, monkeypatch):
    """The Dagster UI may materialize the report without a new set (the publish step is one
    step for three assets, orchestration/defs/assets.py publish_set): it is made from the
    published file as it is, which stays byte-identical."""
    import dagster as dg

    data, landing, env = clone_state()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from orchestration.definitions import defs
    from orchestration.defs.jobs import refresh_run_config
    from orchestration.instance import get_instance
    from orchestration.settings import get_settings

    pub = data / "published" / "monitoring.duckdb"
    before = hashlib.sha256(pub.read_bytes()).hexdigest()
    index = data / "reports" / "index.html"
    index.unlink()
    job = defs.resolve_job_def("refresh").get_subset(asset_selection={dg.AssetKey("report")})
    instance = get_instance(get_settings())
    try:
        result = job.execute_in_process(run_config=refresh_run_config(), instance=instance, raise_on_error=False)
    finally:
        instance.dispose()
    assert result.success
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == ["report"]
    assert index.is_file()
    assert hashlib.sha256(pub.read_bytes()).hexdigest() == before
