"""The dbt project on a small hand-made internal warehouse.

Builds raw.* and the file registry (meta.file_versions) as the ingest step leaves them,
runs the real `dbt build` against a temporary DuckDB file and checks figures worked out
by hand from the rows below (indicators.md), the dense grid, the confidentiality rule,
and that an incremental build (a new month, a re-delivered month, a header-only
re-delivery, announced in table meta.changed_periods) equals a --full-refresh build.

Hand-made data (A = Altbach 08116004, B = Altdorf 08116005, C = Esslingen 08116019;
the other 41 municipalities have no rows and must still get 0-rows):
- jobcenter 2023-02 .. 2024-02, the same people every month:
  A: p1 000 age 30 elb erwerbstaetig | p2 000 age 70 | p3 475 age 25 elb fk kurs b1 |
     p4 475 age 40 elb fk laufend | p5 475 age 64 elb fk unter_b1 | p6 232 age 65
  B: p7 000 age 50 elb | p8 000 age 20 elb erwerbstaetig
  C: c1..c10 000 age 35 elb (c1..c5 erwerbstaetig), c11..c15 475 age 30 elb fk
     (kurs: b1 x3, unter_b1, empty)
  integration_beschaeftigung: p1 in 2023-03, p3 in 2023-05, p4 in 2023-11, c1 in 2024-02
- bevoelkerung 2022 only: so ARB-01 exists for 2023 months, not for 2024-01/02
- abh_bestand 2022-12 and 2023-12; naturalisations 2023-01..12 (2023-07 header-only) + 2024-01
- schulstatistik/schulabgaenger 2023 (school year 2023/24)
- unterbringung 2023-11, 2024-01, 2024-02 (2023-12 missing: a gap, warned, not blocking) and
  2024-12 (with one more AU facility in B, for ENG-02)
Second edition:
- esu 2023 (examination year 2023/24): A k1..k4 (k4: empty family language), C 10 German
  children and 5 foreign children with family language deutsch_und_andere
- kita 2023 (with bevoelkerung 2022: REG-03) and 2024 (no bevoelkerung 2023: REG-02 only)
- hilfe_zur_pflege 2022 (with bevoelkerung 2022: PFL-01) and 2023 (PFL-02 only)
- engagement 2023 (no unterbringung 2023-12: ENG-01 only) and 2024 (A rat 12 volunteers,
  B ausschuss without answer, C beauftragte 5, the others keins 0)
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from sources import catalogue  # noqa: E402
from sources.contracts import load_contracts  # noqa: E402
DBT_PROJECT = REPO / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))

A, B, C = "08116004", "08116005", "08116019"
DISTRICT = "08116"

# raw.<file_type> as the ingest step creates it: contract columns (sources/contracts.yml),
# typed as agreed, plus period and file_sha256
TYPES = {"month": "VARCHAR", "school_year": "VARCHAR", "text": "VARCHAR", "code": "VARCHAR",
         "ags": "VARCHAR", "pseudonym": "VARCHAR", "date": "DATE", "int": "INTEGER",
         "count": "INTEGER", "flag": "BOOLEAN"}
RAW_DDL = {
    c.file_type: ", ".join(f"{col.name} {TYPES[col.type]}" for col in c.columns)
    for c in load_contracts().values()
}

# the builds here check data; the unit tests run once on their own (test_unit_tests_pass)
NO_UNIT = ["--exclude-resource-type", "unit_test"]

INITIAL_JOBCENTER_MONTHS = [f"2023-{m:02d}" for m in range(2, 13)] + ["2024-01", "2024-02"]
NEW_MONTH = "2024-03"
REDELIVERED_MONTH = "2023-08"


# --------------------------------------------------------------------------- hand-made raw data

def _month_end(period: str) -> date:
    y, m = int(period[:4]), int(period[5:])
    return date(y, m, calendar.monthrange(y, m)[1])


def jobcenter_rows(period: str) -> list[tuple]:
    year = int(period[:4])
    integration = {"2023-03": "p1", "2023-05": "p3", "2023-11": "p4", "2024-02": "c1"}.get(period)
    # (id, nationality, age, ags, elb, erwerbstaetig, fluchtkontext, integrationskurs)
    people = [
        ("p1", "000", 30, A, True, True, False, None),
        ("p2", "000", 70, A, False, False, False, None),
        ("p3", "475", 25, A, True, False, True, "abgeschlossen_b1"),
        ("p4", "475", 40, A, True, False, True, "laufend"),
        ("p5", "475", 64, A, True, False, True, "abgeschlossen_unter_b1"),
        ("p6", "232", 65, A, False, False, False, "kein"),
        ("p7", "000", 50, B, True, False, False, None),
        ("p8", "000", 20, B, True, True, False, None),
    ]
    people += [(f"c{i}", "000", 35, C, True, i <= 5, False, None) for i in range(1, 11)]
    courses = ["abgeschlossen_b1"] * 3 + ["abgeschlossen_unter_b1", None]
    people += [(f"c{10 + i}", "475", 30, C, True, False, True, courses[i - 1]) for i in range(1, 6)]
    if period == NEW_MONTH:  # the new month brings one more person
        people.append(("b9", "475", 33, B, True, False, True, None))
    return [
        (period, pid, f"bg-{pid}", year - age, "w", nat, fk, ags, elb, False, erw, kurs, pid == integration)
        for pid, nat, age, ags, elb, erw, fk, kurs in people
    ]


def abh_bestand_rows(period: str) -> list[tuple]:
    residents = [  # (id, ags, entry date, status)
        ("r1", A, date(2010, 5, 1), "EU_FREIZUEGIGKEIT"),
        ("r2", A, date(2015, 3, 1), "NE"),
        ("r3", A, date(2017, 12, 31), "NE"),  # exactly on the REC-04 cut-off of 2023: counts
        ("r4", A, date(2018, 1, 1), "AE_ASYL"),  # one day later: does not
        ("r5", A, date(2022, 1, 1), "GESTATTUNG"),
        ("r6", A, date(2019, 1, 1), "DULDUNG"),
    ]
    residents += [(f"s{i}", C, date(2000, 1, 1), "NE") for i in range(20)]
    residents += [(f"t{i}", C, date(2020, 1, 1), "AE_ERWERB") for i in range(10)]
    return [(_month_end(period), pid, 1980, "m", "475", ags, entry, status) for pid, ags, entry, status in residents]


def naturalisation_rows(period: str) -> list[tuple]:
    where = {"2023-01": [C], "2023-02": [C], "2023-03": [A], "2023-04": [C], "2024-01": [C, C]}.get(period, [])
    day = date(int(period[:4]), int(period[5:]), 15)
    return [(day, f"n-{period}-{i}", 1985, "w", "475", ags) for i, ags in enumerate(where)]


SCHULSTATISTIK_2023 = [
    ("2023/24", "04100001", "Gymnasium A", A, "GY", "5", "deutsch", "m", 20),
    ("2023/24", "04100001", "Gymnasium A", A, "GY", "5", "auslaendisch", "w", 5),
    ("2023/24", "04100001", "Gymnasium A", A, "GY", "11", "deutsch", "m", 30),  # not Sek I
    ("2023/24", "04100002", "Realschule A", A, "RS", "7", "deutsch", "m", 30),
    ("2023/24", "04100002", "Realschule A", A, "RS", "7", "auslaendisch", "m", 10),
    ("2023/24", "04100003", "Grundschule C", C, "GS", "1", "deutsch", "w", 40),
    ("2023/24", "04100003", "Grundschule C", C, "GS", "VKL", "auslaendisch", "w", 2),
    ("2023/24", "04100004", "Berufsschule C", C, "BS", "VABO", "auslaendisch", "m", 12),
]
SCHULABGAENGER_2023 = [
    ("2023/24", A, "GMS", "ohne_hsa", "auslaendisch", "m", 3),
    ("2023/24", A, "GMS", "hsa", "deutsch", "w", 10),
    ("2023/24", A, "RS", "msa", "deutsch", "m", 20),
]


def unterbringung_rows(period: str) -> list[tuple]:
    d = _month_end(period)
    return [  # id, name, art, ags, places, occupied, gestattung, schutz, duldung, sonstige, moves
        (d, "F1", "GU Esslingen", "VU", C, 100, 110, 60, 30, 10, 10, 4),
        (d, "F2", "AU Altbach 1", "AU", A, 20, 2, 0, 2, 0, 0, 0),
        (d, "F3", "AU Altbach 2", "AU", A, 10, 8, 0, 8, 0, 0, 1),
    ]


def unterbringung_rows_december_2024() -> list[tuple]:
    # one more AU facility in B, whose municipality leaves ENG-02 unanswered in 2024
    return unterbringung_rows("2024-12") + [
        (_month_end("2024-12"), "F4", "AU Altdorf", "AU", B, 10, 6, 0, 6, 0, 0, 0)]


def esu_rows() -> list[tuple]:
    children = [  # (id, ags, nationality, family language, kita months, booklet, u8, record, measles, language)
        ("k1", A, "deutsch", "deutsch", 36, True, True, True, 2, "unauffaellig"),
        ("k2", A, "deutsch", "deutsch", 12, True, False, True, 1, "foerderbedarf"),
        ("k3", A, "auslaendisch", "andere", 10, True, True, True, 2, "intensiv"),
        ("k4", A, "auslaendisch", None, 5, True, True, False, None, "intensiv"),
    ]
    children += [(f"g{i}", C, "deutsch", "deutsch", 48, True, True, True, 2, "unauffaellig") for i in range(10)]
    children += [(f"f{i}", C, "auslaendisch", "deutsch_und_andere", 20, True, True, True, 2, "intensiv")
                 for i in range(5)]
    return [("2023/24", kid, date(2023, 10, 2), 2018, "w", ags, nat, lang, months, booklet, u8, record, measles, finding)
            for kid, ags, nat, lang, months, booklet, u8, record, measles, finding in children]


KITA = {  # year -> (ags, betreuungsart, altersgruppe, herkunft, familiensprache, kinder)
    "2023": [(A, "kita", "unter_3", "auslaendisch", "nicht_deutsch", 3),
             (A, "kita", "3_bis_unter_6", "nicht_auslaendisch", "deutsch", 7),
             (A, "tagespflege", "unter_3", "nicht_auslaendisch", "deutsch", 2),
             (C, "kita", "3_bis_unter_6", "auslaendisch", "deutsch", 4)],
    "2024": [(A, "kita", "unter_3", "auslaendisch", "nicht_deutsch", 4)],
}


def kita_rows(year: str) -> list[tuple]:
    return [(date(int(year), 3, 1), *r) for r in KITA[year]]


def hilfe_zur_pflege_rows(year: str) -> list[tuple]:
    people = {  # (id, born, nationality, ags, where)
        "2022": [("h1", 1950, "000", A, "stationaer"), ("h2", 1957, "000", A, "ambulant"),
                 ("h3", 1958, "000", A, "ambulant"), ("h4", 1940, "475", A, "stationaer")]
                + [(f"hc{i}", 1930, "000", C, "stationaer") for i in range(5)]
                + [(f"hf{i}", 1935, "475", C, "ambulant") for i in range(3)],
        "2023": [("h9", 1930, "000", C, "stationaer")],
    }[year]
    return [(date(int(year), 12, 31), pid, born, "m", nat, ags, where, 3) for pid, born, nat, ags, where in people]


def engagement_rows(year: str) -> list[tuple]:
    municipalities = [line.split(",")[0] for line in
                      (DBT_PROJECT / "seeds" / "gemeinden.csv").read_text().splitlines()[1:]]
    answers = {  # ags -> (integrationsgremium, ehrenamtliche)
        "2023": {C: ("rat", 4)},
        "2024": {A: ("rat", 12), B: ("ausschuss", None), C: ("beauftragte", 5)},
    }[year]
    return [(int(year), ags, *answers.get(ags, ("keins", 0)), None) for ags in municipalities]


BEVOELKERUNG_2022 = [
    (date(2022, 12, 31), A, "m", "25-64", "deutsch", 100),
    (date(2022, 12, 31), A, "w", "65+", "deutsch", 50),
    (date(2022, 12, 31), A, "m", "18-24", "auslaendisch", 20),
    (date(2022, 12, 31), A, "w", "00-05", "auslaendisch", 5),
    (date(2022, 12, 31), B, "m", "25-64", "deutsch", 200),
    (date(2022, 12, 31), C, "m", "25-64", "deutsch", 1000),
    (date(2022, 12, 31), C, "w", "25-64", "auslaendisch", 100),
    (date(2022, 12, 31), C, "m", "65+", "deutsch", 500),
]

FILE_NAMES = {
    "jobcenter": "jobcenter_{p}.csv", "abh_bestand": "abh_bestand_{p}.csv",
    "abh_einbuergerungen": "abh_einbuergerungen_{p}.csv", "schulstatistik": "schulstatistik_{p}.csv",
    "schulabgaenger": "schulabgaenger_{p}.csv", "unterbringung": "unterbringung_{p}.xlsx",
    "bevoelkerung": "bevoelkerung_{p}.csv", "esu": "esu_{p}.csv", "kita": "kita_{p}.csv",
    "hilfe_zur_pflege": "hilfe_zur_pflege_{p}.csv", "engagement": "engagement_{p}.csv",
}


def load_file(con: duckdb.DuckDBPyConnection, file_type: str, period: str, rows: list[tuple]) -> None:
    """What the ingest step does per file: replace the period's rows and register the version."""
    sha = hashlib.sha256(f"{file_type}:{period}:{rows!r}".encode()).hexdigest()
    con.execute(f"DELETE FROM raw.{file_type} WHERE period = ?", [period])
    if rows:
        marks = ", ".join(["?"] * (len(rows[0]) + 2))
        con.executemany(f"INSERT INTO raw.{file_type} VALUES ({marks})", [(*r, period, sha) for r in rows])
    con.execute("UPDATE meta.file_versions SET is_current = false WHERE file_type = ? AND period = ?",
                [file_type, period])
    con.execute(
        "INSERT INTO meta.file_versions VALUES (?, ?, ?, ?, ?, ?)",
        [file_type, FILE_NAMES[file_type].format(p=period), period, sha, len(rows), True],
    )


