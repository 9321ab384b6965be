"""The analyst marts (wide tables per Handlungsfeld, latest_values, coverage) and the German
indicator catalogue, on the hand-made warehouse of test_dbt_project.py.

One `dbt build` of its own (about 10 s): test_dbt_project's session fixture lives in that
module and cannot be shared from here without moving it to conftest.py. Its raw data is
reused as it is, plus three registry changes that give coverage something to find:
- bevoelkerung 2020 (so 2021 is a missing year; DEM-01 gets 2020 and 2022),
- schulstatistik 2021 (school year 2022/23 missing for BIL-01/BIL-02),
- a non-current registry row for jobcenter 2023-01 (replaced version: must not count).
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

import test_dbt_project as dbtp  # hand-made raw data and dbt helpers (tests/ is on sys.path)
from sources import catalogue
from sources.contracts import load_contracts

A, B, C, DISTRICT = dbtp.A, dbtp.B, dbtp.C, dbtp.DISTRICT
fetch = dbtp.fetch

CATALOGUE = catalogue.load()
WIDE_TABLES = catalogue.wide_tables(CATALOGUE)  # table -> its indicators, from sources/indicators.yml
NEW_MARTS = set(WIDE_TABLES) | {"latest_values", "coverage"}
WIDE_KEY = ["period", "period_end", "region_code", "region_name"]
# which wide table holds which Handlungsfeld (display name) / periodicity
WIDE_TABLE = {(CATALOGUE.field(inds[0].field).name, inds[0].periodicity): table
              for table, inds in WIDE_TABLES.items()}


@pytest.fixture(scope="module")
def built_marts(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("analyst_marts")
    path = work / "internal.duckdb"
    dbtp.make_warehouse(path)
    con = duckdb.connect(str(path))
    pop_2020 = [(date(2020, 12, 31), *r[1:]) for r in dbtp.BEVOELKERUNG_2022]
    dbtp.load_file(con, "bevoelkerung", "2020", pop_2020)
    dbtp.load_file(con, "schulstatistik", "2021", [("2021/22", *r[1:]) for r in dbtp.SCHULSTATISTIK_2023])
    con.execute("INSERT INTO meta.file_versions VALUES ('jobcenter', 'jobcenter_2023-01.csv', '2023-01', "
                "'old', 3, false)")
    con.close()
    dbtp.run_dbt(["build", *dbtp.NO_UNIT], path, work)
    return {"db": path, "results": dbtp.run_results(work)}


@pytest.fixture
def db(built_marts) -> Path:
    return built_marts["db"]


def wide_column(indicator_id: str, group_code: str) -> str:
    return f"{indicator_id}_{group_code}".lower().replace("-", "_")


def cell(db: Path, table: str, column: str, period: str, region: str):
    rows = fetch(db, f"SELECT {column} FROM marts.{table} WHERE period = ? AND region_code = ?", [period, region])
    assert len(rows) == 1, (table, period, region, rows)
    return rows[0][0]


def hand(db: Path, table: str, column: str, period: str, region: str):
    """The wide cell, for a figure worked out by hand under the primary rule: a cell that the
    secondary rule suppressed (round >= 1 in int_indicator_suppression, tested on its own in
    tests/test_suppression.py) must be NULL in the wide table and is returned as the marker
    SECONDARY, which equals no hand figure except through `shown_or_secondary`."""
    value = cell(db, table, column, period, region)
    rounds = fetch(db, """
        SELECT s.suppression_round FROM intermediate.int_indicator_suppression s
        WHERE s.period = ? AND s.region_code = ?
          AND lower(replace(s.indicator_id, '-', '_') || '_' || s.group_code) = ?""", [period, region, column])
    if rounds and rounds[0][0] is not None and rounds[0][0] >= 1:
        assert value is None, (table, column, period, region, value)
        return SECONDARY
    return value


class _Secondary:
    """Stands for a cell suppressed by the secondary rule: equal to any hand figure."""

    def __eq__(self, other):
        return True

    def __repr__(self):
        return "SECONDARY"


SECONDARY = _Secondary()


# --------------------------------------------------------------------------- all new marts

def test_new_marts_are_tables_with_aggregates_only(db, built_marts):
    results = built_marts["results"]
    tables = dict(fetch(db, "SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_schema = 'marts'"))
    assert NEW_MARTS <= set(tables)
    # tables, not views: the publisher attaches the warehouse under another catalog name
    assert {tables[t] for t in NEW_MARTS} == {"BASE TABLE"}
    columns = {c for (c,) in fetch(db, "SELECT column_name FROM information_schema.columns "
                                       "WHERE table_schema = 'marts'")}
    assert not columns & {"person_id", "bg_id", "geburtsjahr", "einreisedatum", "row_count", "file_sha256"}
    # every data test on the new models ran and passed (none is expected to warn on this data)
    new_tests = {k: v for k, v in results.items()
                 if k.startswith("test.") and any(m in k for m in NEW_MARTS)}
    assert len(new_tests) >= 13
    assert set(new_tests.values()) == {"pass"}, new_tests


# --------------------------------------------------------------------------- wide tables

def test_wide_columns_are_the_indicator_groups(db):
    groups = fetch(db, """SELECT c.handlungsfeld, c.periodicity, g.indicator_id, g.group_code
                          FROM reference.indicator_groups g JOIN marts.indicators c USING (indicator_id)""")
    expected: dict[str, set[str]] = {}
    for field, periodicity, indicator_id, group_code in groups:
        expected.setdefault(WIDE_TABLE[(field, periodicity)], set()).add(wide_column(indicator_id, group_code))
    for table, value_columns in expected.items():
        cols = fetch(db, """SELECT column_name, data_type FROM information_schema.columns
                            WHERE table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position""", [table])
        assert [c for c, _ in cols[:4]] == WIDE_KEY
        assert {c for c, _ in cols[4:]} == value_columns and len(cols) == 4 + len(value_columns)
        assert {t for c, t in cols[4:]} == {"DOUBLE"}
    # all rows of seed indicator_groups, i.e. every group of every indicator of the catalogue
    assert sum(len(v) for v in expected.values()) == sum(len(i.groups) for i in CATALOGUE.indicators)
    assert set(expected) == set(WIDE_TABLES)


def test_every_wide_cell_equals_indicator_values(db):
    """Unpivoted, each wide table is exactly the value column of indicator_values: every
    published row has its cell with the same value, every other cell is NULL."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table in WIDE_TABLE.values():
            con.execute(f"""CREATE TEMP TABLE cells AS FROM marts.{table}
                UNPIVOT INCLUDE NULLS (cell FOR col IN (COLUMNS(* EXCLUDE ({', '.join(WIDE_KEY)}))))""")
            rows_per_period = con.execute("SELECT DISTINCT count(*) FROM marts." + table +
                                          " GROUP BY period").fetchall()
            assert rows_per_period == [(45,)], table
            matched, mismatched, orphans = con.execute("""
                WITH published AS (
                    SELECT lower(replace(indicator_id, '-', '_')) || '_' || lower(group_code) AS col,
                           period, period_end, region_code, region_name, value
                    FROM marts.indicator_values)
                SELECT count(p.col) FILTER (WHERE c.col IS NOT NULL),
                       count(*) FILTER (WHERE p.col IS NOT NULL AND c.col IS NOT NULL
                                        AND (c.cell IS DISTINCT FROM p.value OR c.period_end <> p.period_end
                                             OR c.region_name <> p.region_name)),
                       count(*) FILTER (WHERE p.col IS NULL AND c.cell IS NOT NULL)
                FROM cells c LEFT JOIN published p USING (col, period, region_code)""").fetchone()
            published = con.execute(f"""SELECT count(*) FROM marts.indicator_values
                WHERE lower(replace(indicator_id, '-', '_')) || '_' || lower(group_code)
                      IN (SELECT DISTINCT col FROM cells)""").fetchone()[0]
            assert (matched, mismatched, orphans) == (published, 0, 0), table
            con.execute("DROP TABLE cells")
    finally:
        con.close()


