"""How a refresh runs: one at a time, cheap when nothing is new, with a clear outcome.

The CLI (`imon refresh`), the nightly schedule and the inbox sensor all end in
the same Dagster job (`refresh`); this module runs it: it takes the OS lock
(orchestration/runlock.py), asks the no-op short-cut (orchestration/pending.py) before
Dagster is imported, and maps a finished run to the exit codes of warehouse.md
(0 published/nothing new, 2 gate blocked, 1 anything else).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from orchestration.pending import pending
from orchestration.runlock import LockTimeout, refresh_lock  # noqa: F401 (LockTimeout: for the CLI)
from orchestration.settings import Settings, get_settings, quiet_telemetry

EXIT_OK, EXIT_FAILED, EXIT_BLOCKED = 0, 1, 2


# --- running the job --------------------------------------------------------------------------


@dataclass
class Outcome:
    exit_code: int
    summary: str
    reports: list[str] = field(default_factory=list)
    run_id: str | None = None


def run_refresh(full: bool = False, settings: Settings | None = None, log=print) -> Outcome:
    """`imon refresh`: the same job as the schedule, in-process, no server needed."""
    settings = settings or get_settings()
    t0 = time.perf_counter()
    if not full:
        p = pending(settings)
        for u in p.unknown:
            log(f"Hinweis: {u} passt zu keinem Dateimuster (sources.md) und bleibt liegen.")
        if p.nothing_to_do:
            return Outcome(EXIT_OK, f"Nichts Neues: veröffentlichter Stand ist aktuell ({settings.published_db}).")
        if p.inbox and not settings.pseudonym_key:
            return Outcome(EXIT_FAILED, f"FEHLER: IMON_PSEUDONYM_KEY ist nicht gesetzt; ohne Schlüssel wird keine "
                                        f"Datei geladen ({len(p.inbox)} Datei(en) warten). Schlüssel setzen "
                                        "(nur für Demodaten: imon refresh --demo).")

    # The lock before Dagster: a refresh that has to wait does so here, and one that gives up
    # (LockTimeout) stops with the message alone, without a failed run in the history.
    with refresh_lock(settings):
        # Whoever held the lock may have just done our work (the inbox files are now published).
        if not full and pending(settings).nothing_to_do:
            return Outcome(EXIT_OK, "Nichts Neues: die vorige Aktualisierung hat alles veröffentlicht "
                                    f"({settings.published_db}).")
        quiet_telemetry()
        from orchestration.dbt import ensure_manifest

        ensure_manifest()
        from orchestration.defs.jobs import refresh_run_config
        from orchestration.definitions import defs
        from orchestration.instance import get_instance

        job = defs.resolve_job_def("refresh")
        result = job.execute_in_process(
            run_config=refresh_run_config(full=full), instance=get_instance(settings), raise_on_error=False
        )
        return outcome_of(result, settings, time.perf_counter() - t0)


def outcome_of(result, settings: Settings, seconds: float) -> Outcome:
    blocked, reports = [], []
    for ev in result.get_asset_check_evaluations():
        if not ev.passed and ev.severity.value == "ERROR":
            blocked.append(f"{ev.asset_key.to_user_string()}:{ev.check_name}")
            md = ev.metadata or {}
            for key in ("reports", "report"):
                if key in md:
                    val = md[key].value
                    reports.extend(val if isinstance(val, list) else str(val).split("\n"))
    run_id = result.run_id
    if blocked:
        if not reports:
            reports.append(_write_check_report(settings, run_id, blocked))
        return Outcome(
            EXIT_BLOCKED,
            f"BLOCKIERT: Datenqualitätsprüfung nicht bestanden ({', '.join(blocked)}); nichts veröffentlicht "
            f"({seconds:.1f} s).",
            [r for r in reports if r],
            run_id,
        )
    if not result.success:
        failures = [
            f"{ev.step_key}: {ev.event_specific_data.error.message.strip() if ev.event_specific_data.error else ''}"
            for ev in result.all_events if ev.event_type_value == "STEP_FAILURE"
        ]
        return Outcome(EXIT_FAILED, "FEHLER: Aktualisierung fehlgeschlagen: " + "; ".join(failures), [], run_id)
    published = settings.published_db
    return Outcome(EXIT_OK, f"VERÖFFENTLICHT: neuer Indikatorensatz in {published} ({seconds:.1f} s).", [], run_id)


def _write_check_report(settings: Settings, run_id: str, blocked: list[str]) -> str:
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / f"checks-{run_id}.json"
    path.write_text(json.dumps({"run_id": run_id, "failed_checks": blocked}, indent=2), encoding="utf-8")
    return str(path)