def announce_changes(db: Path, changes: dict[str, list[str]]) -> None:
    """What the refresh does right before `dbt build`: replace meta.changed_periods."""
    con = duckdb.connect(str(db))
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta.changed_periods (file_type VARCHAR, period VARCHAR)")
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM meta.changed_periods")
        for file_type, periods in changes.items():
            con.executemany("INSERT INTO meta.changed_periods VALUES (?, ?)", [(file_type, p) for p in periods])
        con.execute("COMMIT")
    finally:
        con.close()


def make_warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA meta")
    # the columns of the ingest step's registry that the dbt project reads
    con.execute("""CREATE TABLE meta.file_versions (file_type VARCHAR, file_name VARCHAR, period VARCHAR,
                   sha256 VARCHAR, row_count BIGINT, is_current BOOLEAN)""")
    for file_type, cols in RAW_DDL.items():
        con.execute(f"CREATE TABLE raw.{file_type} ({cols}, period VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL)")
    # an older, replaced version of a month: must not count (is_current = false afterwards)
    load_file(con, "jobcenter", "2023-02", jobcenter_rows("2023-02")[:3])
    for p in INITIAL_JOBCENTER_MONTHS:
        load_file(con, "jobcenter", p, jobcenter_rows(p))
    for p in ["2022-12", "2023-12"]:
        load_file(con, "abh_bestand", p, abh_bestand_rows(p))
    for p in [f"2023-{m:02d}" for m in range(1, 13)] + ["2024-01"]:
        load_file(con, "abh_einbuergerungen", p, naturalisation_rows(p))
    load_file(con, "schulstatistik", "2023", SCHULSTATISTIK_2023)
    load_file(con, "schulabgaenger", "2023", SCHULABGAENGER_2023)
    for p in ["2023-11", "2024-01", "2024-02"]:
        load_file(con, "unterbringung", p, unterbringung_rows(p))
    load_file(con, "unterbringung", "2024-12", unterbringung_rows_december_2024())
    load_file(con, "bevoelkerung", "2022", BEVOELKERUNG_2022)
    load_file(con, "esu", "2023", esu_rows())
    for year in KITA:
        load_file(con, "kita", year, kita_rows(year))
    for year in ["2022", "2023"]:
        load_file(con, "hilfe_zur_pflege", year, hilfe_zur_pflege_rows(year))
        load_file(con, "engagement", str(int(year) + 1), engagement_rows(str(int(year) + 1)))
    con.close()


