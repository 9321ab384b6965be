"""How a refresh runs: one at a time, cheap when nothing is new, with a clear outcome.

The CLI (`imon refresh`), the nightly schedule and the inbox sensor all end in
the same Dagster job (`refresh`); this module runs it: it takes the OS lock
(orchestration/runlock.py), asks the no-op short-cut (orchestration/pending.py) before
Dagster is imported, and maps a finished run to the exit codes of warehouse.md
(0 published/nothing new, 2 gate blocked, 1 anything else) and to the last lines an
operator reads: for a block, which file, which rule, how many rows, the report, what to do;
for a failure, its cause in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.causes import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, PipelineStop, from_chain
from orchestration.pending import pending
from orchestration.runlock import LockTimeout, refresh_lock  # noqa: F401 (LockTimeout: for callers)
from orchestration.settings import Settings, get_settings, quiet_telemetry

NEXT_STEP_GATE = ("Datei beim Lieferanten korrigieren lassen und unter demselben Namen erneut in den "
                  "Posteingang legen; die nächste Aktualisierung prüft sie erneut.")
NEXT_STEP_MARTS = ("Kein Lieferfehler: der berechnete Indikatorensatz verletzt eine Prüfung. Das Entwicklerteam "
                   "mit Bericht und Laufprotokoll informieren; der bisher veröffentlichte Stand bleibt gültig.")


@dataclass
class Outcome:
    exit_code: int
    summary: str  # the first line of the outcome (BLOCKIERT / FEHLER / VERÖFFENTLICHT / Nichts Neues)
    reports: list[str] = field(default_factory=list)
    run_id: str | None = None
    details: list[str] = field(default_factory=list)  # the lines after the summary, last one last
    seconds: float | None = None  # the run's one duration (refresh_log.duration_s when published)
    notes: list[str] = field(default_factory=list)  # from the ingest: re-deliveries, files still being written

    @property
    def lines(self) -> list[str]:
        if self.exit_code == EXIT_FAILED and self.details:
            return [*self.details, self.summary]  # an exit 1 ends with its cause
        return [self.summary, *self.details]


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
        if not full and pending(settings).nothing_to_do:
            return Outcome(EXIT_OK, "Nichts Neues: die vorige Aktualisierung hat alles veröffentlicht "
                                    f"({settings.published_db}).")
        quiet_telemetry()
        if not verbose:
            import warnings

            warnings.filterwarnings("ignore")  # Dagster's beta/deprecation notes are for developers
        from orchestration.dbt import ensure_manifest

        ensure_manifest()
        from orchestration.definitions import defs
        from orchestration.defs.jobs import refresh_run_config
        from orchestration.instance import get_instance

        instance = get_instance(settings)
        job = defs.resolve_job_def("refresh")
        result = job.execute_in_process(
            run_config=refresh_run_config(full=full, rekey=rekey, cli=True, verbose=verbose, started_at=started_at),
            instance=instance, raise_on_error=False,
        )
        outcome = outcome_of(result, settings, run_seconds(instance, result.run_id))
        for ev in result.get_asset_materialization_events():
            md = ev.event_specific_data.materialization.metadata or {}
            if "notes" in md:
                outcome.notes.extend(md["notes"].value or [])
        return outcome


def run_seconds(instance, run_id: str) -> float | None:
    """The run's duration as Dagster records it (what `imon status` shows for an unpublished run)."""
    rec = instance.get_run_record_by_id(run_id)
    if rec is None or not rec.start_time or not rec.end_time:
        return None
    return rec.end_time - rec.start_time


def published_seconds(settings: Settings, run_id: str) -> float | None:
    """refresh_log.duration_s of this run, if it published (the one duration of a published run)."""
    if not settings.published_db.exists():
        return None
    import duckdb

    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        row = con.execute("SELECT duration_s, mode FROM refresh_log WHERE refresh_id = ?", [run_id]).fetchone()
    finally:
        con.close()
    return row


