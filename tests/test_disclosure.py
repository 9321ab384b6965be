"""The disclosure audit (orchestration/disclosure.py): on hand-made cells (the first wording of
the secondary rule leaks, the amended one does not), on a real published warehouse of a real
refresh (nothing recoverable; refresh_log records it) and on a real working copy altered so
that a suppressed cell can be computed back (the blocking check names it, the publish refuses
and the published file stays as it was)."""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration import disclosure
from test_suppression import LEAK, LEAK_FIRST_WORDING, LEAK_ROUNDS, A, B, grid, with_e

KEY = disclosure.KEY


def published_frame(figures: dict, suppressed: set, periods=("2023", "2024", "2025")) -> pd.DataFrame:
    """ARB-02 cells as an outsider sees them, the same figures in each period (so that the group
    lines have the evidence the audit asks for)."""
    cells = with_e(grid("ARB-02", figures), figures)
    frames = []
    for p in periods:
        f = cells.assign(period=p)[["indicator_id", "period", "region_code", "group_code", "numerator", "denominator"]]
        hidden = [(i, r, g) in suppressed for i, r, g in zip(f.indicator_id, f.region_code, f.group_code)]
        f["is_suppressed"] = hidden
        f.loc[f["is_suppressed"], ["numerator", "denominator"]] = np.nan
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_the_first_wording_leaks_and_the_amended_rule_does_not():
    old = disclosure.audit(published_frame(LEAK, set(LEAK_FIRST_WORDING)))
    # group line A gives A insgesamt = 6 + 4; then the regional line insgesamt B insgesamt =
    # 45 - 10 - 21 - 12 = 2, and group line B (2 = [2] + 0) B deutsch: primary cells
    got = {(r, g): v for r, g, v in old.recovered.loc[old.recovered.quantity == "numerator",
                                                     ["region_code", "group_code", "solved_value"]]
           .drop_duplicates().itertuples(index=False, name=None)}
    assert got == {(A, "insgesamt"): 10, (B, "insgesamt"): 2, (B, "deutsch"): 2}
    assert not old.passed and old.count == 3 * 3  # three cells in each of three periods
    assert "Indikator ARB-02, Zeitraum 2023, Gebiet 08116005, Gruppe deutsch" in old.cell_names()
    assert not any(str(v) in " ".join(old.cell_names()) for v in ("10.0", "2.0"))
    assert ("ARB-02", "numerator", "insgesamt = deutsch + auslaendisch") in old.line_kinds
    assert ("ARB-02", "numerator", "regional insgesamt") in old.line_kinds
    # an outsider without the catalogue finds the same line in the data, and no set padded
    # with fluchtkontext (0 wherever shown: no evidence)
    blind = disclosure.audit(published_frame(LEAK, set(LEAK_FIRST_WORDING)), every_set=True)
    assert blind.recovered.equals(old.recovered)
    assert ("ARB-02", "numerator", "insgesamt = deutsch + auslaendisch") in blind.line_kinds
    assert not [k for k in blind.line_kinds if k[2].startswith("insgesamt") and "fluchtkontext" in k[2]]

    new = disclosure.audit(published_frame(LEAK, {*LEAK_ROUNDS, ("ARB-02", A, "auslaendisch")}))
    assert new.passed and new.count == 0 and new.suppressed == 6 * 3
    assert new.summary().startswith("bestanden")


def test_a_line_that_does_not_add_up_is_not_used():
    # the same cells, but D insgesamt shown one higher in a period where the line is shown in
    # full: the group lines insgesamt = deutsch + auslaendisch are contradicted, nothing follows
    # from them (the regional lines still give B's cells away once A insgesamt were known)
    frame = published_frame(LEAK, set(LEAK_FIRST_WORDING))
    d_total = (frame.region_code == "08116") & (frame.group_code == "insgesamt") & (frame.period == "2024")
    frame.loc[d_total, "numerator"] += 1
    for every_set in (False, True):
        result = disclosure.audit(frame, every_set=every_set)
        assert ("ARB-02", "numerator", "insgesamt = deutsch + auslaendisch") not in result.line_kinds
        assert result.passed


def test_an_audit_is_taken_over_only_for_the_same_cells():
    """The publish re-audits the copy that goes out; it takes the blocking check's result only for
    the very same cells (orchestration/disclosure.py audit_table), in whatever row order."""
    safe = published_frame(LEAK, {*LEAK_ROUNDS, ("ARB-02", A, "auslaendisch")})
    leaky = published_frame(LEAK, set(LEAK_FIRST_WORDING))
    con = duckdb.connect()
    con.register("safe_df", safe)
    con.register("leaky_df", leaky)
    con.execute("CREATE TABLE checked AS SELECT * FROM safe_df")
    con.execute("CREATE TABLE copy AS SELECT * FROM safe_df ORDER BY random()")
    first = disclosure.audit_table(con, "checked")
    assert first.passed
    assert disclosure.audit_table(con, "copy") is first  # same cells: the result is taken over
    # one cell shown that was hidden (the first wording's set): audited anew, and it fails
    con.execute("CREATE TABLE other AS SELECT * FROM leaky_df")
    assert not disclosure.audit_table(con, "other").passed
    # a single figure changed is a different set too
    con.execute("UPDATE copy SET numerator = numerator + 1 WHERE rowid = (SELECT min(rowid) FROM copy "
                "WHERE NOT is_suppressed AND numerator IS NOT NULL)")
    assert disclosure.cells_digest(con, "copy") != disclosure.cells_digest(con, "checked")
    assert disclosure.audit_table(con, "copy") is not first