# --------------------------------------------------------------------------- running dbt

def run_dbt(args: list[str], db: Path, work: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, IMON_INTERNAL_DB=str(db), DBT_PROFILES_DIR=str(DBT_PROJECT),
               DO_NOT_TRACK="1", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    # own target/log dirs: parallel runs (and the pipeline's manifest) are left alone
    cmd = [DBT, *args, "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    proc = subprocess.run(cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 or not check, f"{' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    return proc


def run_results(work: Path) -> dict[str, str]:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results}


def fetch(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict:
    """One warehouse built from scratch, then changed (a new month, a re-delivered month, a
    header-only re-delivery) and built incrementally; a copy of the final raw data and registry
    built again with --full-refresh for comparison. Five dbt calls in all."""
    work = tmp_path_factory.mktemp("dbt")
    db = work / "internal.duckdb"
    make_warehouse(db)
    run_dbt(["parse"], db, work)
    run_dbt(["build", *NO_UNIT], db, work)
    first_results = run_results(work)
    first_values = fetch(db, "SELECT * FROM marts.indicator_values ORDER BY ALL")

    # the next delivery: a new jobcenter month, a re-delivered one (p8 gone) and a naturalisation
    # month re-delivered header-only (its period must end up with no rows at all)
    con = duckdb.connect(str(db))
    before = dict(con.execute("SELECT period, count(*) FROM intermediate.int_jobcenter_recipients_aggregated "
                              "GROUP BY period").fetchall())
    load_file(con, "jobcenter", NEW_MONTH, jobcenter_rows(NEW_MONTH))
    load_file(con, "jobcenter", REDELIVERED_MONTH, [r for r in jobcenter_rows(REDELIVERED_MONTH) if r[1] != "p8"])
    load_file(con, "abh_einbuergerungen", "2024-01", [])
    con.close()
    changes = {"jobcenter": [NEW_MONTH, REDELIVERED_MONTH], "abh_einbuergerungen": ["2024-01"]}
    announce_changes(db, changes)
    incremental_proc = run_dbt(["build", *NO_UNIT], db, work)
    incremental_results = run_results(work)
    compiled = next((work / "target" / "compiled").rglob("int_jobcenter_recipients_aggregated.sql")).read_text()

    # the same raw data and registry, built from scratch
    full_db = work / "full.duckdb"
    con = duckdb.connect(str(full_db))
    con.execute(f"ATTACH '{db}' AS incremental (READ_ONLY)")
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA meta")
    for t in [*(f"raw.{ft}" for ft in RAW_DDL), "meta.file_versions"]:
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM incremental.{t}")
    con.close()
    run_dbt(["build", *NO_UNIT, "--full-refresh"], full_db, work)
    return {"db": db, "full_db": full_db, "work": work, "first_values": first_values,
            "first_results": first_results, "incremental_results": incremental_results,
            "aggregate_periods_before": before, "compiled_incremental": compiled,
            "incremental_log": incremental_proc.stdout}


def value(db: Path, indicator: str, period: str, region: str, group: str = "insgesamt") -> tuple:
    """(numerator, denominator, value, is_suppressed) of a cell under the primary rule: the
    figures below were derived by hand for the formulas and the primary rule. The published
    row must equal it, or be suppressed by the secondary rule (round >= 1, all NULL); that rule
    is tested on its own (test_suppression_rule_holds_everywhere, tests/test_suppression.py)."""
    rows = fetch(db, """
        SELECT CASE WHEN s.suppression_round = 0 THEN NULL ELSE u.numerator END,
               CASE WHEN s.suppression_round = 0 THEN NULL ELSE u.denominator END,
               CASE WHEN s.suppression_round = 0 THEN NULL ELSE u.value END,
               coalesce(s.suppression_round = 0, false),
               s.suppression_round,
               p.numerator, p.denominator, p.value, p.is_suppressed
        FROM intermediate.int_indicator_values_unsuppressed u
        JOIN intermediate.int_indicator_suppression s USING (indicator_id, period, region_code, group_code)
        JOIN marts.indicator_values p USING (indicator_id, period, region_code, group_code)
        WHERE indicator_id = ? AND period = ? AND region_code = ? AND group_code = ?""",
                 [indicator, period, region, group])
    assert len(rows) == 1, (indicator, period, region, group, rows)
    primary, suppression_round, published = rows[0][:4], rows[0][4], rows[0][5:]
    if suppression_round is not None and suppression_round >= 1:
        assert published == (None, None, None, True), rows[0]
    else:
        assert published == primary, rows[0]
    return primary


# --------------------------------------------------------------------------- tests

def test_schemas_and_marts_are_aggregates_only(built):
    tables = fetch(built["db"], """SELECT table_schema, table_name FROM information_schema.tables
                                   WHERE table_schema IN ('staging', 'intermediate', 'marts', 'reference')""")
    by_schema: dict[str, set[str]] = {}
    for schema, name in tables:
        by_schema.setdefault(schema, set()).add(name)
    assert {"indicator_values", "indicators", "latest_values", "coverage", "wide_arbeit"} <= by_schema["marts"]
    assert "stg_jobcenter__recipients" in by_schema["staging"]
    assert "int_jobcenter_recipients_aggregated" in by_schema["intermediate"]
    assert "gemeinden" in by_schema["reference"]
    columns = {c for (c,) in fetch(built["db"], "SELECT column_name FROM information_schema.columns "
                                                "WHERE table_schema = 'marts'")}
    assert not columns & {"person_id", "bg_id", "geburtsjahr", "einreisedatum"}


def test_indicator_values_columns_and_types(built):
    cols = fetch(built["db"], """SELECT column_name, data_type FROM information_schema.columns
                                 WHERE table_schema = 'marts' AND table_name = 'indicator_values'
                                 ORDER BY ordinal_position""")
    assert cols == [
        ("indicator_id", "VARCHAR"), ("period", "VARCHAR"), ("period_end", "DATE"),
        ("region_code", "VARCHAR"), ("region_name", "VARCHAR"), ("group_code", "VARCHAR"),
        ("numerator", "DOUBLE"), ("denominator", "DOUBLE"), ("value", "DOUBLE"),
        ("unit", "VARCHAR"), ("is_suppressed", "BOOLEAN"),
    ]
    published = fetch(built["db"], "SELECT indicator_id, unit, periodicity FROM marts.indicators")
    assert sorted(published) == sorted((i.id, i.unit, i.periodicity) for i in catalogue.load().indicators)


def test_published_periods_follow_the_files_present(built):
    periods = dict(fetch(built["full_db"], """SELECT indicator_id, list(DISTINCT period ORDER BY period)
                                              FROM marts.indicator_values GROUP BY 1"""))
    jobcenter = INITIAL_JOBCENTER_MONTHS + [NEW_MONTH]
    # ARB-01 only where the population file of the previous year (2022) exists
    assert periods["ARB-01"] == [p for p in jobcenter if p.startswith("2023")]
    assert periods["ARB-02"] == jobcenter
    # ARB-03 only where all 12 months m-11..m are present (first jobcenter month: 2023-02)
    assert periods["ARB-03"] == ["2024-01", "2024-02", "2024-03"]
    # all 12 naturalisation months of 2023 (2023-07 header-only); 2024 incomplete
    assert periods["REC-03"] == ["2023"] and periods["REC-04"] == ["2023"]
    assert periods["REC-01"] == ["2022-12", "2023-12"]
    assert periods["BIL-01"] == periods["BIL-03"] == ["2023/24"]
    assert periods["WOH-01"] == ["2023-11", "2024-01", "2024-02", "2024-12"]
    assert periods["DEM-01"] == ["2022"]
    # second edition: the examination year of esu_2023; REG-03 only with bevoelkerung_{Y-1},
    # PFL-01 only with bevoelkerung_Y, ENG-02 only with unterbringung_Y-12
    assert periods["GES-01"] == periods["GES-03"] == periods["REG-01"] == ["2023/24"]
    assert periods["REG-02"] == ["2023", "2024"] and periods["REG-03"] == ["2023"]
    assert periods["PFL-02"] == ["2022", "2023"] and periods["PFL-01"] == ["2022"]
    assert periods["ENG-01"] == ["2023", "2024"] and periods["ENG-02"] == ["2024"]
    # every indicator of the catalogue has at least one period on this data
    assert set(periods) == {i.id for i in catalogue.load().indicators}
    ends = dict(fetch(built["full_db"], "SELECT DISTINCT period, period_end FROM marts.indicator_values"))
    assert ends["2024-02"] == date(2024, 2, 29)
    assert ends["2023"] == date(2023, 12, 31)
    assert ends["2023/24"] == date(2024, 7, 31)


def test_dense_grid(built):
    db = built["full_db"]
    rows = dict(fetch(db, "SELECT indicator_id, count(*) FROM marts.indicator_values GROUP BY 1"))
    periods = dict(fetch(db, "SELECT indicator_id, count(DISTINCT period) FROM marts.indicator_values GROUP BY 1"))
    # 45 regions x the groups the catalogue lists x periods, for every indicator
    for ind in catalogue.load().indicators:
        assert rows[ind.id] == 45 * len(ind.groups) * periods[ind.id], ind.id
    assert periods["ARB-02"] == 14 and rows["REC-01"] == 45 * 8 * 2
    # a municipality without any row still appears, with 0 (not suppressed)
    assert value(db, "ARB-02", "2023-05", "08116080") == (0.0, None, 0.0, False)
    assert value(db, "REC-02", "2023-12", "08116080") == (0.0, 0.0, None, False)  # 0/0: no value
    names = dict(fetch(db, "SELECT DISTINCT region_code, region_name FROM marts.indicator_values"))
    assert len(names) == 45 and names[DISTRICT] == "Landkreis Esslingen" and names[A] == "Altbach"


def test_work_indicators(built):
    db = built["db"]
    # ARB-02: elb persons. A 4 (deutsch 1 -> suppressed), B 2 -> suppressed, district 21
    assert value(db, "ARB-02", "2023-06", A) == (4.0, None, 4.0, False)
    assert value(db, "ARB-02", "2023-06", A, "deutsch") == (None, None, None, True)
    assert value(db, "ARB-02", "2023-06", B) == (None, None, None, True)
    assert value(db, "ARB-02", "2023-06", DISTRICT) == (21.0, None, 21.0, False)
    assert value(db, "ARB-02", "2023-06", DISTRICT, "fluchtkontext") == (8.0, None, 8.0, False)
    # ARB-01: age <= 64 (p5 aged 64 in, p6 aged 65 out) over population under 65 of 2022
    assert value(db, "ARB-01", "2023-06", A) == (4.0, 125.0, pytest.approx(3.2), False)
    assert value(db, "ARB-01", "2023-06", A, "auslaendisch") == (3.0, 25.0, pytest.approx(12.0), False)
    assert value(db, "ARB-01", "2023-06", A, "deutsch")[3] is True  # numerator 1
    assert value(db, "ARB-01", "2023-06", DISTRICT) == (21.0, 1425.0, pytest.approx(100 * 21 / 1425), False)
    assert value(db, "ARB-01", "2023-06", DISTRICT, "deutsch") == (13.0, 1300.0, pytest.approx(1.0), False)
    # ARB-03 2024-01: window 2023-02..2024-01 has integrations in 2023-03 (p1), -05 (p3), -11 (p4)
    assert value(db, "ARB-03", "2024-01", A) == (3.0, 4.0, pytest.approx(75.0), False)
    # district: 21 elb a month, minus p8 in the re-delivered 2023-08 -> 251 / 12
    assert value(db, "ARB-03", "2024-01", DISTRICT) == (3.0, pytest.approx(251 / 12), pytest.approx(300 * 12 / 251), False)
    assert value(db, "ARB-03", "2024-01", C) == (0.0, 15.0, 0.0, False)
    assert value(db, "ARB-03", "2024-01", A, "fluchtkontext")[3] is True  # numerator 2
    assert value(db, "ARB-03", "2024-02", DISTRICT) == (4.0, pytest.approx(251 / 12), pytest.approx(400 * 12 / 251), False)
    # ARB-04: erwerbstaetig among elb
    assert value(db, "ARB-04", "2023-06", C, "deutsch") == (5.0, 10.0, pytest.approx(50.0), False)
    assert value(db, "ARB-04", "2023-06", DISTRICT) == (7.0, 21.0, pytest.approx(100 / 3), False)
    assert value(db, "ARB-04", "2023-06", A)[3] is True  # numerator 1


def test_language_indicators(built):
    db = built["db"]
    assert value(db, "SPR-01", "2023-06", C, "fluchtkontext") == (3.0, 4.0, pytest.approx(75.0), False)
    assert value(db, "SPR-01", "2023-06", A, "fluchtkontext") == (None, None, None, True)  # 1 of 2
    assert value(db, "SPR-01", "2023-06", DISTRICT, "fluchtkontext") == (4.0, 6.0, pytest.approx(400 / 6), False)
    # SPR-02: the empty course status of c15 counts in the denominator only
    assert value(db, "SPR-02", "2023-06", C, "fluchtkontext") == (4.0, 5.0, pytest.approx(80.0), False)
    assert value(db, "SPR-02", "2023-06", DISTRICT, "fluchtkontext") == (7.0, 8.0, pytest.approx(87.5), False)


def test_legal_status_indicators(built):
    db = built["db"]
    assert value(db, "REC-01", "2022-12", A) == (6.0, None, 6.0, False)
    assert value(db, "REC-01", "2022-12", A, "eu") == (None, None, None, True)
    assert value(db, "REC-01", "2022-12", A, "befristet") == (0.0, None, 0.0, False)
    assert value(db, "REC-01", "2022-12", DISTRICT, "unbefristet") == (22.0, None, 22.0, False)
    assert value(db, "REC-02", "2022-12", DISTRICT) == (22.0, 35.0, pytest.approx(100 * 22 / 35), False)
    assert value(db, "REC-02", "2022-12", C) == (20.0, 30.0, pytest.approx(100 * 20 / 30), False)
    # REC-03 2023: 4 naturalisations (A 1 -> suppressed, C 3); July was header-only
    assert value(db, "REC-03", "2023", DISTRICT) == (4.0, None, 4.0, False)
    assert value(db, "REC-03", "2023", C) == (3.0, None, 3.0, False)
    assert value(db, "REC-03", "2023", A) == (None, None, None, True)
    # REC-04: residents of Dec 2022 entered on or before 31.12.2017: A r1 r2 r3, C 20
    assert value(db, "REC-04", "2023", C) == (3.0, 20.0, pytest.approx(15.0), False)
    assert value(db, "REC-04", "2023", DISTRICT) == (4.0, 23.0, pytest.approx(400 / 23), False)
    assert value(db, "REC-04", "2023", A)[3] is True


def test_education_housing_demography(built):
    db = built["db"]
    assert value(db, "BIL-01", "2023/24", A) == (25.0, 65.0, pytest.approx(2500 / 65), False)
    assert value(db, "BIL-01", "2023/24", DISTRICT, "deutsch") == (20.0, 50.0, pytest.approx(40.0), False)
    assert value(db, "BIL-01", "2023/24", C) == (0.0, 0.0, None, False)  # no Sek I school: no value
    assert value(db, "BIL-02", "2023/24", C) == (14.0, None, 14.0, False)  # VKL 2 + VABO 12
    assert value(db, "BIL-03", "2023/24", A) == (3.0, 33.0, pytest.approx(100 * 3 / 33), False)
    assert value(db, "BIL-03", "2023/24", A, "auslaendisch") == (3.0, 3.0, pytest.approx(100.0), False)
    # WOH-01 may exceed 100 (over-occupancy); F2 with 2 residents alone would be suppressed,
    # but A's AU total is 10 of 30
    assert value(db, "WOH-01", "2024-01", C, "VU") == (110.0, 100.0, pytest.approx(110.0), False)
    assert value(db, "WOH-01", "2024-01", A, "AU") == (10.0, 30.0, pytest.approx(100 / 3), False)
    assert value(db, "WOH-01", "2024-01", DISTRICT) == (120.0, 130.0, pytest.approx(1200 / 13), False)
    assert value(db, "WOH-02", "2024-01", DISTRICT, "VU") == (30.0, 110.0, pytest.approx(300 / 11), False)
    assert value(db, "WOH-03", "2024-01", A) == (None, None, None, True)  # 1 move
    assert value(db, "WOH-03", "2024-01", DISTRICT) == (5.0, None, 5.0, False)
    assert value(db, "DEM-01", "2022", A) == (25.0, 175.0, pytest.approx(100 * 25 / 175), False)
    assert value(db, "DEM-01", "2022", B) == (0.0, 200.0, 0.0, False)  # a 0 is not suppressed
    assert value(db, "DEM-01", "2022", DISTRICT) == (125.0, 1975.0, pytest.approx(100 * 125 / 1975), False)


def test_suppression_rule_holds_everywhere(built):
    db = built["db"]
    # round 0 = exactly the primary rule's cells; published suppressed = round 0 or a later
    # round of the secondary rule; suppressed rows show nothing
    wrong = fetch(db, """
        SELECT p.*, s.suppression_round FROM marts.indicator_values p
        JOIN intermediate.int_indicator_values_unsuppressed u USING (indicator_id, period, region_code, group_code)
        JOIN intermediate.int_indicator_suppression s USING (indicator_id, period, region_code, group_code)
        WHERE coalesce(s.suppression_round = 0, false)
                <> coalesce(u.unit <> 'anzahl_gemeinden' AND NOT u.is_undefined
                            AND (u.numerator IN (1, 2) OR u.denominator_count IN (1, 2)), false)
           OR p.is_suppressed <> (s.suppression_round IS NOT NULL)
           OR (p.is_suppressed AND (p.numerator IS NOT NULL OR p.denominator IS NOT NULL OR p.value IS NOT NULL))""")
    assert wrong == []
    # ARB-03: the rule looks at the 12-month sum; in the first build B's average stock is 2,
    # but the sum behind it is 24: shown
    first = {(r[0], r[1], r[3], r[5]): r for r in built["first_values"]}
    assert first[("ARB-03", "2024-01", B, "insgesamt")][6:] == (0.0, 2.0, 0.0, "prozent", False)
    n_suppressed = fetch(db, "SELECT count(*) FROM marts.indicator_values WHERE is_suppressed")[0][0]
    assert n_suppressed > 0


def test_data_tests_pass_and_warnings_do_not_block(built):
    results = built["first_results"]
    tests = {k: v for k, v in results.items() if k.startswith("test.")}
    assert len(tests) > 40
    failing = {k: v for k, v in tests.items() if v not in ("pass", "warn")}
    assert failing == {}
    # the two soft rules fire on this data (gap in unterbringung, WOH-01 at 110 %) and only warn
    warned = {k.split(".")[2] for k, v in tests.items() if v == "warn"}
    assert any(name.startswith("assert_monthly_files_without_gaps") for name in warned)
    assert any("woh_01_over_occupancy" in name for name in warned)


def test_incremental_build_equals_full_refresh(built):
    db, full_db = built["db"], built["full_db"]
    incremental = fetch(db, "SELECT * FROM marts.indicator_values ORDER BY ALL")
    full = fetch(full_db, "SELECT * FROM marts.indicator_values ORDER BY ALL")
    assert incremental == full
    assert len(incremental) > len(built["first_values"])
    for table in ["int_jobcenter_recipients_aggregated", "int_foreign_residents_aggregated",
                  "int_naturalisations_aggregated"]:
        sql = f"SELECT * FROM intermediate.{table} ORDER BY ALL"
        assert fetch(db, sql) == fetch(full_db, sql)
    # the new month arrived: B has 3 elb persons in March
    assert value(db, "ARB-02", NEW_MONTH, B) == (3.0, None, 3.0, False)
    assert value(db, "ARB-03", NEW_MONTH, DISTRICT)[0] == 3.0  # 2023-05, 2023-11, 2024-02
    # the re-delivered month replaced the old one: p8 is gone, B's 1 person is suppressed
    assert value(db, "ARB-02", REDELIVERED_MONTH, DISTRICT) == (20.0, None, 20.0, False)
    assert value(db, "ARB-02", REDELIVERED_MONTH, B)[3] is True
    # the header-only re-delivery left no row of its period behind
    assert fetch(db, "SELECT count(*) FROM intermediate.int_naturalisations_aggregated WHERE period = '2024-01'") == [(0,)]


def test_incremental_build_only_aggregates_the_changed_months(built):
    results = built["incremental_results"]
    assert results["model.integrationsmonitor.int_jobcenter_recipients_aggregated"] == "success"
    # the compiled incremental model reads only the changed months from raw ...
    assert ("period in (select period from \"internal\".\"meta\".\"changed_periods\" "
            "where file_type = 'jobcenter')") in built["compiled_incremental"]
    # ... and the other months' aggregate rows are still there
    after = dict(fetch(built["db"], """SELECT period, count(*) FROM intermediate.int_jobcenter_recipients_aggregated
                                       GROUP BY period"""))
    # (the two changed months are re-aggregated: the re-delivered one lost p8's row)
    unchanged = {p: n for p, n in built["aggregate_periods_before"].items() if p != REDELIVERED_MONTH}
    assert {p: n for p, n in after.items() if p not in (NEW_MONTH, REDELIVERED_MONTH)} == unchanged
    assert after[REDELIVERED_MONTH] == built["aggregate_periods_before"][REDELIVERED_MONTH] - 1
    assert NEW_MONTH in after and NEW_MONTH not in built["aggregate_periods_before"]


def test_incremental_build_reuses_the_saved_parse(built):
    """The changed periods are data (meta.changed_periods), not a var that differs on every
    run: the incremental build parses partially instead of re-parsing the whole project."""
    log = built["incremental_log"]
    assert "Unable to do partial parsing" not in log, log[:3000]


def test_a_change_not_announced_in_changed_periods_blocks(built, tmp_path):
    """A new month loaded but missing from meta.changed_periods (which lists only another
    file type's change): the aggregate is left as it is, and the blocking registry check
    fails rather than publishing zeros for that month."""
    db = tmp_path / "internal.duckdb"
    shutil.copy(built["full_db"], db)
    con = duckdb.connect(str(db))
    load_file(con, "jobcenter", "2024-04", jobcenter_rows("2024-04"))
    con.close()
    announce_changes(db, {"abh_einbuergerungen": ["2024-01"]})
    # the fixture's target dir: its partial parse saves a full parse (runs are sequential)
    proc = run_dbt(["build", *NO_UNIT], db, built["work"], check=False)
    assert proc.returncode != 0
    statuses = run_results(built["work"])
    assert statuses["test.integrationsmonitor.assert_aggregates_match_file_registry"] == "fail"
    assert statuses["model.integrationsmonitor.indicator_values"] == "skipped"
    months = {p for (p,) in fetch(db, "SELECT DISTINCT period FROM intermediate.int_jobcenter_recipients_aggregated")}
    assert "2024-04" not in months


def test_unit_tests_pass(built):
    proc = run_dbt(["test", "--select", "test_type:unit"], built["db"], built["work"])
    results = run_results(built["work"])
    unit = {k: v for k, v in results.items() if k.startswith("unit_test.")}
    # at least one unit test per formula (a formula model computes several indicators)
    assert len(unit) >= len(catalogue.load().indicators)
    assert set(unit.values()) == {"pass"}, proc.stdout[-4000:]
    # the rest is the on-run-start hook that creates meta.changed_periods
    assert {v for k, v in results.items() if k not in unit} <= {"success"}, proc.stdout[-4000:]


def test_health_and_access_indicators(built):
    db = built["db"]
    # GES-01: booklet shown k1..k4 in A (U8: k1, k3, k4), all 15 in C
    assert value(db, "GES-01", "2023/24", A) == (3.0, 4.0, pytest.approx(75.0), False)
    assert value(db, "GES-01", "2023/24", DISTRICT) == (18.0, 19.0, pytest.approx(1800 / 19), False)
    # k4's empty family language: in insgesamt and auslaendisch, in no language group
    assert value(db, "GES-01", "2023/24", DISTRICT, "auslaendisch")[:2] == (7.0, 7.0)
    assert value(db, "GES-01", "2023/24", DISTRICT, "familiensprache_andere")[:2] == (6.0, 6.0)
    assert value(db, "GES-01", "2023/24", DISTRICT, "familiensprache_deutsch")[:2] == (11.0, 12.0)
    # GES-02: record shown k1..k3 + C (k4 without record); two vaccinations k1, k3 + C
    assert value(db, "GES-02", "2023/24", DISTRICT) == (17.0, 18.0, pytest.approx(1700 / 18), False)
    assert value(db, "GES-02", "2023/24", A)[3] is True  # numerator 2
    # GES-03: intensive k3, k4 + 5 in C among the 19 screened
    assert value(db, "GES-03", "2023/24", DISTRICT) == (7.0, 19.0, pytest.approx(700 / 19), False)
    assert value(db, "GES-03", "2023/24", C) == (5.0, 15.0, pytest.approx(100 / 3), False)
    # REG-01: under 24 months k2, k3, k4 + the 5 in C (20 months); 19 known
    assert value(db, "REG-01", "2023/24", DISTRICT) == (8.0, 19.0, pytest.approx(800 / 19), False)
    # the examination year ends on 31 July of its second year
    ends = dict(fetch(db, "SELECT DISTINCT indicator_id, period_end FROM marts.indicator_values "
                          "WHERE period = '2023/24' AND indicator_id LIKE 'GES-%'"))
    assert set(ends.values()) == {date(2024, 7, 31)}
    # REG-02: origin auslaendisch 3 of 12 in A, 4 of 4 in C; by age group
    assert value(db, "REG-02", "2023", A) == (3.0, 12.0, pytest.approx(25.0), False)
    assert value(db, "REG-02", "2023", DISTRICT, "unter_3") == (3.0, 5.0, pytest.approx(60.0), False)
    assert value(db, "REG-02", "2023", DISTRICT, "3_bis_unter_6") == (4.0, 11.0, pytest.approx(400 / 11), False)
    # REG-03: children counted where cared for (A 12), residents 00-05 where they live (A 5):
    # a municipal value above 100; C has a Kita but no resident under 6 in the file: no value
    assert value(db, "REG-03", "2023", A) == (12.0, 5.0, pytest.approx(240.0), False)
    assert value(db, "REG-03", "2023", C) == (4.0, 0.0, None, False)
    assert value(db, "REG-03", "2023", DISTRICT) == (16.0, 5.0, pytest.approx(320.0), False)


def test_care_and_engagement_indicators(built):
    db = built["db"]
    # PFL-01 2022: aged 65+ (h1 72, h2 65; h3 64 not; h4) per 1,000 residents 65+ of 2022
    assert value(db, "PFL-01", "2022", A) == (3.0, 50.0, pytest.approx(60.0), False)
    assert value(db, "PFL-01", "2022", C) == (8.0, 500.0, pytest.approx(16.0), False)
    assert value(db, "PFL-01", "2022", DISTRICT) == (11.0, 550.0, pytest.approx(20.0), False)
    assert value(db, "PFL-01", "2022", A, "deutsch")[3] is True  # numerator 2
    assert value(db, "PFL-01", "2022", DISTRICT, "auslaendisch") == (4.0, 0.0, None, False)
    # PFL-02: in care homes among all recipients
    assert value(db, "PFL-02", "2022", C) == (5.0, 8.0, pytest.approx(62.5), False)
    assert value(db, "PFL-02", "2022", DISTRICT) == (7.0, 12.0, pytest.approx(700 / 12), False)
    # ENG-01 counts municipalities (rat, ausschuss) and is never suppressed, also at 1
    assert value(db, "ENG-01", "2024", A) == (1.0, None, 1.0, False)
    assert value(db, "ENG-01", "2024", C) == (0.0, None, 0.0, False)
    assert value(db, "ENG-01", "2024", DISTRICT) == (2.0, None, 2.0, False)
    assert value(db, "ENG-01", "2023", DISTRICT) == (1.0, None, 1.0, False)
    # ENG-02 per 100 in AU (December): A 12 over 10; C answered but has no AU: no value;
    # B did not answer: NULL, not suppressed, and its 6 AU residents are not in the district
    assert value(db, "ENG-02", "2024", A) == (12.0, 10.0, pytest.approx(120.0), False)
    assert value(db, "ENG-02", "2024", C) == (5.0, 0.0, None, False)
    assert value(db, "ENG-02", "2024", B) == (None, None, None, False)
    assert value(db, "ENG-02", "2024", DISTRICT) == (17.0, 10.0, pytest.approx(170.0), False)
    undefined = fetch(db, "SELECT indicator_id, period, region_code FROM intermediate.int_indicator_values_unsuppressed "
                          "WHERE is_undefined")
    assert undefined == [("ENG-02", "2024", B)]


def test_generated_dbt_files_match_the_catalogue():
    """The seeds, the catalogue macro and the wide analyst tables are generated from
    sources/indicators.yml: regenerate with `python -m sources.catalogue write-dbt`."""
    assert catalogue.check_dbt() == []
    groups = (DBT_PROJECT / "seeds" / "indicator_groups.csv").read_text().splitlines()
    assert groups[0] == "indicator_id,group_code,group_order,partition_id"
    assert "ARB-01,insgesamt,1," in groups and "ARB-01,auslaendisch,3,1" in groups
    assert "GES-01,familiensprache_andere,5," in groups and "REC-01,sonstige,8,1" in groups
    assert len(groups) - 1 == sum(len(i.groups) for i in catalogue.load().indicators)


def test_generator_detects_drift_and_a_new_indicator(tmp_path, monkeypatch):
    """Adding an indicator to the catalogue changes exactly the generated files it should:
    the seeds, the macro and the wide table of its field (model header and docs)."""
    text = catalogue.CATALOGUE_FILE.read_text(encoding="utf-8")
    entry = """
  - id: ARB-05
    name_de: 'Anteil Arbeitsloser'
    name_en: 'Share of unemployed'
    field: arbeit
    unit: prozent
    periodicity: monat
    groups: [insgesamt, deutsch, auslaendisch, fluchtkontext]
    partitions: [[deutsch, auslaendisch]]
    sources: [jobcenter]
    published_when: {driver: jobcenter}
    definition: 'Zähler: elb = J und arbeitslos = J. Nenner: elb = J.'
"""
    changed = tmp_path / "indicators.yml"
    changed.write_text(text + entry, encoding="utf-8")
    new = catalogue.dbt_files(catalogue.load(changed))
    old = catalogue.dbt_files()
    differ = {p.relative_to(DBT_PROJECT).as_posix() for p in new if new[p] != old.get(p)}
    assert differ == {"seeds/indicator_catalogue.csv", "seeds/indicator_groups.csv", "macros/catalogue.sql",
                      "models/marts/wide_arbeit.sql", "models/marts/_marts__wide.yml"}
    assert "arb_05_fluchtkontext" in new[DBT_PROJECT / "models" / "marts" / "_marts__wide.yml"]
    assert '"ARB-05"' in new[DBT_PROJECT / "macros" / "catalogue.sql"]


def test_suppression_check_blocks_a_wrong_mart(built, tmp_path):
    """The blocking mart check assert_suppression_applied passes on the built mart and fails on
    three wrong ones: a mart with the primary rule only (the secondary cells shown again), a
    mart whose group line has only its total suppressed (the amended rule) and a mart that
    shows one cell of the primary rule."""
    select = ["test", "--select", "assert_suppression_applied"]
    test_id = "test.integrationsmonitor.assert_suppression_applied"
    work = tmp_path / "work"
    # One warehouse path for all four dbt calls: dbt's saved parse holds while the profile (its
    # path) is the same, so only the first call parses the whole project.
    good = tmp_path / "internal.duckdb"
    shutil.copy(built["full_db"], good)
    run_dbt(select, good, work)
    assert run_results(work)[test_id] == "pass"
    check_sql = next((work / "target" / "compiled").rglob("assert_suppression_applied.sql")).read_text()
    rounds = dict(fetch(good, """SELECT coalesce(suppression_round > 0, false), count(*)
                                 FROM intermediate.int_indicator_suppression
                                 WHERE suppression_round IS NOT NULL GROUP BY 1"""))
    assert rounds.get(True, 0) > 0 and rounds.get(False, 0) > 0  # both rules at work on this data

    show_again = """UPDATE marts.indicator_values p
                    SET is_suppressed = false, numerator = u.numerator, denominator = u.denominator, value = u.value
                    FROM intermediate.int_indicator_values_unsuppressed u, intermediate.int_indicator_suppression s
                    WHERE u.indicator_id = p.indicator_id AND u.period = p.period
                      AND u.region_code = p.region_code AND u.group_code = p.group_code
                      AND s.indicator_id = p.indicator_id AND s.period = p.period
                      AND s.region_code = p.region_code AND s.group_code = p.group_code AND {which}"""
    cases = {
        "primary_only": ("s.suppression_round > 0", "line with exactly one suppressed part"),
        # the amended rule (2026-12-07): a group line whose total is suppressed (as a part of its
        # regional line) and whose parts were all suppressed in later rounds: show its parts again
        "total_only": ("""s.suppression_round > 0
                          AND s.group_code IN (SELECT group_code FROM reference.indicator_groups g
                                               WHERE g.indicator_id = s.indicator_id AND g.partition_id IS NOT NULL)
                          AND concat_ws('|', s.indicator_id, s.period, s.region_code) = (
                              SELECT min(concat_ws('|', t.indicator_id, t.period, t.region_code))
                              FROM intermediate.int_indicator_suppression t
                              WHERE t.group_code = 'insgesamt' AND t.suppression_round IS NOT NULL
                                AND NOT EXISTS (
                                    SELECT 1 FROM intermediate.int_indicator_suppression q
                                    JOIN reference.indicator_groups g
                                      ON g.indicator_id = q.indicator_id AND g.group_code = q.group_code
                                    WHERE g.partition_id IS NOT NULL AND q.indicator_id = t.indicator_id
                                      AND q.period = t.period AND q.region_code = t.region_code
                                      AND q.suppression_round = 0)
                                AND EXISTS (
                                    SELECT 1 FROM intermediate.int_indicator_suppression q
                                    JOIN reference.indicator_groups g
                                      ON g.indicator_id = q.indicator_id AND g.group_code = q.group_code
                                    WHERE g.partition_id IS NOT NULL AND q.indicator_id = t.indicator_id
                                      AND q.period = t.period AND q.region_code = t.region_code
                                      AND q.suppression_round > 0 AND q.figure > 0))""",
                       "with exactly one suppressed cell, its total"),
        "primary_cell_shown": ("""s.suppression_round = 0
                                  AND concat_ws('|', s.indicator_id, s.period, s.region_code, s.group_code) = (
                                      SELECT min(concat_ws('|', indicator_id, period, region_code, group_code))
                                      FROM intermediate.int_indicator_suppression WHERE suppression_round = 0)""",
                               "primary rule not applied"),
    }
    for name, (which, problem) in cases.items():
        wrong = good
        shutil.copy(built["full_db"], wrong)  # each case alone on the good mart
        con = duckdb.connect(str(wrong))
        changed = con.execute(show_again.format(which=which)).fetchone()[0]
        con.close()
        assert changed > 0, name
        proc = run_dbt(select, wrong, work, check=False)
        assert proc.returncode != 0, name
        assert run_results(work)[test_id] == "fail", name
        problems = {r[-1] for r in fetch(wrong, check_sql)}
        assert any(problem in p for p in problems), (name, problems)


def test_generator_rejects_an_unknown_publication_rule(tmp_path):
    """A typo in published_when is named with the indicator instead of surfacing as a dbt
    compile error in the generated int_indicator_periods."""
    text = catalogue.CATALOGUE_FILE.read_text(encoding="utf-8")
    rule = "published_when: {driver: kita, needs: [{file: bevoelkerung, at: year-1}]}"
    assert rule in text
    bad = tmp_path / "indicators.yml"
    bad.write_text(text.replace(rule, "published_when: {driver: kita, needs: [{file: bevoelkerng, at: yaer-1}]}"),
                   encoding="utf-8")
    with pytest.raises(ValueError) as err:
        catalogue.dbt_files(catalogue.load(bad))
    assert "REG-03: file type 'bevoelkerng' is not in sources/contracts.yml" in str(err.value)
    assert "REG-03: needs at 'yaer-1'" in str(err.value)