def test_wide_cells_worked_out_by_hand(db):
    # the figures of test_dbt_project.py, now as cells
    assert hand(db, "wide_arbeit", "arb_02_insgesamt", "2023-06", A) == 4.0
    assert hand(db, "wide_arbeit", "arb_02_deutsch", "2023-06", A) is None  # 1 person: suppressed
    assert hand(db, "wide_arbeit", "arb_02_insgesamt", "2023-06", DISTRICT) == 21.0
    assert hand(db, "wide_arbeit", "arb_01_auslaendisch", "2023-06", A) == pytest.approx(12.0)
    assert hand(db, "wide_arbeit", "arb_03_insgesamt", "2024-01", A) == pytest.approx(75.0)
    # 2024 has no population file of 2023: ARB-01 not published, the row exists for ARB-02
    assert hand(db, "wide_arbeit", "arb_01_insgesamt", "2024-01", A) is None
    assert hand(db, "wide_arbeit", "arb_02_insgesamt", "2024-01", A) == 4.0
    # ARB-03 before its first complete window
    assert hand(db, "wide_arbeit", "arb_03_insgesamt", "2023-06", DISTRICT) is None
    assert hand(db, "wide_sprache", "spr_02_fluchtkontext", "2023-06", C) == pytest.approx(80.0)
    assert hand(db, "wide_rechtsstatus_monat", "rec_01_unbefristet", "2022-12", DISTRICT) == 22.0
    assert hand(db, "wide_rechtsstatus_monat", "rec_02_insgesamt", "2022-12", C) == pytest.approx(200 / 3)
    assert hand(db, "wide_rechtsstatus_jahr", "rec_04_insgesamt", "2023", DISTRICT) == pytest.approx(400 / 23)
    assert hand(db, "wide_rechtsstatus_jahr", "rec_03_insgesamt", "2023", A) is None  # 1: suppressed
    assert hand(db, "wide_bildung", "bil_02_insgesamt", "2023/24", C) == 14.0
    assert hand(db, "wide_bildung", "bil_01_deutsch", "2023/24", DISTRICT) == pytest.approx(40.0)
    assert hand(db, "wide_wohnen", "woh_01_vu", "2024-01", C) == pytest.approx(110.0)
    assert hand(db, "wide_wohnen", "woh_03_insgesamt", "2024-01", A) is None  # 1 move: suppressed
    assert hand(db, "wide_demografie", "dem_01_insgesamt", "2022", B) == 0.0  # a 0 is shown
    # second edition: units je_1000, je_100, anzahl_gemeinden are plain values here too
    assert hand(db, "wide_gesundheit", "ges_01_insgesamt", "2023/24", A) == pytest.approx(75.0)
    assert hand(db, "wide_zugang_schuljahr", "reg_01_insgesamt", "2023/24", DISTRICT) == pytest.approx(800 / 19)
    assert hand(db, "wide_zugang_jahr", "reg_03_insgesamt", "2023", A) == pytest.approx(240.0)
    assert hand(db, "wide_zugang_jahr", "reg_03_insgesamt", "2024", A) is None  # no bevoelkerung 2023
    assert hand(db, "wide_zugang_jahr", "reg_02_unter_3", "2024", A) == pytest.approx(100.0)
    assert hand(db, "wide_pflege", "pfl_01_insgesamt", "2022", DISTRICT) == pytest.approx(20.0)
    assert hand(db, "wide_engagement", "eng_01_insgesamt", "2024", A) == 1.0  # never suppressed
    assert hand(db, "wide_engagement", "eng_02_insgesamt", "2024", B) is None  # did not answer
    assert hand(db, "wide_engagement", "eng_02_insgesamt", "2024", DISTRICT) == pytest.approx(170.0)
    periods = {t: [p for (p,) in fetch(db, f"SELECT DISTINCT period FROM marts.{t} ORDER BY 1")]
               for t in WIDE_TABLE.values()}
    assert periods["wide_arbeit"] == dbtp.INITIAL_JOBCENTER_MONTHS
    assert periods["wide_rechtsstatus_monat"] == ["2022-12", "2023-12"]
    assert periods["wide_rechtsstatus_jahr"] == ["2023"]
    assert periods["wide_bildung"] == ["2021/22", "2023/24"]
    assert periods["wide_demografie"] == ["2020", "2022"]


