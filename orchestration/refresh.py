"""How a refresh runs: one at a time, cheap when nothing is new, with a clear outcome.

The CLI (`imon refresh`), the nightly schedule and the inbox sensor all end in
the same Dagster job (`refresh`); this module runs it: it takes the OS lock
(orchestration/runlock.py), asks the no-op short-cut (orchestration/pending.py) before
Dagster is imported, and maps a finished run to the exit codes of warehouse.md
(0 published/nothing new, 2 gate blocked, 1 anything else) and to the last lines an
operator reads (orchestration/outcome.py builds them, also for runs the schedule or sensor
started): for a block, which file, which rule, how many rows, the report, what to do; for a
failure, its cause in one line.
"""

from __future__ import annotations

from orchestration.causes import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, PipelineStop
from orchestration.outcome import Outcome, outcome_of, run_seconds
from orchestration.pending import pending
from orchestration.runlock import LockTimeout, refresh_lock  # noqa: F401 (LockTimeout: for callers)
from orchestration.settings import Settings, get_settings, quiet_telemetry


def run_refresh(full: bool = False, settings: Settings | None = None, log=print, *,
                rekey: bool = False, verbose: bool = False, started_at: float | None = None) -> Outcome:
    """`imon refresh`: the same job as the schedule, in-process, no server needed. `started_at`
    (epoch s, default: now) is where the refresh's duration counts from (the CLI: its process start)."""
    import time

    started_at = started_at or time.time()
    settings = settings or get_settings()
    full = full or rekey
    if full:
        from orchestration.ingest import scan_inbox

        scan_inbox(settings.landing_dir)  # a missing inbox fails here, before anything is rebuilt
    else:
        p = pending(settings)
        for u in p.unknown:
            log(f"Hinweis: {u}")
        if p.nothing_to_do:
            return Outcome(EXIT_OK, f"Nichts Neues: veröffentlichter Stand ist aktuell ({settings.published_db}).")
        if p.inbox and not settings.pseudonym_key:
            return Outcome(EXIT_FAILED, f"FEHLER: IMON_PSEUDONYM_KEY ist nicht gesetzt; ohne Schlüssel wird keine "
                                        f"Datei geladen ({len(p.inbox)} Datei(en) warten). Schlüssel setzen "
                                        "(nur für Demodaten: imon refresh --demo).")
        if p.key_problem:
            return Outcome(EXIT_FAILED, f"FEHLER: {p.key_problem}")
        if p.code_changed and p.published_exists and not p.inbox and not p.unpublished:
            log("Projektcode geändert (dbt-Projekt, Indikatorenkatalog oder Verträge): alle Modelle werden "
                "neu gebaut, die Rohdaten bleiben.")

    # The lock before Dagster: a refresh that has to wait does so here, and one that gives up
    # (LockTimeout) stops with the message alone, without a failed run in the history.
    with refresh_lock(settings):
        # Whoever held the lock may have just done our work (the inbox files are now published).
        now = None if full else pending(settings)
        if now is not None and now.nothing_to_do:
            return Outcome(EXIT_OK, "Nichts Neues: die vorige Aktualisierung hat alles veröffentlicht "
                                    f"({settings.published_db}).")
        quiet_telemetry()
        from orchestration import dbt_warm

        warm = not full and settings.published_db.exists()
        if warm:
            # dbt imports itself on the other core meanwhile. Not for a first load or --full: they
            # take a minute anyway, and their ingest is the memory peak an idle dbt would add to.
            dbt_warm.start(settings.state_dir)
        if not verbose:
            import warnings

            warnings.filterwarnings("ignore")  # Dagster's beta/deprecation notes are for developers
        from orchestration.ingest import scan_inbox

        # GX's import (~2.5 s) in a second process, while this one imports Dagster and creates the
        # run (orchestration/gate/worker.py): only with files to gate (nothing else needs GX), and
        # only for a delivery of at most one ingest batch (a new month). Beside a larger one (a
        # first load, a backlog) the worker's own interpreter and frames raise the peak memory
        # (district-scale first load, 13 months: 1323 -> 1499 MiB) for 2.5 s of a run of minutes.
        inbox = now.inbox if now is not None else scan_inbox(settings.landing_dir)[0]  # scanned under the lock
        use_worker = wants_validation_worker(inbox)
        if use_worker:
            from orchestration.gate import start_validation_worker, stop_validation_worker

            start_validation_worker(quiet=not verbose)
        try:
            return _run(full, rekey, verbose, started_at, settings,
                        None if full else {f.contract.file_type for f in inbox},
                        plan_marts=now is not None and now.published_exists and not now.unpublished
                        and not now.code_changed)
        finally:
            if use_worker:
                stop_validation_worker()
            if warm:
                dbt_warm.stop()


def wants_validation_worker(inbox: list) -> bool:
    """Files to gate, and at most one ingest batch of them (see above)."""
    from orchestration.ingest import INGEST_BATCH_BYTES

    return 0 < _inbox_bytes(inbox) <= INGEST_BATCH_BYTES


def _inbox_bytes(inbox: list) -> int:
    total = 0
    for f in inbox:
        try:
            total += max(1, f.path.stat().st_size)  # an empty file is still a file to gate
        except OSError:  # gone meanwhile: the ingest says so
            pass
    return total


def _run(full: bool, rekey: bool, verbose: bool, started_at: float, settings: Settings,
         inbox_types: set[str] | None, plan_marts: bool = False) -> Outcome:
    """The Dagster run, under the lock; `inbox_types`: the file types with files in the inbox (None:
    the whole job, as for --full, which reloads every type from the archive); `plan_marts`: the
    inbox is all that changed since the published set (defs/jobs.py refresh_subset)."""
    from orchestration.dbt import ensure_manifest

    ensure_manifest()
    from orchestration.definitions import defs
    from orchestration.defs.jobs import CLI_RUN_TAGS, refresh_run_config, refresh_subset
    from orchestration.instance import get_instance

    instance = get_instance(settings)
    job = defs.resolve_job_def("refresh")
    if inbox_types is not None:
        job = refresh_subset(job, inbox_types, plan_marts)
    result = job.execute_in_process(
        run_config=refresh_run_config(full=full, rekey=rekey, cli=True, verbose=verbose, started_at=started_at),
        instance=instance, raise_on_error=False,
        tags=CLI_RUN_TAGS,  # this process tells the outcome; the run status sensors leave it alone
    )
    outcome = outcome_of(result, settings, run_seconds(instance, result.run_id))
    for ev in result.get_asset_materialization_events():
        md = ev.event_specific_data.materialization.metadata or {}
        if "notes" in md:
            outcome.notes.extend(md["notes"].value or [])
    return outcome


__all__ = ["EXIT_BLOCKED", "EXIT_FAILED", "EXIT_OK", "LockTimeout", "Outcome", "PipelineStop", "run_refresh"]
