"""Checks on the built marts that are ours rather than dbt tests: they look across tables.
Blocking: a failure stops the publish exactly like a bad file (exit 2)."""


import dagster as dg

from orchestration import disclosure
from orchestration import warehouse as wh
from orchestration.defs.assets import INDICATOR_VALUES
from orchestration.publish import FORBIDDEN_COLUMNS, MARTS_SCHEMA, sql_literal
from orchestration.settings import get_settings, pause_point


@dg.asset_check(asset=INDICATOR_VALUES, blocking=True,
                description="No mart holds a person-level column (pseudonyms, birth years, entry dates).")
def no_person_level_columns() -> dg.AssetCheckResult:
    con = wh.connect(get_settings().internal_db, read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?",
            [MARTS_SCHEMA],
        ).fetchall()
    finally:
        con.close()
    leaked = sorted(f"{t}.{c}" for t, c in rows if c.lower() in FORBIDDEN_COLUMNS)
    return dg.AssetCheckResult(passed=not leaked, metadata={"leaked_columns": leaked})


@dg.asset_check(asset=INDICATOR_VALUES, blocking=True,
                description="No indicator period that is published now disappears from the new set "
                "(files are never withdrawn, so a lost period means a broken build).")
def no_published_period_lost() -> dg.AssetCheckResult:
    settings = get_settings()
    if not settings.published_db.exists():
        return dg.AssetCheckResult(passed=True, metadata={"note": "nothing published yet"})
    con = wh.connect(settings.internal_db, read_only=True)
    try:
        con.execute(f"ATTACH {sql_literal(settings.published_db)} AS published (READ_ONLY)")
        lost = con.execute(
            f"""SELECT DISTINCT indicator_id, period FROM published.main.indicator_values
                EXCEPT SELECT DISTINCT indicator_id, period FROM {MARTS_SCHEMA}.indicator_values
                ORDER BY 1, 2"""
        ).fetchall()
    finally:
        con.close()
    pause_point("checks")  # kill-safety tests stop a refresh here, while the mart checks run
    return dg.AssetCheckResult(
        passed=not lost, metadata={"lost_periods": [f"{i} {p}" for i, p in lost[:50]], "count": len(lost)}
    )


@dg.asset_check(asset=INDICATOR_VALUES, blocking=True,
                description="Disclosure audit (docs/confidentiality.md): no suppressed cell of the set follows "
                "from its published cells by adding and subtracting along regional and group lines.")
def no_recoverable_cells() -> dg.AssetCheckResult:
    con = wh.connect(get_settings().internal_db, read_only=True)
    try:
        result = disclosure.audit_table(con, f"{MARTS_SCHEMA}.indicator_values")
    finally:
        con.close()
    # the cells by name only: a recovered value must not reach the run log
    return dg.AssetCheckResult(passed=result.passed, metadata={
        "count": result.count, "cells": result.cell_names(limit=50), "summary": result.summary(),
        "suppressed": result.suppressed, "line_kinds": len(result.line_kinds)})


mart_checks = [no_person_level_columns, no_published_period_lost, no_recoverable_cells]