# --------------------------------------------------------------------------- latest_values

def test_latest_values_hold_the_latest_period_of_each_indicator(db):
    latest = dict(fetch(db, "SELECT indicator_id, list(DISTINCT period) FROM marts.latest_values GROUP BY 1"))
    maxima = dict(fetch(db, "SELECT indicator_id, max(period) FROM marts.indicator_values GROUP BY 1"))
    assert set(latest) == {i.id for i in CATALOGUE.indicators}
    assert latest == {k: [v] for k, v in maxima.items()}
    assert latest["ARB-01"] == ["2023-12"] and latest["ARB-03"] == ["2024-02"]
    assert latest["REC-01"] == ["2023-12"] and latest["REC-03"] == ["2023"]
    assert latest["BIL-01"] == ["2023/24"] and latest["DEM-01"] == ["2022"]
    # one row per indicator x region x group, each the very row of indicator_values
    n_keys = fetch(db, "SELECT count(DISTINCT (indicator_id, region_code, group_code)) FROM marts.indicator_values")
    assert fetch(db, "SELECT count(*) FROM marts.latest_values") == n_keys
    differing = fetch(db, """
        SELECT count(*) FROM marts.latest_values l
        LEFT JOIN marts.indicator_values v USING (indicator_id, period, region_code, group_code)
        WHERE v.indicator_id IS NULL
           OR (l.numerator, l.denominator, l.value, l.is_suppressed, l.period_end, l.unit)
              IS DISTINCT FROM (v.numerator, v.denominator, v.value, v.is_suppressed, v.period_end, v.unit)""")
    assert differing == [(0,)]
    row = fetch(db, """SELECT name_de, handlungsfeld, period, value, is_suppressed FROM marts.latest_values
                       WHERE indicator_id = 'ARB-02' AND region_code = ? AND group_code = 'insgesamt'""", [DISTRICT])
    assert row == [("Erwerbsfähige Leistungsberechtigte", "Arbeit", "2024-02", 21.0, False)]
    # a suppressed latest row is still the latest row (B has 2 elb persons)
    assert fetch(db, """SELECT period, value, is_suppressed FROM marts.latest_values
                        WHERE indicator_id = 'ARB-02' AND region_code = ? AND group_code = 'insgesamt'""",
                 [B]) == [("2024-02", None, True)]


