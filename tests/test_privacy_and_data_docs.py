"""No person id outside the internal layer, and data-quality docs a person can use.

One real blocked refresh (a Jobcenter delivery with a duplicate person id, a bad code and an
over-long person id) on a clone of the refreshed state. Then every file under the data dir
outside the internal warehouse, the archive and the quarantined originals (reports, data
docs, Dagster run storage with compute logs, the published file, state) and the CLI output
are searched for every provider id and every pseudonym: none may appear. The same run shows
that the data docs are updated by a blocked run, keep the history and fill every placeholder.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import env_for, imon

LONG_ID = "F00D" * 16 + "A"  # 65 characters: R2.format, whose sample would be the id itself


def _ids_in_extracts(root: Path) -> set[str]:
    ids: set[str] = set()
    for f in root.rglob("*.csv"):
        text = f.read_bytes().decode("utf-8-sig", errors="replace")
        rows = csv.DictReader(text.splitlines(), delimiter=";")
        for row in rows:
            for col in ("person_id", "bg_id"):
                if row.get(col):
                    ids.add(row[col].strip())
    return ids


def _pseudonyms(internal_db: Path) -> set[str]:
    con = duckdb.connect(str(internal_db), read_only=True)
    try:
        out: set[str] = set()
        for table, col in con.execute(
                "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND column_name IN ('person_id', 'bg_id')").fetchall():
            out |= {r[0] for r in con.execute(f"SELECT DISTINCT {col} FROM {table} WHERE {col} IS NOT NULL").fetchall()}
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def blocked(refreshed, base_extracts, next_month_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("blocked")
    data, landing = root / "data", root / "landing"
    shutil.copytree(refreshed / "data", data, ignore=shutil.ignore_patterns("*.lock"))
    src = next_month_files["jobcenter"]
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(";")
    pid, sex = header.index("person_id"), header.index("geschlecht")
    rows = [ln.split(";") for ln in lines[1:]]
    rows[5][pid] = rows[1][pid]  # duplicate key: line 7 repeats line 3's person id
    rows[8][sex] = "x"  # a bad code in a row that carries a person id (line 10)
    rows[11][pid] = LONG_ID  # line 13
    dest = landing / "jobcenter" / src.name
    dest.parent.mkdir(parents=True)
    dest.write_text("\ufeff" + "\n".join(";".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    proc = imon("refresh", env=env_for(data, landing), check_rc=2)
    ids = _ids_in_extracts(base_extracts) | _ids_in_extracts(landing) | _ids_in_extracts(src.parent.parent)
    ids |= {LONG_ID}
    return {"data": data, "proc": proc, "ids": ids, "pseudonyms": _pseudonyms(data / "warehouse" / "internal.duckdb"),
            "duplicate": rows[1][pid]}


def _outside_internal_layer(data: Path):
    for p in sorted(data.rglob("*")):
        if not p.is_file():
            continue
        top = p.relative_to(data).parts[0]
        if top in ("warehouse", "archive"):
            continue
        if top == "quarantine" and not p.name.endswith((".report.txt", ".report.json")):
            continue  # the rejected original itself
        yield p


TOKEN = re.compile(rb"[0-9A-Za-z]{12,}")


def test_no_person_id_outside_the_internal_layer(blocked):
    data, ids, pseudonyms = blocked["data"], blocked["ids"], blocked["pseudonyms"]
    assert len(ids) > 1000 and len(pseudonyms) > 1000 and blocked["duplicate"] in ids
    wanted = {i.encode() for i in ids} | {p.encode() for p in pseudonyms}
    scanned, hits = [], []
    for p in _outside_internal_layer(data):
        scanned.append(p.relative_to(data).as_posix())
        for tok in set(TOKEN.findall(p.read_bytes())):
            if tok in wanted:
                hits.append(f"{p.relative_to(data)}: {tok.decode()[:20]}…")
    out = blocked["proc"].stdout + blocked["proc"].stderr
    hits += [f"CLI: {t.decode()}" for t in set(TOKEN.findall(out.encode())) if t in wanted]
    # The scan saw what it must see: the reports, the data docs, the run history and its logs.
    assert any(s.startswith("quarantine/") and s.endswith(".report.txt") for s in scanned)
    assert any(s.startswith("reports/data-docs/runs/") for s in scanned)
    assert any(s.startswith("dagster/") for s in scanned)
    assert any(s.startswith("published/") for s in scanned)
    assert not hits, "\n".join(hits[:20])
    # DuckDB may compress strings on disk: ask the published file itself too.
    con = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    try:
        for table, col in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                      "WHERE data_type = 'VARCHAR'").fetchall():
            values = {r[0] for r in con.execute(f'SELECT DISTINCT "{col}" FROM "{table}"').fetchall()}
            assert not values & (ids | pseudonyms), f"{table}.{col}"
    finally:
        con.close()


def test_quarantine_report_names_lines_not_ids(blocked):
    report = next((blocked["data"] / "quarantine").glob("*.report.txt")).read_text(encoding="utf-8")
    assert "R4.duplicate_key" in report and "Zeile 3: »Kennung 1 (maskiert)«" in report
    assert "Zeile 7: »Kennung 1 (maskiert)«" in report
    assert "Zeile 10: »x«" in report  # the bad code is shown: it is no id
    assert "Zeile 13" in report


def test_a_blocked_run_updates_the_data_docs_and_keeps_the_history(blocked):
    docs = blocked["data"] / "reports" / "data-docs"
    index = (docs / "index.html").read_text(encoding="utf-8")
    pages = sorted((docs / "runs").glob("*.html"))
    assert len(pages) == 2  # the initial load and this blocked run
    # newest first: the blocked run is the first row and the headline
    first_run = re.search(r'href="runs/([^"]+)\.html"', index).group(1)
    latest = (docs / "runs" / f"{first_run}.html").read_text(encoding="utf-8")
    assert "Letzter Prüflauf" in index and index.index("Beanstandungen") < index.index("bestanden")
    assert "jobcenter_2025-02.csv" in latest and "abgelehnt" in latest and "R4.duplicate_key" in latest
    report_link = re.search(r'href="([^"]+\.report\.txt)"', latest).group(1)
    assert (docs / "runs" / report_link).resolve().is_file()
    for page in [index, latest, *(p.read_text(encoding="utf-8") for p in pages)]:
        assert not re.search(r"\{[a-z_]+\}", page), "unfilled placeholder"
        assert "http://" not in page and "https://" not in page  # offline: nothing fetched
        assert "../dbt-docs/index.html" in page
    assert "Zeitraum des Dateinamens" in latest or "Tag des Zeitraums im Dateinamen" in latest
    # every link works from disk: other runs, the report, the dbt docs, the quarantine report
    for page in [docs / "index.html", *pages]:
        for href in re.findall(r'href="([^"#]+)"', page.read_text(encoding="utf-8")):
            assert (page.parent / href).resolve().exists(), (page.name, href)


def test_data_docs_of_the_initial_load(refreshed):
    docs = refreshed / "data" / "reports" / "data-docs"
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert "Beanstandungen" not in index and "bestanden" in index
    assert not [p for p in docs.iterdir() if p.name not in ("index.html", "runs", "lieferungen.html")]  # no per-type folders
    page = next((docs / "runs").glob("*.html")).read_text(encoding="utf-8")
    for file_type in ("jobcenter", "abh_bestand", "unterbringung", "bevoelkerung"):
        assert f"<h2>{file_type}:" in page


def test_history_is_bounded_and_newest_first(tmp_path):
    import json
    from datetime import datetime, timedelta

    from orchestration import data_docs
    from orchestration.ingest import IngestOutcome

    docs = tmp_path / "data-docs"
    (docs / "jobcenter").mkdir(parents=True)
    (docs / "jobcenter" / "index.html").write_text("old page with 432C8CAB30F56C87")
    base = datetime(2026, 1, 1, 2, 0)
    for i in range(data_docs.HISTORY + 3):
        data_docs.record_run(docs, f"run-{i:03d}", "jobcenter", [], IngestOutcome("jobcenter", loaded=[f"f{i}.csv"]))
        f = docs / "runs" / f"run-{i:03d}" / "jobcenter.json"  # one run a night
        rec = json.loads(f.read_text(encoding="utf-8"))
        f.write_text(json.dumps({**rec, "recorded_at": (base + timedelta(days=i)).isoformat()}), encoding="utf-8")
    index = data_docs.render(docs).read_text(encoding="utf-8")
    pages = sorted(p.stem for p in (docs / "runs").glob("*.html"))
    assert len(pages) == data_docs.HISTORY
    assert not (docs / "jobcenter").exists()  # pages of earlier versions (with raw ids) are gone
    assert index.index("run-102") < index.index("run-101") < index.index("run-003")
    assert "run-002" not in index and "run-000" not in pages
