"""`imon status`: the last refreshes from Dagster's run history, and what waits in the inbox."""

from __future__ import annotations

from datetime import datetime

from orchestration.settings import Settings


def refresh_history(settings: Settings, limit: int = 10) -> list[dict]:
    """One dict per refresh run, newest first: when, outcome, files, duration."""
    import dagster as dg

    from orchestration.instance import get_instance

    instance = get_instance(settings)
    runs = instance.get_run_records(dg.RunsFilter(job_name="refresh"), limit=limit)
    published_files, published_seconds = _published_runs(settings)
    out = []
    for rec in runs:
        run = rec.dagster_run
        start, end = rec.start_time, rec.end_time
        blocked = False
        if run.status == dg.DagsterRunStatus.SUCCESS or run.status == dg.DagsterRunStatus.FAILURE:
            evals = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
            ).records
            blocked = any(
                not e.event_log_entry.dagster_event.event_specific_data.passed
                and e.event_log_entry.dagster_event.event_specific_data.severity.value == "ERROR"
                for e in evals
            )
        if blocked:
            outcome = "blockiert (Gate)"
        elif run.status == dg.DagsterRunStatus.SUCCESS:
            # A successful run that left no refresh_log row found nothing new (e.g. an identical re-delivery).
            outcome = "veröffentlicht" if run.run_id in published_files else "unverändert"
        else:
            outcome = run.status.value.lower()
        # A published run's duration is the one in refresh_log (start of the run to the publish),
        # the same number the console printed; other runs: as Dagster recorded them.
        seconds = published_seconds.get(run.run_id, (end - start) if start and end else None)
        out.append({
            "run_id": run.run_id,
            "started": datetime.fromtimestamp(start) if start else None,
            "seconds": seconds,
            "outcome": outcome,
            "files": published_files.get(run.run_id),
        })
    return out


def _published_runs(settings: Settings) -> tuple[dict[str, int], dict[str, float]]:
    """refresh_id -> file count, and refresh_id -> duration_s, from refresh_log."""
    if not settings.published_db.exists():
        return {}, {}
    import duckdb

    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        rows = con.execute("SELECT refresh_id, file_count, duration_s FROM refresh_log").fetchall()
    finally:
        con.close()
    return {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows if r[2] is not None}


def print_status(settings: Settings, limit: int = 10) -> int:
    from orchestration.pending import pending

    p = pending(settings)
    print(f"Posteingang {settings.landing_dir}: {len(p.inbox)} Datei(en) warten")
    for f in p.inbox:
        print(f"  {f.contract.provider}/{f.path.name}  ({f.path.stat().st_size:,} Bytes)")
    for u in p.unknown:
        print(f"  ? {u}")
    if settings.quarantine_dir.exists():
        reports = sorted(settings.quarantine_dir.glob("*.report.txt"))
        if reports:
            print(f"Quarantäne {settings.quarantine_dir}: {len(reports)} Bericht(e), zuletzt {reports[-1].name}")
    print(f"Veröffentlicht: {settings.published_db}"
          + ("" if p.published_exists else " (noch nichts)")
          + (" — interner Stand neuer als veröffentlichter" if p.unpublished else ""))
    if p.code_changed and p.published_exists:
        print("Projektcode geändert (dbt-Projekt, Indikatorenkatalog oder Verträge): die nächste "
              "Aktualisierung baut alle Modelle neu.")
    if p.key_problem:
        print(f"ACHTUNG: {p.key_problem}")
    if p.postgres_behind:
        print("PostgreSQL: hält den veröffentlichten Stand noch nicht (letzte Veröffentlichung dorthin "
              "fehlgeschlagen oder IMON_POSTGRES_DSN neu); die nächste Aktualisierung holt es nach.")
    print_deliveries(settings)
    from orchestration.notify import status_lines

    for line in status_lines(settings):
        print(line)
    print("Letzte Aktualisierungen:")
    history = refresh_history(settings, limit)
    if not history:
        print("  (keine)")
    for h in history:
        when = h["started"].strftime("%Y-%m-%d %H:%M:%S") if h["started"] else "?"
        dur = f"{h['seconds']:.1f} s" if h["seconds"] is not None else "läuft"
        files = f"{h['files']} Dateien" if h["files"] is not None else "-"
        print(f"  {when}  {h['outcome']:<18} {files:<12} {dur:>8}  {h['run_id'][:8]}")
    return 0


def print_deliveries(settings: Settings) -> None:
    """Every overdue file (type, period, due date, days overdue) and every file type up to date
    (warehouse.md, "Overdue deliveries are visible")."""
    from orchestration.deliveries import delivery_status, overdue, period_label

    try:
        statuses = delivery_status(settings)
    except Exception as e:  # the warehouse held by a running refresh
        print(f"Lieferungen: nicht geprüft ({type(e).__name__}); eine Aktualisierung läuft vermutlich.")
        return
    late = overdue(statuses)
    print(f"Lieferungen (Stand {settings.today:%d.%m.%Y}): {len(late)} überfällig")
    for o in late:
        print(f"  ÜBERFÄLLIG {o.line()}")
    for s in statuses:
        if s.overdue:
            continue
        if s.last_period is None:
            print(f"  {s.file_type:<20} noch keine Lieferung (wird erst ab der ersten Lieferung überwacht)")
            continue
        print(f"  {s.file_type:<20} aktuell: zuletzt {period_label(s.file_type, s.last_period)}, "
              f"nächste {period_label(s.file_type, s.next_period)} fällig am {s.next_due:%d.%m.%Y}")