# --------------------------------------------------------------------------- coverage

def test_coverage_of_sources_matches_the_registry(db):
    rows = {r[0]: r[1:] for r in fetch(db, """SELECT subject, periodicity, first_period, last_period, period_count,
                                                     expected_period_count, missing_period_count, missing_periods
                                              FROM marts.coverage WHERE kind = 'source'""")}
    assert rows == {
        # 2023-02 .. 2024-02; the replaced 2023-02 version and the non-current 2023-01 do not count
        "jobcenter": ("monat", "2023-02", "2024-02", 13, 13, 0, None),
        "abh_bestand": ("monat", "2022-12", "2023-12", 2, 13, 11,
                        ", ".join(f"2023-{m:02d}" for m in range(1, 12))),
        # 2023-07 is a header-only file: present
        "abh_einbuergerungen": ("monat", "2023-01", "2024-01", 13, 13, 0, None),
        "unterbringung": ("monat", "2023-11", "2024-12", 4, 14, 10,
                          ", ".join(["2023-12"] + [f"2024-{m:02d}" for m in range(3, 12)])),
        "bevoelkerung": ("jahr", "2020", "2022", 2, 3, 1, "2021"),
        "schulstatistik": ("schuljahr", "2021", "2023", 2, 3, 1, "2022"),  # file-name periods
        "schulabgaenger": ("schuljahr", "2023", "2023", 1, 1, 0, None),
        "esu": ("schuljahr", "2023", "2023", 1, 1, 0, None),
        "kita": ("jahr", "2023", "2024", 2, 2, 0, None),
        "hilfe_zur_pflege": ("jahr", "2022", "2023", 2, 2, 0, None),
        "engagement": ("jahr", "2023", "2024", 2, 2, 0, None),
    }
    # the source periodicities are the period kinds of the delivery contracts
    kinds = {"month": "monat", "year": "jahr", "school_year": "schuljahr"}
    contracts = {c.file_type: kinds[c.period_kind] for c in load_contracts().values()}
    assert contracts == {k: v[0] for k, v in rows.items()}


