"""Checks on the built marts that are ours rather than dbt tests: they look across tables.
Blocking: a failure stops the publish exactly like a bad file (exit 2).

And one freshness check per file type on its raw asset (the delivery calendar,
orchestration/deliveries.py): warning severity, never blocking, so an overdue delivery is
visible in the UI without stopping a refresh."""


import dagster as dg

from orchestration import disclosure
from orchestration import warehouse as wh
from orchestration.defs.assets import INDICATOR_VALUES
from orchestration.publish import FORBIDDEN_COLUMNS, MARTS_SCHEMA, sql_literal
from orchestration.settings import get_settings, pause_point
from sources.contracts import load_contracts


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


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec("freshness", asset=dg.AssetKey(["raw", ft]), blocking=False,
                             description=f"Every {ft} file due by today has arrived (delivery calendar, "
                                         "docs/contract/sources.md; IMON_TODAY sets the date). Warning only.")
           for ft in load_contracts()],
    can_subset=True,
)
def delivery_freshness(context: dg.AssetCheckExecutionContext):
    from orchestration.deliveries import delivery_status, period_label

    statuses = {s.file_type: s for s in delivery_status(get_settings())}
    for key in context.selected_asset_check_keys:
        s = statuses[key.asset_key.path[-1]]
        yield dg.AssetCheckResult(
            asset_key=key.asset_key, check_name="freshness", passed=not s.overdue,
            severity=dg.AssetCheckSeverity.WARN,
            description=("; ".join(o.line() for o in s.overdue[:5]) if s.overdue
                         else "noch keine Lieferung" if s.last_period is None else "alle fälligen Dateien da"),
            metadata={
                "overdue": [o.file_name for o in s.overdue],
                "days_overdue_max": max((o.days for o in s.overdue), default=0),
                "last_period": period_label(s.file_type, s.last_period) if s.last_period else "-",
                "next_due": s.next_due.isoformat() if s.next_due else "-",
            },
        )