def audit_file(path, table="indicator_values"):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return disclosure.audit_table(con, table)
    finally:
        con.close()


def test_the_published_set_of_a_real_refresh_passes_and_refresh_log_says_so(refreshed):
    published = refreshed / "data" / "published" / "monitoring.duckdb"
    result = audit_file(published)
    assert result.passed and result.suppressed > 0
    # regional lines of every indicator that has people, group lines of the partitions
    assert ("ARB-02", "numerator", "regional insgesamt") in result.line_kinds
    assert any(k[0] == "REC-01" and k[2].startswith("insgesamt = ") for k in result.line_kinds)
    con = duckdb.connect(str(published), read_only=True)
    try:
        primary, secondary, audit = con.execute(
            "SELECT suppressed_primary, suppressed_secondary, disclosure_audit FROM refresh_log").fetchone()
        n_suppressed = con.execute("SELECT count(*) FROM indicator_values WHERE is_suppressed").fetchone()[0]
    finally:
        con.close()
    assert primary > 0 and secondary > 0 and primary + secondary == n_suppressed
    assert audit == result.summary() and audit.startswith("bestanden")


def open_one_cell(db) -> tuple[tuple, disclosure.AuditResult]:
    """Show again, with its true figures, one of exactly two suppressed cells of the first
    regional line that has two, in the working copy's marts.indicator_values: the other one, X,
    then follows from the line (and, since every suppressed cell of the amended rule sits in
    lines with a second one, its partner in X's group line follows from X). Returns X and the
    audit of the altered copy."""
    con = duckdb.connect(str(db))
    try:
        indicator, period, group, (y_region, x_region) = con.execute("""
            SELECT indicator_id, period, group_code,
                   list(region_code ORDER BY region_code) FILTER (WHERE is_suppressed) AS hidden
            FROM marts.indicator_values WHERE unit <> 'anzahl_gemeinden'
            GROUP BY ALL HAVING count(*) FILTER (WHERE is_suppressed) = 2
            ORDER BY ALL LIMIT 1""").fetchone()
        changed = con.execute("""
            UPDATE marts.indicator_values p
            SET is_suppressed = false, numerator = u.numerator, denominator = u.denominator, value = u.value
            FROM intermediate.int_indicator_values_unsuppressed u
            WHERE u.indicator_id = p.indicator_id AND u.period = p.period AND u.region_code = p.region_code
              AND u.group_code = p.group_code AND p.indicator_id = ? AND p.period = ? AND p.group_code = ?
              AND p.region_code = ?""", [indicator, period, group, y_region]).fetchone()[0]
        assert changed == 1
        return (indicator, period, x_region, group), disclosure.audit_table(con, "marts.indicator_values")
    finally:
        con.close()


def test_a_working_copy_with_a_recoverable_cell_is_blocked(clone_state, monkeypatch):
    data, _landing, env = clone_state()
    internal, published = data / "warehouse" / "internal.duckdb", data / "published" / "monitoring.duckdb"
    before = hashlib.sha256(published.read_bytes()).hexdigest()
    cell, result = open_one_cell(internal)

    # the audit flags that cell and what follows from it, each solved to its true figures
    recovered = result.recovered.drop_duplicates(KEY)[KEY].apply(tuple, axis=1).tolist()
    assert cell in recovered and 1 <= len(recovered) <= 3, recovered
    con = duckdb.connect(str(internal), read_only=True)
    truth = con.execute("SELECT * FROM intermediate.int_indicator_values_unsuppressed").df().set_index(KEY)
    con.close()
    for *key, quantity, value in result.recovered.itertuples(index=False, name=None):
        assert value == pytest.approx(truth.loc[tuple(key), quantity]), key

    # the blocking Dagster check on the working copy names it (never a value)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from orchestration.defs.checks import no_recoverable_cells

    check = no_recoverable_cells()
    assert check.passed is False
    md = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
    name = "Indikator {}, Zeitraum {}, Gebiet {}, Gruppe {}".format(*cell)
    assert md["count"] == len(recovered) and name in md["cells"] and md["cells"] == result.cell_names()
    assert "solved_value" not in str(md)

    # and the publish step refuses before the swap: the published file stays as it was
    from orchestration.publish import DisclosureRisk, stage_publish

    with pytest.raises(DisclosureRisk) as err:
        stage_publish(internal, published, refresh_id="test", mode="rebuild", versions=[], fingerprint="x",
                      acceptances=[], checks={})
    assert name in str(err.value) and "nichts veröffentlicht" in str(err.value)
    assert hashlib.sha256(published.read_bytes()).hexdigest() == before
    assert not list(published.parent.glob(".monitoring.duckdb.tmp-*"))