def test_coverage_of_indicators_matches_the_published_periods(db):
    rows = {r[0]: r[1:] for r in fetch(db, """SELECT subject, periodicity, first_period, last_period, period_count,
                                                     expected_period_count, missing_period_count, missing_periods
                                              FROM marts.coverage WHERE kind = 'indicator'""")}
    assert set(rows) == {i.id for i in CATALOGUE.indicators}
    # ARB-01 only for 2023 (population 2022); 2024 lacks the population file of 2023
    assert rows["ARB-01"] == ("monat", "2023-02", "2023-12", 11, 11, 0, None)
    assert rows["ARB-02"] == ("monat", "2023-02", "2024-02", 13, 13, 0, None)
    assert rows["ARB-03"] == ("monat", "2024-01", "2024-02", 2, 2, 0, None)
    assert rows["REC-01"][1:] == ("2022-12", "2023-12", 2, 13, 11, ", ".join(f"2023-{m:02d}" for m in range(1, 12)))
    assert rows["REC-03"] == rows["REC-04"] == ("jahr", "2023", "2023", 1, 1, 0, None)
    assert rows["WOH-02"] == ("monat", "2023-11", "2024-12", 4, 14, 10,
                              ", ".join(["2023-12"] + [f"2024-{m:02d}" for m in range(3, 12)]))
    assert rows["GES-01"] == ("schuljahr", "2023/24", "2023/24", 1, 1, 0, None)
    assert rows["ENG-01"] == ("jahr", "2023", "2024", 2, 2, 0, None)
    assert rows["BIL-01"] == rows["BIL-02"] == ("schuljahr", "2021/22", "2023/24", 2, 3, 1, "2022/23")
    assert rows["BIL-03"] == ("schuljahr", "2023/24", "2023/24", 1, 1, 0, None)
    assert rows["DEM-01"] == ("jahr", "2020", "2022", 2, 3, 1, "2021")
    # period_count is the number of distinct periods of indicator_values
    counts = dict(fetch(db, "SELECT indicator_id, count(DISTINCT period) FROM marts.indicator_values GROUP BY 1"))
    assert counts == {k: v[3] for k, v in rows.items()}


# --------------------------------------------------------------------------- catalogue

def test_catalogue_definitions_and_caveats_are_german():
    path = dbtp.DBT_PROJECT / "seeds" / "indicator_catalogue.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = {r["indicator_id"]: r for r in csv.DictReader(f)}
    english = re.compile(r"\b(Numerator|Denominator|Groups?|rows?|Share|Number|Published|only|the|of|with)\b")
    for r in rows.values():
        assert not english.search(r["definition"]), r["definition"]
        assert not english.search(r["caveats"]), r["caveats"]
        assert re.search(r"\bGruppen?(: | wie [A-Z]{3}-\d\d)", r["definition"]), r["indicator_id"]
    # the English name stays
    assert rows["ARB-01"]["name_en"] == "SGB II rate"
    # formulas kept exactly (indicators.md)
    assert "m-11 ... m" in rows["ARB-03"]["definition"] and "geteilt durch 12" in rows["ARB-03"]["definition"]
    assert "31. Dezember Y-6" in rows["REC-04"]["definition"] and "abh_bestand_{Y-1}-12" in rows["REC-04"]["definition"]
    assert "(WRS, RS, GMS, GY, SBBZ)" in rows["BIL-01"]["definition"]
    assert "Alter <= 64" in rows["ARB-01"]["definition"] and "außer 65+" in rows["ARB-01"]["definition"]