def _fmt(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "? s"


def outcome_of(result, settings: Settings, seconds: float | None) -> Outcome:
    from orchestration.runlog import run_log_path

    run_id = result.run_id
    run_log = run_log_path(settings, run_id)
    gate_reports, gate_checks, mart_checks = [], [], []
    for ev in result.get_asset_check_evaluations():
        if ev.passed or ev.severity.value != "ERROR":
            continue
        md = {k: v.value for k, v in (ev.metadata or {}).items()}
        if ev.check_name == "gate":
            gate_checks.append(ev.asset_key.to_user_string() + ":gate")
            val = md.get("reports") or []
            gate_reports.extend(val if isinstance(val, list) else str(val).split("\n"))
        else:
            mart_checks.append((f"{ev.asset_key.to_user_string()}:{ev.check_name}", md))
    if gate_reports or mart_checks:
        return _blocked(settings, run_id, seconds, [r for r in gate_reports if r], gate_checks, mart_checks, run_log)
    if not result.success:
        cause = from_chain(_run_errors(result))
        return Outcome(EXIT_FAILED, f"FEHLER: {cause}", [], run_id,
                       [f"Laufprotokoll: {run_log} (alles auf der Konsole: imon refresh --verbose)"], seconds)
    row = published_seconds(settings, run_id)
    caught_up = any(ev.asset_key.to_user_string() == "postgres_serving"
                    for ev in result.get_asset_materialization_events())
    if row is None and caught_up:  # the DuckDB set was current; PostgreSQL lagged behind it
        return Outcome(EXIT_OK, "VERÖFFENTLICHT: PostgreSQL nachgeholt, hält jetzt den veröffentlichten Stand "
                                f"von {settings.published_db} (dieser unverändert; Dauer {_fmt(seconds)}).",
                       [], run_id, [], seconds)
    if row is None:  # nothing new after all (e.g. a byte-identical re-delivery): no history row
        return Outcome(EXIT_OK, f"Nichts Neues: veröffentlichter Stand ist aktuell ({settings.published_db}; "
                                f"Dauer {_fmt(seconds)}).", [], run_id, [], seconds)
    duration, mode = row
    return Outcome(EXIT_OK, f"VERÖFFENTLICHT: neuer Indikatorensatz in {settings.published_db} "
                            f"(Modus {mode}, Dauer {_fmt(duration)}).", [], run_id, [], duration)


def _run_errors(result) -> list[tuple[str, str]]:
    """(class name, message) of the errors of the run, outermost first per error."""
    out: list[tuple[str, str]] = []
    for ev in result.all_events:
        data = ev.event_specific_data
        err = getattr(data, "error", None)
        if err is None:
            continue
        chain, e = [], err
        while e is not None:
            chain.append((e.cls_name or "Fehler", e.message or ""))
            e = e.cause or getattr(e, "context", None)
        out.extend(chain)
    return out


def _blocked(settings: Settings, run_id: str, seconds: float | None, gate_reports: list[str], gate_checks: list[str],
             mart_checks: list[tuple[str, dict]], run_log: Path) -> Outcome:
    details, next_steps, reports = [], [], list(gate_reports)
    for txt in gate_reports:
        d = _read_json(Path(txt).with_suffix(".json"))
        errors = [f for f in d.get("findings", []) if f.get("severity") == "error"]
        details.append(f"Datei: {d.get('file', Path(txt).name)}"
                       + (f" ({d['provider']}/, Zeitraum {d.get('period')})" if d.get("provider") else ""))
        for f in errors[:5]:
            col = f", Spalte {f['column']}" if f.get("column") else ""
            details.append(f"Regel: {f.get('title') or f.get('rule')} – {f.get('rule_label') or f.get('rule')}{col}: "
                           f"{f.get('row_count', 0)} Zeile(n)")
            if f.get("next_step") and f["next_step"] not in next_steps:
                next_steps.append(f["next_step"])
        if len(errors) > 5:
            details.append(f"… und {len(errors) - 5} weitere Regel(n), siehe Bericht")
        details.append(f"Bericht: {txt}")
    if mart_checks:
        report = _write_check_report(settings, run_id, [name for name, _ in mart_checks])
        reports.append(report)
        for name, md in mart_checks:
            rows = next((md[k] for k in ("dagster_dbt/failed_row_count", "failed_row_count", "count") if k in md), None)
            details.append(f"Prüfung: {name}" + (f": {rows} Zeile(n)" if rows is not None else ""))
            cells = md.get("cells") or []  # the disclosure audit names the cells it could compute
            details.extend(f"  errechenbar: {c}" for c in cells[:10])
            if len(cells) > 10:
                details.append(f"  … und {rows - 10 if isinstance(rows, int) else len(cells) - 10} weitere Zelle(n)")
        details.append(f"Bericht: {report}")
        next_steps.append(NEXT_STEP_MARTS)
    if gate_reports and not any(next_steps):
        next_steps.append(NEXT_STEP_GATE)
    checks = ", ".join(gate_checks + [name for name, _ in mart_checks])
    what = (f"{len(gate_reports)} Datei(en) abgelehnt" if gate_reports
            else "Prüfung des Indikatorensatzes nicht bestanden") + f" ({checks})"
    details.append(f"Laufprotokoll: {run_log}")
    details.append("Was tun: " + " ".join(next_steps or [NEXT_STEP_GATE]))
    return Outcome(EXIT_BLOCKED, f"BLOCKIERT: {what}; nichts veröffentlicht (Dauer {_fmt(seconds)}).",
                   reports, run_id, details, seconds)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_check_report(settings: Settings, run_id: str, blocked: list[str]) -> str:
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / f"checks-{run_id}.json"
    path.write_text(json.dumps({"run_id": run_id, "failed_checks": blocked}, indent=2), encoding="utf-8")
    return str(path)


__all__ = ["EXIT_BLOCKED", "EXIT_FAILED", "EXIT_OK", "LockTimeout", "Outcome", "PipelineStop", "run_refresh"]
