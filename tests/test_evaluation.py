"""Evaluation rules (orchestration/evaluation.py) pinned on small hand-made inputs."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import duckdb
import pytest

from orchestration.evaluation import TargetsError, add_evaluation, load_targets
from orchestration.settings import TARGETS_FILE

D = "08116"  # district
A = "08116004"  # Altbach
B = "08116005"  # Altdorf
C = "08116006"  # Altenriet
NAMES = {D: "Landkreis Esslingen", A: "Altbach", B: "Altdorf", C: "Altenriet"}

VALUES_DDL = """
CREATE TABLE main.indicator_values (
    indicator_id VARCHAR, period VARCHAR, period_end DATE, region_code VARCHAR, region_name VARCHAR,
    group_code VARCHAR, numerator DOUBLE, denominator DOUBLE, value DOUBLE, unit VARCHAR,
    is_suppressed BOOLEAN)
"""
CATALOGUE_DDL = """
CREATE TABLE main.indicators (
    indicator_id VARCHAR, name_de VARCHAR, name_en VARCHAR, handlungsfeld VARCHAR, unit VARCHAR,
    periodicity VARCHAR, definition VARCHAR, source VARCHAR, caveats VARCHAR)
"""
UNITS = {"ARB-01": "prozent", "ARB-02": "anzahl", "ARB-03": "prozent", "SPR-01": "prozent",
         "SPR-02": "prozent", "REC-02": "prozent", "BIL-03": "prozent", "WOH-01": "prozent",
         "DEM-01": "prozent"}


def period_end(period: str) -> dt.date:
    if "/" in period:
        return dt.date(int(period[:4]) + 1, 7, 31)
    if "-" in period:
        y, m = int(period[:4]), int(period[5:])
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)
    return dt.date(int(period), 12, 31)


def make_db(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """rows: (indicator_id, period, region, group, value) — value 'S' = suppressed, None = undefined."""
    con = duckdb.connect()
    con.execute(VALUES_DDL)
    con.execute(CATALOGUE_DDL)
    for ind, unit in UNITS.items():
        con.execute("INSERT INTO main.indicators VALUES (?, ?, ?, 'Arbeit', ?, 'monat', 'd', 's', NULL)",
                    [ind, ind, ind, unit])
    for ind, per, reg, grp, val in rows:
        sup = val == "S"
        v = None if sup else val
        unit = UNITS[ind]
        # undefined (None) as published: denominator 0, numerator 0 (indicators.md: "where the
        # denominator is 0 the value is NULL"); NULL figures only when suppressed
        num = None if sup else (0.0 if v is None else (v if unit == "anzahl" else v * 10))
        den = None if (sup or unit == "anzahl") else (0.0 if v is None else 1000.0)
        con.execute("INSERT INTO main.indicator_values VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [ind, per, period_end(per), reg, NAMES[reg], grp, num, den, v, unit, sup])
    return con


def write_targets(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "zielwerte.yml"
    p.write_text("version: 1\nzielwerte:\n" + textwrap.indent(textwrap.dedent(body), "  "), encoding="utf-8")
    return p


def ev(con, ind: str, period: str, region: str = D, group: str = "insgesamt") -> dict:
    cur = con.execute(
        "SELECT * FROM main.indicator_evaluation WHERE indicator_id=? AND period=? AND region_code=? AND group_code=?",
        [ind, period, region, group])
    cols = [c[0] for c in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, (ind, period, region, group, rows)
    return dict(zip(cols, rows[0]))


ROWS = [
    # ARB-01 monthly percent; 2024-12 is missing on purpose (gap)
    ("ARB-01", "2024-01", D, "insgesamt", 6.0),
    ("ARB-01", "2024-02", D, "insgesamt", 5.9),
    ("ARB-01", "2025-01", D, "insgesamt", 5.6),
    ("ARB-01", "2025-02", D, "insgesamt", 5.5),
    ("ARB-01", "2024-02", A, "insgesamt", 5.0),
    ("ARB-01", "2025-01", A, "insgesamt", "S"),
    ("ARB-01", "2025-02", A, "insgesamt", 5.7),   # within 5 % of 5.5 -> gleich
    ("ARB-01", "2025-02", B, "insgesamt", 7.0),   # über
    ("ARB-01", "2025-02", C, "insgesamt", "S"),   # suppressed
    ("ARB-01", "2024-02", C, "insgesamt", 4.0),
    ("ARB-01", "2025-01", B, "insgesamt", 4.0),   # unter (5.6 district)
    # ARB-02 count
    ("ARB-02", "2025-01", D, "insgesamt", 1000.0),
    ("ARB-02", "2025-02", D, "insgesamt", 1012.0),
    ("ARB-02", "2025-02", A, "insgesamt", 40.0),
    ("ARB-02", "2025-02", B, "insgesamt", 0.0),   # a real 0, not suppressed
    ("ARB-02", "2025-01", B, "insgesamt", "S"),
    # ARB-03: target 'alle' plus a specific one for A
    ("ARB-03", "2025-02", D, "insgesamt", 26.0),
    ("ARB-03", "2025-02", A, "insgesamt", 27.0),
    ("ARB-03", "2025-02", B, "insgesamt", 24.0),
    ("ARB-03", "2025-02", C, "insgesamt", "S"),
    # SPR-02 target met; SPR-01 no year before
    ("SPR-02", "2025-02", D, "fluchtkontext", 62.0),
    ("SPR-02", "2024-02", D, "fluchtkontext", 64.0),
    ("SPR-01", "2025-02", D, "fluchtkontext", 40.0),
    # REC-02 near the target without progress
    ("REC-02", "2025-02", D, "insgesamt", 48.0),
    ("REC-02", "2024-02", D, "insgesamt", 48.5),
    # BIL-03 school year: slow progress
    ("BIL-03", "2023/24", D, "insgesamt", 7.5),
    ("BIL-03", "2024/25", D, "insgesamt", 7.0),
    ("BIL-03", "2024/25", D, "auslaendisch", None),  # undefined (denominator 0)
    ("BIL-03", "2023/24", D, "auslaendisch", 12.0),
    # WOH-01 wrong direction
    ("WOH-01", "2024-06", D, "insgesamt", 93.0),
    ("WOH-01", "2025-06", D, "insgesamt", 95.0),
    ("WOH-01", "2024-07", D, "insgesamt", 94.0),
    ("WOH-01", "2025-07", D, "insgesamt", 94.0),  # 4 above 90 (<= 4.5), no change
    # DEM-01 yearly, target year passed
    ("DEM-01", "2023", D, "insgesamt", 20.0),
    ("DEM-01", "2024", D, "insgesamt", 25.0),
    ("DEM-01", "2024", A, "insgesamt", 25.0),
]

TARGETS = """\
- {indicator_id: ARB-01, target: 5.0, direction: runter, year: 2026, quelle: Test}
- {indicator_id: ARB-03, region: alle, target: 25.0, direction: hoch, year: 2026, quelle: Test}
- {indicator_id: ARB-03, region: "08116004", target: 30.0, direction: hoch, year: 2026, quelle: Test, beispiel: true}
- {indicator_id: SPR-02, group: fluchtkontext, target: 60.0, direction: hoch, year: 2026, quelle: Test}
- {indicator_id: SPR-01, group: fluchtkontext, target: 55.0, direction: hoch, year: 2026, quelle: Test}
- {indicator_id: REC-02, target: 50.0, direction: hoch, year: 2027, quelle: Test}
- {indicator_id: BIL-03, target: 5.0, direction: runter, year: 2026, quelle: Test}
- {indicator_id: BIL-03, group: auslaendisch, target: 10.0, direction: runter, year: 2027, quelle: Test}
- {indicator_id: WOH-01, target: 90.0, direction: runter, year: 2027, quelle: Test}
- {indicator_id: DEM-01, region: alle, target: 30.0, direction: hoch, year: 2023, quelle: Test}
"""


@pytest.fixture()
def con(tmp_path):
    c = make_db(ROWS)
    add_evaluation(c, write_targets(tmp_path, TARGETS))
    yield c
    c.close()


def test_one_evaluation_row_per_value_row(con):
    n_vals = con.execute("SELECT count(*) FROM main.indicator_values").fetchone()[0]
    n_ev, n_keys = con.execute(
        "SELECT count(*), count(DISTINCT (indicator_id, period, region_code, group_code)) FROM main.indicator_evaluation"
    ).fetchone()
    assert n_ev == n_keys == n_vals == len(ROWS)


def test_change_previous_period_monthly_with_gap(con):
    r = ev(con, "ARB-01", "2025-02")
    assert r["previous_period"] == "2025-01"
    assert r["value_previous"] == pytest.approx(5.6)
    assert r["change_previous"] == pytest.approx(-0.1)  # percentage points
    # 2024-12 is not in the data: compared with nothing, not with 2024-02
    r = ev(con, "ARB-01", "2025-01")
    assert r["previous_period"] == "2024-12"
    assert r["value_previous"] is None and r["change_previous"] is None
    # count: plain difference
    assert ev(con, "ARB-02", "2025-02")["change_previous"] == pytest.approx(12.0)


def test_year_before_per_periodicity(con):
    r = ev(con, "ARB-01", "2025-02")
    assert r["period_year_before"] == "2024-02"
    assert r["value_year_before"] == pytest.approx(5.9)
    assert r["change_year_before"] == pytest.approx(-0.4)
    r = ev(con, "BIL-03", "2024/25")
    assert (r["previous_period"], r["period_year_before"]) == ("2023/24", "2023/24")
    assert r["change_year_before"] == pytest.approx(-0.5)
    r = ev(con, "DEM-01", "2024")
    assert (r["previous_period"], r["period_year_before"]) == ("2023", "2023")
    assert r["change_year_before"] == pytest.approx(5.0)
    # January: previous month is December of the year before
    assert ev(con, "ARB-02", "2025-01")["previous_period"] == "2024-12"


def test_school_year_label_across_century_digits(tmp_path):
    c = make_db([("BIL-03", "2000/01", D, "insgesamt", 5.0), ("BIL-03", "1999/00", D, "insgesamt", 6.0)])
    add_evaluation(c, write_targets(tmp_path, ""))
    r = ev(c, "BIL-03", "2000/01")
    assert r["previous_period"] == "1999/00" and r["change_previous"] == pytest.approx(-1.0)


def test_district_value_and_position(con):
    a = ev(con, "ARB-01", "2025-02", A)
    assert a["district_value"] == pytest.approx(5.5)
    assert a["diff_to_district"] == pytest.approx(0.2)
    assert a["position"] == "gleich"  # tolerance max(0.1, 5 % of 5.5 = 0.275)
    b = ev(con, "ARB-01", "2025-02", B)
    assert b["diff_to_district"] == pytest.approx(1.5) and b["position"] == "über Kreiswert"
    b_jan = ev(con, "ARB-01", "2025-01", B)
    assert b_jan["diff_to_district"] == pytest.approx(-1.6) and b_jan["position"] == "unter Kreiswert"
    # the district itself is not compared with itself
    d = ev(con, "ARB-01", "2025-02", D)
    assert d["district_value"] == pytest.approx(5.5)
    assert d["diff_to_district"] is None and d["position"] is None


def test_counts_are_not_compared_with_the_district_total(con):
    a = ev(con, "ARB-02", "2025-02", A)
    assert a["district_value"] == pytest.approx(1012.0)
    assert a["diff_to_district"] is None and a["position"] is None


def test_suppressed_and_undefined_give_null_never_zero(con):
    c = ev(con, "ARB-01", "2025-02", C)
    assert c["is_suppressed"] is True and c["value"] is None
    assert c["value_year_before"] == pytest.approx(4.0)  # the other period is published, so shown
    for col in ("change_previous", "change_year_before", "diff_to_district", "position",
                "distance_to_target", "status"):
        assert c[col] is None, col
    # a suppressed previous value makes the change NULL, not "value - 0"
    a = ev(con, "ARB-01", "2025-02", A)
    assert a["value_previous"] is None and a["change_previous"] is None
    assert a["change_year_before"] == pytest.approx(0.7)
    b = ev(con, "ARB-02", "2025-02", B)
    assert b["value"] == 0.0 and b["change_previous"] is None  # 0 is a value; previous suppressed
    u = ev(con, "BIL-03", "2024/25", D, "auslaendisch")
    assert u["value"] is None and not u["is_suppressed"]
    assert u["change_year_before"] is None and u["status"] is None
    assert u["status_reason"] == "Wert nicht definiert"
    s = ev(con, "ARB-03", "2025-02", C)  # target 'alle' applies, but the value is suppressed
    assert s["target_value"] == 25.0 and s["status"] is None and s["distance_to_target"] is None
    assert s["status_reason"] == "Wert gesperrt (Datenschutz)"


def test_status_auf_kurs_when_target_met(con):
    r = ev(con, "SPR-02", "2025-02", group="fluchtkontext")
    assert r["target_value"] == 60.0 and r["target_direction"] == "hoch"
    assert r["distance_to_target"] == pytest.approx(2.0)
    # met although the trend went down: meeting the target is what counts
    assert r["status"] == "auf Kurs" and r["status_reason"] == "Ziel erreicht"


def test_status_auf_kurs_when_trend_reaches_target_in_time(con):
    r = ev(con, "ARB-01", "2025-02")
    # 0.5 Pp. to go, -0.4 Pp. a year, ~1.84 years left -> 0.74 >= 0.5
    assert r["distance_to_target"] == pytest.approx(0.5)
    assert r["status"] == "auf Kurs"
    assert r["status_reason"].startswith("Trend des letzten Jahres")


def test_status_beobachten(con):
    slow = ev(con, "BIL-03", "2024/25")  # -0.5 Pp./year, 2.0 to go, 1.42 years left
    assert slow["status"] == "beobachten"
    assert slow["status_reason"] == "Entwicklung in Zielrichtung, Tempo reicht nicht"
    no_trend = ev(con, "SPR-01", "2025-02", group="fluchtkontext")
    assert no_trend["value_year_before"] is None
    assert no_trend["status"] == "beobachten" and "Trend unbekannt" in no_trend["status_reason"]
    near = ev(con, "REC-02", "2025-02")  # 2.0 below 50 (<= 2.5), trend slightly down
    assert near["status"] == "beobachten"
    assert near["status_reason"] == "knapp am Ziel, Entwicklung aber gegenläufig"
    flat = ev(con, "WOH-01", "2025-07")
    assert flat["status"] == "beobachten" and flat["status_reason"] == "knapp am Ziel, ohne Fortschritt"


def test_status_nicht_auf_kurs(con):
    wrong = ev(con, "WOH-01", "2025-06")
    assert wrong["change_year_before"] == pytest.approx(2.0)
    assert wrong["status"] == "nicht auf Kurs"
    late = ev(con, "DEM-01", "2024")  # target year 2023 has passed, 25 < 30
    assert late["status"] == "nicht auf Kurs" and "abgelaufen" in late["status_reason"]


def test_target_scope_district_default_alle_and_override(con):
    # ARB-01 target has no region: district only
    assert ev(con, "ARB-01", "2025-02", B)["target_value"] is None
    assert ev(con, "ARB-01", "2025-02", B)["status"] is None
    # ARB-03: 'alle' applies everywhere, the specific target for A wins
    assert ev(con, "ARB-03", "2025-02", D)["target_value"] == 25.0
    assert ev(con, "ARB-03", "2025-02", B)["target_value"] == 25.0
    assert ev(con, "ARB-03", "2025-02", B)["status"] == "beobachten"  # 24 < 25, no year before
    a = ev(con, "ARB-03", "2025-02", A)
    assert a["target_value"] == 30.0 and a["target_is_example"] is True
    # DEM-01 'alle' reaches municipalities
    assert ev(con, "DEM-01", "2024", A)["status"] == "nicht auf Kurs"
    n = con.execute("SELECT count(*) FROM main.indicator_targets").fetchone()[0]
    assert n == 10


def test_targets_file_errors(tmp_path):
    c = make_db(ROWS)
    bad = {
        "unknown indicator": "- {indicator_id: XXX-99, target: 1, direction: hoch, year: 2026, quelle: T}\n",
        "unknown group": "- {indicator_id: ARB-01, group: fluchtkontext, target: 1, direction: hoch, year: 2026, quelle: T}\n",
        "direction": "- {indicator_id: ARB-01, target: 1, direction: rauf, year: 2026, quelle: T}\n",
        "missing year": "- {indicator_id: ARB-01, target: 1, direction: hoch, quelle: T}\n",
        "unquoted region": "- {indicator_id: ARB-01, region: 8116, target: 1, direction: hoch, year: 2026, quelle: T}\n",
        "duplicate": "- {indicator_id: ARB-01, target: 1, direction: hoch, year: 2026, quelle: T}\n" * 2,
    }
    for name, body in bad.items():
        with pytest.raises(TargetsError):
            add_evaluation(c, write_targets(tmp_path, body))
        # nothing half-written
        assert c.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='indicator_evaluation'"
                         ).fetchone()[0] == 0, name


def test_shipped_targets_file_is_valid_and_marked_as_examples():
    targets = load_targets(TARGETS_FILE)
    assert len(targets) >= 3
    assert all(t["target_is_example"] for t in targets), "Demo-Ziele müssen als Beispiel markiert sein"
    ids = {t["indicator_id"] for t in targets}
    assert {"ARB-01", "SPR-02", "BIL-03"} <= ids


# --------------------------------------------------------------------------- second-edition units

def make_db_explicit(rows: list[tuple], catalogue_rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """rows: (indicator_id, period, region, group, numerator, denominator, value, unit, is_suppressed)."""
    con = duckdb.connect()
    con.execute(VALUES_DDL)
    con.execute(CATALOGUE_DDL)
    for ind, unit, per in catalogue_rows:
        con.execute("INSERT INTO main.indicators VALUES (?, ?, ?, 'x', ?, ?, 'd', 's', NULL)",
                    [ind, ind, ind, unit, per])
    for ind, per, reg, grp, num, den, val, unit, sup in rows:
        con.execute("INSERT INTO main.indicator_values VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [ind, per, period_end(per), reg, NAMES[reg], grp, num, den, val, unit, sup])
    return con


NEW_UNIT_ROWS = [
    # PFL-01 per 1,000 residents 65+: a rate, compared with the district in its own unit
    ("PFL-01", "2023", D, "insgesamt", 300.0, 100000.0, 3.0, "je_1000", False),
    ("PFL-01", "2024", D, "insgesamt", 320.0, 100000.0, 3.2, "je_1000", False),
    ("PFL-01", "2024", A, "insgesamt", 20.0, 4000.0, 5.0, "je_1000", False),      # über (tol 0.16)
    ("PFL-01", "2024", B, "insgesamt", 13.0, 4000.0, 3.25, "je_1000", False),     # gleich
    # ENG-01 counts municipalities: never compared with the district total
    ("ENG-01", "2023", D, "insgesamt", 24.0, None, 24.0, "anzahl_gemeinden", False),
    ("ENG-01", "2024", D, "insgesamt", 26.0, None, 26.0, "anzahl_gemeinden", False),
    ("ENG-01", "2024", A, "insgesamt", 1.0, None, 1.0, "anzahl_gemeinden", False),
    # ENG-02 per 100 in AU; C did not answer: NULL figures, not suppressed
    ("ENG-02", "2023", D, "insgesamt", 60.0, 400.0, 15.0, "je_100", False),
    ("ENG-02", "2024", D, "insgesamt", 66.0, 400.0, 16.5, "je_100", False),
    ("ENG-02", "2024", A, "insgesamt", 12.0, 60.0, 20.0, "je_100", False),
    ("ENG-02", "2023", C, "insgesamt", 5.0, 40.0, 12.5, "je_100", False),
    ("ENG-02", "2024", C, "insgesamt", None, None, None, "je_100", False),
]
NEW_UNIT_CATALOGUE = [("PFL-01", "je_1000", "jahr"), ("ENG-01", "anzahl_gemeinden", "jahr"),
                      ("ENG-02", "je_100", "jahr")]


def test_rates_per_1000_and_100_are_compared_with_the_district_counts_of_municipalities_not(tmp_path):
    c = make_db_explicit(NEW_UNIT_ROWS, NEW_UNIT_CATALOGUE)
    add_evaluation(c, write_targets(tmp_path, "[]\n"))
    a = ev(c, "PFL-01", "2024", A)
    assert a["district_value"] == 3.2
    assert a["diff_to_district"] == pytest.approx(1.8)  # in "je 1.000", not in percent
    assert a["position"] == "über Kreiswert"
    assert ev(c, "PFL-01", "2024", B)["position"] == "gleich"
    assert ev(c, "PFL-01", "2024", D)["change_year_before"] == pytest.approx(0.2)
    assert ev(c, "ENG-02", "2024", A)["diff_to_district"] == pytest.approx(3.5)
    e1 = ev(c, "ENG-01", "2024", A)
    assert e1["diff_to_district"] is None and e1["position"] is None  # a part of the count, no comparison
    assert ev(c, "ENG-01", "2024", D)["change_year_before"] == 2.0


def test_non_answering_municipality_gets_no_figures_and_its_own_reason(tmp_path):
    c = make_db_explicit(NEW_UNIT_ROWS, NEW_UNIT_CATALOGUE)
    add_evaluation(c, write_targets(tmp_path, """\
        - {indicator_id: ENG-02, region: alle, target: 18.0, direction: hoch, year: 2026, quelle: Test}
        """))
    r = ev(c, "ENG-02", "2024", C)
    assert r["value"] is None and not r["is_suppressed"]
    assert r["change_year_before"] is None and r["diff_to_district"] is None and r["position"] is None
    assert r["status"] is None and r["status_reason"] == "keine Angabe der Gemeinde"
    assert ev(c, "ENG-02", "2024", A)["status"] == "auf Kurs"
    # the district: 16.5, +1.5 a year, 1.5 missing, 2 years left -> reaches it
    assert ev(c, "ENG-02", "2024", D)["status"] == "auf Kurs"


def test_target_for_a_catalogue_indicator_not_yet_published_is_accepted(tmp_path):
    """A target may wait for the first delivery of its source; a typo is still refused."""
    c = make_db(ROWS)  # no GES-02 published
    add_evaluation(c, write_targets(tmp_path, """\
        - {indicator_id: GES-02, target: 95.0, direction: hoch, year: 2027, quelle: Test}
        """))
    assert c.execute("SELECT count(*) FROM main.indicator_evaluation WHERE indicator_id = 'GES-02'").fetchone()[0] == 0
    with pytest.raises(TargetsError, match="keine Gruppe"):
        add_evaluation(c, write_targets(tmp_path, """\
            - {indicator_id: GES-02, group: fluchtkontext, target: 95.0, direction: hoch, year: 2027, quelle: T}
            """))


def test_shipped_example_targets_of_second_edition_indicators_are_evaluated():
    """The shipped zielwerte.yml holds example targets for new indicators; they evaluate on
    published values of those indicators (values made by hand here)."""
    shipped = {(t["indicator_id"], t["group_code"]): t for t in load_targets(TARGETS_FILE)}
    from sources import catalogue

    second = {i.id for i in catalogue.load().indicators if i.unit in ("je_1000", "je_100", "anzahl_gemeinden")
              or i.field in ("gesundheit", "zugang", "pflege", "engagement")}
    new = {k: t for k, t in shipped.items() if k[0] in second}
    assert new, "zielwerte.yml needs an example target for a second-edition indicator"
    assert all(t["target_is_example"] for t in new.values())
    assert ("GES-02", "insgesamt") in new and ("ENG-01", "insgesamt") in new
    rows = [
        ("GES-02", "2023/24", D, "insgesamt", 4300.0, 4700.0, 100 * 4300 / 4700, "prozent", False),
        ("GES-02", "2024/25", D, "insgesamt", 4350.0, 4700.0, 100 * 4350 / 4700, "prozent", False),
    ] + [r for r in NEW_UNIT_ROWS if r[0] == "ENG-01"]
    c = make_db_explicit(rows, [("GES-02", "prozent", "schuljahr"), ("ENG-01", "anzahl_gemeinden", "jahr")])
    add_evaluation(c, TARGETS_FILE)
    g = ev(c, "GES-02", "2024/25")
    assert g["target_value"] == new[("GES-02", "insgesamt")]["target_value"] and g["target_is_example"]
    # 92.55 %, +1.06 Pp. a year; 2.45 Pp. missing by the end of 2027 (2.4 years): on course
    assert g["status"] == "auf Kurs" and g["status_reason"].startswith("Trend")
    e = ev(c, "ENG-01", "2024")
    # 26 municipalities, +2 a year, 4 missing, 4 years left to 2028
    assert e["target_value"] == 30 and e["status"] == "auf Kurs"
    assert e["distance_to_target"] == -4.0