def test_the_audit_is_fast_at_district_scale(refreshed):
    """The grid is dense, so the district-scale set has as many cells as the session refresh's
    (scale 0.02); copied 10 times over as distinct periods (ten times the district's
    history): seconds, not minutes."""
    import time

    con = duckdb.connect(str(refreshed / "data" / "published" / "monitoring.duckdb"), read_only=True)
    cells = disclosure.read_cells(con)
    con.close()
    big = pd.concat([cells.assign(period=cells["period"] + f"~{k}") for k in range(10)], ignore_index=True)
    started = time.perf_counter()
    result = disclosure.audit(big)
    assert result.passed and result.cells == 10 * len(cells)
    assert time.perf_counter() - started < 20


def test_a_refresh_whose_set_lets_a_cell_be_computed_back_is_blocked(clone_state, tmp_path):
    """End to end on the real CLI: the project deployed with the first wording of the secondary
    rule (model and mart check as before 2026-12-07) builds, on data where that wording leaks
    (the session's refreshed history, tests/conftest.py: 4 cells of WOH-03 follow; like scale
    0.1, 30 months, seed 1 of docs/confidentiality.md, without a first load of its own), a set
    from which a suppressed cell follows. The audit blocks the refresh (exit 2), names the
    cells, and the published set (built by the amended rule) stays byte for byte as it was."""
    import subprocess
    import sys

    from test_operator_output import _copy_project

    data, landing, env = clone_state()
    published = data / "published" / "monitoring.duckdb"
    before = hashlib.sha256(published.read_bytes()).hexdigest()
    assert audit_file(published).passed

    repo = _copy_project(tmp_path / "deployed")
    model = repo / "dbt_project" / "models" / "intermediate" / "int_indicator_suppression.py"
    amended = "only_total = (per_line == 0) & has_total & ~total_shown"
    assert amended in model.read_text()
    model.write_text(model.read_text().replace(amended, "only_total = np.zeros(n_lines, dtype=bool)"))
    check = repo / "dbt_project" / "tests" / "assert_suppression_applied.sql"
    new_case = "or (total_suppressed and suppressed_parts = 0 and parts_above_0 > 0)"
    assert check.read_text().count(new_case) == 2
    check.write_text(check.read_text().replace(new_case, "or false"))
    proc = subprocess.run([sys.executable, "-m", "orchestration.cli", "refresh"], env=dict(env, PYTHONPATH=str(repo)),
                          cwd=repo, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    # a changed suppression model is new project code: the installation rebuilds by itself
    assert "Projektcode geändert" in proc.stdout
    assert "BLOCKIERT" in proc.stdout and "no_recoverable_cells" in proc.stdout
    assert "assert_suppression_applied" not in proc.stdout  # the first wording's own check passed
    # the cells the audit computes back from the working copy are named in the outcome
    working = audit_file(data / "warehouse" / "internal.duckdb", "marts.indicator_values")
    assert not working.passed
    for name in working.cell_names(limit=10):
        assert f"errechenbar: {name}" in proc.stdout
    assert hashlib.sha256(published.read_bytes()).hexdigest() == before


def test_a_published_file_from_before_the_audit_keeps_its_history(clone_state):
    """An installation whose refresh_log has no audit columns yet (published before this
    change): the next publish carries its rows over (NULL in the new columns) and records
    cells per rule and the audit for itself."""
    from orchestration.publish import stage_publish

    data, _landing, _env = clone_state()
    internal, published = data / "warehouse" / "internal.duckdb", data / "published" / "monitoring.duckdb"
    con = duckdb.connect(str(published))
    for col in ("suppressed_primary", "suppressed_secondary", "disclosure_audit"):
        con.execute(f"ALTER TABLE refresh_log DROP COLUMN {col}")
    (old_id,), = con.execute("SELECT refresh_id FROM refresh_log").fetchall()
    con.close()
    stage_publish(internal, published, refresh_id="next", mode="rebuild", versions=[], fingerprint="x",
                  acceptances=[], checks={}).commit(1.0)
    con = duckdb.connect(str(published), read_only=True)
    rows = dict((r[0], r[1:]) for r in con.execute(
        "SELECT refresh_id, suppressed_primary, suppressed_secondary, disclosure_audit FROM refresh_log").fetchall())
    n_suppressed = con.execute("SELECT count(*) FROM indicator_values WHERE is_suppressed").fetchone()[0]
    con.close()
    assert rows[old_id] == (None, None, None)
    primary, secondary, audit = rows["next"]
    assert primary > 0 and secondary > 0 and primary + secondary == n_suppressed
    assert audit.startswith("bestanden")
