"""The two confidentiality rules of indicators.md on hand-made cells whose outcome was worked
out by hand from the spec text, run through both implementations: the dbt Python model
(dbt_project/models/intermediate/int_indicator_suppression.py, its pure functions) and the
independent oracle (tests/oracle.py). Plus one real dbt build of the model and the blocking
mart check that catches a wrong mart.

Regions: the district D and three municipalities A < B < C (region_code order); the rule
does not need all 44 to be present. Figures need not add up: the rule does not rely on it.
"""

from __future__ import annotations

import importlib.util
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
import oracle

MODEL_FILE = REPO / "dbt_project" / "models" / "intermediate" / "int_indicator_suppression.py"
CATALOGUE = yaml.safe_load((REPO / "sources" / "indicators.yml").read_text(encoding="utf-8"))
D, A, B, C = "08116", "08116004", "08116005", "08116006"
REGIONS = [D, A, B, C]


def load_model():
    spec = importlib.util.spec_from_file_location("int_indicator_suppression", MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model = load_model()


def groups_frame() -> pd.DataFrame:
    """The seed indicator_groups (indicator_id, group_code, group_order, partition_id) as the
    catalogue defines it, for every indicator of the catalogue."""
    rows = []
    for e in CATALOGUE["indicators"]:
        parts = [[str(g) for g in p] for p in e.get("partitions", [])]
        for order, g in enumerate(e["groups"], 1):
            pid = next((k for k, p in enumerate(parts, 1) if str(g) in p), None)
            rows.append((e["id"], str(g), order, pid))
    return pd.DataFrame(rows, columns=["indicator_id", "group_code", "group_order", "partition_id"]).astype(
        {"partition_id": "Int64"})


UNITS = {e["id"]: e["unit"] for e in CATALOGUE["indicators"]}
GROUPS = {e["id"]: [str(g) for g in e["groups"]] for e in CATALOGUE["indicators"]}


def grid(indicator: str, figures: dict[tuple[str, str], object], numerators=None) -> pd.DataFrame:
    """A dense grid of one indicator and period (regions D, A, B, C x its groups) with the
    figure of each cell (missing = 0). For counts the figure is the numerator; for rates it is
    the count behind the denominator, and `numerators` gives numerators (missing = half the figure, rounded up,
    but at least 3 where the figure allows, so only the denominator decides)."""
    unit = UNITS[indicator]
    rows = []
    for r in REGIONS:
        for g in GROUPS[indicator]:
            fig = figures.get((r, g), 0)
            if unit in ("anzahl", "anzahl_gemeinden"):
                num, den = fig, None
            else:
                den = fig
                num = (numerators or {}).get((r, g), 0 if fig is None or fig < 3 else fig)
                if fig is None:
                    num = None
            rows.append((indicator, "2024", r, g, num, den, fig is None))
    frame = pd.DataFrame(rows, columns=["indicator_id", "period", "region_code", "group_code",
                                        "numerator", "denominator", "is_undefined"])
    frame["numerator"] = frame["numerator"].astype("float64")
    frame["denominator_count"] = frame["denominator"].astype("float64")
    # ARB-03 publishes the average stock; its figure is the 12-month sum behind it
    frame["denominator"] = frame["denominator_count"] / (12 if indicator == "ARB-03" else 1)
    frame["unit"] = unit
    return frame


def via_model(cells: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """(indicator, region, group) -> round (0 primary, k secondary) of every suppressed cell."""
    rounds = model.suppression_rounds(cells, groups_frame())
    return {(i, r, g): int(k) for i, r, g, k in
            zip(cells["indicator_id"], cells["region_code"], cells["group_code"], rounds) if k >= 0}


def via_oracle(cells: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    frame = cells.drop(columns=["is_undefined", "denominator_count"]).assign(
        period_end=pd.Timestamp(2024, 12, 31), region_name="x", value=cells["numerator"],
        is_suppressed=False)[oracle.COLUMNS]
    primary = oracle.apply_primary(frame)["is_suppressed"]
    out = {(frame.at[i, "indicator_id"], frame.at[i, "region_code"], frame.at[i, "group_code"]): 0
           for i in frame.index[primary.to_numpy()]}
    for label, k in oracle.secondary_cells(frame, primary).items():
        out[(frame.at[label, "indicator_id"], frame.at[label, "region_code"], frame.at[label, "group_code"])] = k
    # the published frame agrees with the rounds
    published = oracle.apply_suppression(frame)
    assert set(zip(published.loc[published.is_suppressed, "indicator_id"],
                   published.loc[published.is_suppressed, "region_code"],
                   published.loc[published.is_suppressed, "group_code"])) == set(out)
    assert published.loc[published.is_suppressed, ["numerator", "denominator", "value"]].isna().all().all()
    return out


IMPLEMENTATIONS = pytest.mark.parametrize("rounds_of", [via_model, via_oracle], ids=["model", "oracle"])


# --------------------------------------------------------------------------- primary rule

@IMPLEMENTATIONS
def test_primary_rule(rounds_of):
    # counts: 1 and 2 suppressed, 0 and 3 shown; the district 3 + 0 + 1 + 2 = 6 is shown,
    # and its regional line has two suppressed parts: nothing more
    cells = grid("BIL-02", {(D, "insgesamt"): 6, (A, "insgesamt"): 3, (B, "insgesamt"): 1,
                            (C, "insgesamt"): 2})
    assert rounds_of(cells) == {("BIL-02", B, "insgesamt"): 0, ("BIL-02", C, "insgesamt"): 0}
    # rates: numerator 1 or 2, or denominator 1 or 2; 0/0 is shown
    cells = grid("DEM-01", {(D, "insgesamt"): 30, (A, "insgesamt"): 10, (B, "insgesamt"): 2,
                            (C, "insgesamt"): 18},
                 numerators={(D, "insgesamt"): 5, (A, "insgesamt"): 1, (B, "insgesamt"): 0,
                             (C, "insgesamt"): 4})
    got = rounds_of(cells)
    assert {k: v for k, v in got.items() if v == 0} == {("DEM-01", A, "insgesamt"): 0,
                                                        ("DEM-01", B, "insgesamt"): 0}


@IMPLEMENTATIONS
def test_primary_rule_on_arb03_looks_at_the_12_month_sum(rounds_of):
    # ARB-03 publishes the average stock: A's average 2.0 comes from a sum of 24 (shown),
    # B's average 0.1667 from a sum of 2 (suppressed); the regional line then takes A (24 < 30).
    cells = grid("ARB-03", {(D, "insgesamt"): 56, (A, "insgesamt"): 24, (B, "insgesamt"): 2,
                            (C, "insgesamt"): 30})
    assert cells.loc[(cells.region_code == A) & (cells.group_code == "insgesamt"), "denominator"].item() == 2
    assert rounds_of(cells) == {("ARB-03", B, "insgesamt"): 0, ("ARB-03", A, "insgesamt"): 1}


@IMPLEMENTATIONS
def test_anzahl_gemeinden_is_never_suppressed(rounds_of):
    cells = grid("ENG-01", {(D, "insgesamt"): 3, (A, "insgesamt"): 1, (B, "insgesamt"): 2,
                            (C, "insgesamt"): 0})
    assert rounds_of(cells) == {}


# --------------------------------------------------------------------------- secondary rule

@IMPLEMENTATIONS
def test_line_with_one_suppressed_part(rounds_of):
    # BIL-02 regional line: A = 2 suppressed; of the shown parts B = 5, C = 3 the smallest
    # figure > 0 is C. Then the line has two suppressed parts: done.
    cells = grid("BIL-02", {(D, "insgesamt"): 10, (A, "insgesamt"): 2, (B, "insgesamt"): 5,
                            (C, "insgesamt"): 3})
    assert rounds_of(cells) == {("BIL-02", A, "insgesamt"): 0, ("BIL-02", C, "insgesamt"): 1}


@IMPLEMENTATIONS
def test_zero_is_never_chosen(rounds_of):
    # a 0 reveals nothing more: C = 0 is skipped although it is the smallest figure
    cells = grid("BIL-02", {(D, "insgesamt"): 9, (A, "insgesamt"): 2, (B, "insgesamt"): 7})
    assert rounds_of(cells) == {("BIL-02", A, "insgesamt"): 0, ("BIL-02", B, "insgesamt"): 1}


@IMPLEMENTATIONS
def test_chain_from_a_regional_line_into_group_lines(rounds_of):
    # BIL-03 (rate, figure = number of leavers), groups insgesamt = deutsch + auslaendisch.
    #         insgesamt deutsch auslaendisch
    #   D        40       25        15
    #   A        12       10         2  <- primary (denominator 2)
    #   B        18       10         8
    #   C        10        5         5
    # round 1: group line A (12 = 10 + [2]) chooses A deutsch 10;
    #          regional line auslaendisch (15 = [2] + 8 + 5) chooses C auslaendisch 5.
    # round 2: group line C (10 = 5 + [5]) and regional line deutsch (25 = [10] + 10 + 5)
    #          both choose C deutsch 5 (the regional line: 5 < 10).
    # round 3: every line has 0 or 2 suppressed parts: done.
    # (group line D has no suppressed part, regional line insgesamt neither)
    f = {(D, "insgesamt"): 40, (D, "deutsch"): 25, (D, "auslaendisch"): 15,
         (A, "insgesamt"): 12, (A, "deutsch"): 10, (A, "auslaendisch"): 2,
         (B, "insgesamt"): 18, (B, "deutsch"): 10, (B, "auslaendisch"): 8,
         (C, "insgesamt"): 10, (C, "deutsch"): 5, (C, "auslaendisch"): 5}
    assert rounds_of(grid("BIL-03", f)) == {
        ("BIL-03", A, "auslaendisch"): 0,
        ("BIL-03", A, "deutsch"): 1, ("BIL-03", C, "auslaendisch"): 1,
        ("BIL-03", C, "deutsch"): 2,
    }


@IMPLEMENTATIONS
def test_chain_reaches_the_district_and_another_regional_line(rounds_of):
    # ARB-02 (count), insgesamt = deutsch + auslaendisch, fluchtkontext a subset (no line).
    #         insgesamt deutsch auslaendisch fluchtkontext
    #   D        9        6          3           1  <- primary
    #   A        7        6          1  <- primary  1  <- primary
    #   B        2  <- p  0          2  <- primary  0
    # round 1: group line A (7 = 6 + [1]) chooses A deutsch 6;
    #          regional line insgesamt (9 = 7 + [2] + 0) chooses A insgesamt 7;
    #          regional line auslaendisch has two suppressed parts; group line B (total
    #          suppressed) and regional line fluchtkontext (total suppressed) choose nothing.
    # round 2: regional line deutsch (6 = [6] + 0 + 0): no part > 0 shown: the total D deutsch;
    # round 3: group line D (9 = [6] + 3) chooses D auslaendisch 3.
    f = {(D, "insgesamt"): 9, (D, "deutsch"): 6, (D, "auslaendisch"): 3, (D, "fluchtkontext"): 1,
         (A, "insgesamt"): 7, (A, "deutsch"): 6, (A, "auslaendisch"): 1, (A, "fluchtkontext"): 1,
         (B, "insgesamt"): 2, (B, "auslaendisch"): 2}
    assert rounds_of(grid("ARB-02", f)) == {
        ("ARB-02", D, "fluchtkontext"): 0, ("ARB-02", A, "auslaendisch"): 0,
        ("ARB-02", A, "fluchtkontext"): 0, ("ARB-02", B, "insgesamt"): 0,
        ("ARB-02", B, "auslaendisch"): 0,
        ("ARB-02", A, "deutsch"): 1, ("ARB-02", A, "insgesamt"): 1,
        ("ARB-02", D, "deutsch"): 2,
        ("ARB-02", D, "auslaendisch"): 3,
    }


@IMPLEMENTATIONS
def test_no_part_qualifies_and_the_total_is_taken(rounds_of):
    # WOH-03 (count), insgesamt = VU + AU. Not additive on purpose (the rule does not rely
    # on it; test_chain_reaches_the_district... has the same step on additive figures).
    #         insgesamt  VU  AU
    #   D        6       5   1  <- primary
    #   A        1 <- p  1 <- p  0
    # round 1: regional line insgesamt (6 = [1] + 0 + 0) and regional line VU (5 = [1] + 0 + 0)
    #          have no shown part > 0: both take their total, D insgesamt and D VU; group line
    #          D (6 = 5 + [1]) chooses D VU as well.
    # round 2: nothing left to choose.
    f = {(D, "insgesamt"): 6, (D, "VU"): 5, (D, "AU"): 1,
         (A, "insgesamt"): 1, (A, "VU"): 1}
    assert rounds_of(grid("WOH-03", f)) == {
        ("WOH-03", D, "AU"): 0, ("WOH-03", A, "insgesamt"): 0, ("WOH-03", A, "VU"): 0,
        ("WOH-03", D, "insgesamt"): 1, ("WOH-03", D, "VU"): 1,
    }


@IMPLEMENTATIONS
def test_ties_lowest_region_then_listed_group_order(rounds_of):
    # regional line: B and C both 4: the lower region_code B is taken
    cells = grid("BIL-02", {(D, "insgesamt"): 10, (A, "insgesamt"): 2, (B, "insgesamt"): 4,
                            (C, "insgesamt"): 4})
    assert rounds_of(cells)[("BIL-02", B, "insgesamt")] == 1
    assert ("BIL-02", C, "insgesamt") not in rounds_of(cells)
    # group line of REC-01 in A: eu = 1 suppressed; befristet and unbefristet both 4:
    # unbefristet is listed first (alphabetically it would be befristet). The regional line
    # eu (district 1) is itself suppressed.
    f = {(D, "insgesamt"): 9, (D, "eu"): 1, (D, "unbefristet"): 4, (D, "befristet"): 4,
         (A, "insgesamt"): 9, (A, "eu"): 1, (A, "unbefristet"): 4, (A, "befristet"): 4}
    got = rounds_of(grid("REC-01", f))
    assert got[("REC-01", A, "unbefristet")] == 1 and got[("REC-01", D, "unbefristet")] == 1
    assert ("REC-01", A, "befristet") not in got and ("REC-01", D, "befristet") not in got


@IMPLEMENTATIONS
def test_rates_use_the_denominator_as_figure(rounds_of):
    # BIL-01 regional line insgesamt: A's numerator is 1 (denominator 40): suppressed.
    # The shown parts have numerators 9 and 3 but denominators 12 and 30: the smallest
    # denominator, B's 12, is taken, not C's numerator 3.
    cells = grid("BIL-01", {(D, "insgesamt"): 82, (A, "insgesamt"): 40, (B, "insgesamt"): 12,
                            (C, "insgesamt"): 30},
                 numerators={(D, "insgesamt"): 13, (A, "insgesamt"): 1, (B, "insgesamt"): 9,
                             (C, "insgesamt"): 3})
    got = rounds_of(cells)
    assert got[("BIL-01", A, "insgesamt")] == 0 and got[("BIL-01", B, "insgesamt")] == 1
    assert ("BIL-01", C, "insgesamt") not in got


@IMPLEMENTATIONS
def test_null_figures_are_neither_suppressed_nor_chosen(rounds_of):
    # ENG-02: B did not answer (figure NULL); A has 2 people in AU (suppressed); C is the
    # only part that can be chosen.
    cells = grid("ENG-02", {(D, "insgesamt"): 30, (A, "insgesamt"): 2, (B, "insgesamt"): None,
                            (C, "insgesamt"): 28})
    assert rounds_of(cells) == {("ENG-02", A, "insgesamt"): 0, ("ENG-02", C, "insgesamt"): 1}
    # and where the NULL one is the only other part, the total is taken
    cells = grid("ENG-02", {(D, "insgesamt"): 30, (A, "insgesamt"): 2, (B, "insgesamt"): None})
    assert rounds_of(cells) == {("ENG-02", A, "insgesamt"): 0, ("ENG-02", D, "insgesamt"): 1}


# the amended rule (indicators.md, "Amended 2026-12-07"): a line whose only suppressed cell is
# its total chooses a part too

E = "08116007"  # a fourth municipality for the case below

# ARB-02 (count), insgesamt = deutsch + auslaendisch; fluchtkontext 0. Additive, so the
# disclosure audit can be run on it (tests/test_disclosure.py).
#         insgesamt deutsch auslaendisch
#   D        45       29        16
#   A        10        6         4
#   B         2 <- p   2 <- p    0
#   C        21       18         3
#   E        12        3         9
LEAK = {(D, "insgesamt"): 45, (D, "deutsch"): 29, (D, "auslaendisch"): 16,
        (A, "insgesamt"): 10, (A, "deutsch"): 6, (A, "auslaendisch"): 4,
        (B, "insgesamt"): 2, (B, "deutsch"): 2,
        (C, "insgesamt"): 21, (C, "deutsch"): 18, (C, "auslaendisch"): 3,
        (E, "insgesamt"): 12, (E, "deutsch"): 3, (E, "auslaendisch"): 9}
# round 1 (both wordings): regional line insgesamt takes A insgesamt 10 (< 12 < 21), regional
# line deutsch E deutsch 3; round 2: group line E (12 = [3] + 9) takes E auslaendisch 9.
LEAK_ROUNDS = {("ARB-02", B, "insgesamt"): 0, ("ARB-02", B, "deutsch"): 0,
               ("ARB-02", A, "insgesamt"): 1, ("ARB-02", E, "deutsch"): 1,
               ("ARB-02", E, "auslaendisch"): 2}
# The first wording then went on: round 3 regional line auslaendisch (16 = 4 + 0 + 3 + [9])
# takes C auslaendisch 3, round 4 group line C (21 = 18 + [3]) C deutsch 18. Group line A
# (total suppressed, 6 and 4 shown) was never looked at: A insgesamt = 10, then from the
# regional line insgesamt B insgesamt = 45 - 10 - 21 - 12 = 2 and B deutsch = 2: primary cells.
LEAK_FIRST_WORDING = {**LEAK_ROUNDS, ("ARB-02", C, "auslaendisch"): 3, ("ARB-02", C, "deutsch"): 4}


def with_e(cells: pd.DataFrame, figures: dict) -> pd.DataFrame:
    """`grid` plus the municipality E (same indicator and period)."""
    extra = grid(cells["indicator_id"].iloc[0], {(A, g): v for (r, g), v in figures.items() if r == E})
    extra = extra[extra.region_code == A].assign(region_code=E)
    return pd.concat([cells, extra], ignore_index=True)


@IMPLEMENTATIONS
def test_suppressed_total_with_all_parts_shown_chooses_a_part(rounds_of):
    # round 2 also: group line A, its total suppressed in round 1 as a part of the regional
    # line insgesamt, parts 6 and 4 shown, takes its smallest part A auslaendisch 4. Then the
    # regional line auslaendisch has two suppressed parts (A, E) and nothing more follows.
    assert rounds_of(with_e(grid("ARB-02", LEAK), LEAK)) == {**LEAK_ROUNDS, ("ARB-02", A, "auslaendisch"): 2}


@IMPLEMENTATIONS
def test_chain_from_a_group_line_into_a_regional_line_and_back(rounds_of):
    # BIL-03 (rate, figure = leavers). Not additive on purpose (the rule does not rely on it).
    #         insgesamt deutsch auslaendisch
    #   D        30       2 <- p   10
    #   A         9       5         4
    #   B         0       0         6
    #   C         0       0         8
    # round 1: group line D (30 = [2] + 10) takes D auslaendisch; regional line deutsch, its
    #          total D deutsch alone suppressed, takes A deutsch 5 (new branch).
    # round 2: regional line auslaendisch, its total D auslaendisch alone suppressed, and group
    #          line A (9 = [5] + 4) both take A auslaendisch 4 (6 and 8 are larger).
    # round 3: every line has 0 or 2 suppressed cells. The first wording stopped after round 1:
    #          D deutsch and D auslaendisch were each the sum of their shown parts.
    f = {(D, "insgesamt"): 30, (D, "deutsch"): 2, (D, "auslaendisch"): 10,
         (A, "insgesamt"): 9, (A, "deutsch"): 5, (A, "auslaendisch"): 4,
         (B, "auslaendisch"): 6, (C, "auslaendisch"): 8}
    assert rounds_of(grid("BIL-03", f)) == {
        ("BIL-03", D, "deutsch"): 0, ("BIL-03", D, "auslaendisch"): 1, ("BIL-03", A, "deutsch"): 1,
        ("BIL-03", A, "auslaendisch"): 2}


@IMPLEMENTATIONS
def test_suppressed_total_whose_parts_are_all_0_chooses_nothing(rounds_of):
    # the spec's remark: nothing to choose (not additive on purpose)
    assert rounds_of(grid("WOH-02", {(D, "VU"): 2})) == {("WOH-02", D, "VU"): 0}


def test_both_implementations_agree_on_random_grids():
    """Random small grids of every catalogue indicator (many small figures, so lines chain):
    the model's rounds equal the oracle's."""
    rng = np.random.default_rng(3)
    deepest = 0
    for trial in range(15):
        frames = []
        for e in CATALOGUE["indicators"]:
            f = {(r, str(g)): int(rng.choice([0, 1, 2, 3, 4, 5, 8, 20])) for r in REGIONS for g in e["groups"]}
            frames.append(grid(e["id"], f))
        cells = pd.concat(frames, ignore_index=True)
        got = via_model(cells)
        assert got == via_oracle(cells), trial
        deepest = max(deepest, *got.values())
    assert deepest >= 3  # the grids did chain over several rounds


# --------------------------------------------------------------------------- what users see

INTERNAL_FIGURES = {"model.integrationsmonitor.int_indicator_values_unsuppressed",
                    "model.integrationsmonitor.int_indicator_suppression"}


def test_only_indicator_values_reads_the_unsuppressed_figures():
    """Lineage from dbt's manifest (`make manifest`): among the published models (schema marts)
    only indicator_values reads the unsuppressed grid and the suppression decision; every
    other mart reads indicator_values (or seeds/registry), never an intermediate model."""
    manifest_file = REPO / "dbt_project" / "target" / "manifest.json"
    assert manifest_file.exists(), "dbt_project/target/manifest.json fehlt: make manifest"
    nodes = json.loads(manifest_file.read_text())["nodes"]
    marts = {uid: n for uid, n in nodes.items() if n["resource_type"] == "model" and n["schema"] == "marts"}
    assert "model.integrationsmonitor.indicator_values" in marts
    for uid, node in marts.items():
        upstream = set(node["depends_on"]["nodes"])
        if uid == "model.integrationsmonitor.indicator_values":
            assert INTERNAL_FIGURES <= upstream, upstream
        else:
            assert not upstream & INTERNAL_FIGURES, (uid, upstream)
            assert not [u for u in upstream if ".int_" in u], (uid, upstream)
    # and the suppression decision stays internal
    for uid in INTERNAL_FIGURES:
        assert nodes[uid]["schema"] == "intermediate"


def test_published_tables_show_no_suppressed_figure(refreshed):
    """In the published warehouse of a real refresh (both rules applied, secondary cells
    present), no table shows a figure of a suppressed cell: latest_values, the evaluation
    (value and everything derived from it) and every column of the wide tables."""
    con = duckdb.connect(str(refreshed / "data" / "published" / "monitoring.duckdb"), read_only=True)
    try:
        n = con.execute("SELECT count(*) FILTER (WHERE is_suppressed) FROM indicator_values").fetchone()[0]
        assert n > 0
        leaks = con.execute("""
            SELECT 'latest_values', count(*) FROM latest_values l JOIN indicator_values v
                USING (indicator_id, period, region_code, group_code)
            WHERE v.is_suppressed AND (NOT l.is_suppressed OR l.value IS NOT NULL OR l.numerator IS NOT NULL
                                       OR l.denominator IS NOT NULL)
            UNION ALL
            SELECT 'indicator_evaluation', count(*) FROM indicator_evaluation e JOIN indicator_values v
                USING (indicator_id, period, region_code, group_code)
            WHERE v.is_suppressed AND (NOT e.is_suppressed OR e.value IS NOT NULL OR e.change_previous IS NOT NULL
                                       OR e.change_year_before IS NOT NULL OR e.diff_to_district IS NOT NULL
                                       OR e.distance_to_target IS NOT NULL)""").fetchall()
        assert [(t, c) for t, c in leaks if c] == []
        wide = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                          "WHERE table_name LIKE 'wide_%'").fetchall()]
        assert wide
        suppressed = {(i.lower().replace("-", "_") + "_" + g.lower(), p, r) for i, p, r, g in con.execute(
            "SELECT indicator_id, period, region_code, group_code FROM indicator_values WHERE is_suppressed").fetchall()}
        seen = 0
        for table in wide:
            frame = con.execute(f"SELECT * FROM {table}").df()
            cols = [c for c in frame.columns if c not in ("period", "period_end", "region_code", "region_name")]
            for col in cols:
                shown = frame.loc[frame[col].notna(), ["period", "region_code"]]
                hits = [(col, p, r) for p, r in zip(shown["period"], shown["region_code"]) if (col, p, r) in suppressed]
                assert hits == [], (table, hits[:5])
                seen += sum(1 for (c, _, _) in suppressed if c == col)
        assert seen > 0  # the wide tables do cover suppressed cells
    finally:
        con.close()
