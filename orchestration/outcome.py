"""The outcome of a finished refresh run: what an operator reads and the mail repeats.

Built from the run's Dagster events, the same way for a run `imon refresh` executed in its own
process (orchestration/refresh.py, from the run's result) and for a run the schedule or the
inbox sensor launched (orchestration/defs/notifications.py, from the instance's event log): the
exit code of warehouse.md (0 published/nothing new, 2 gate blocked, 1 anything else) and the
lines: for a block, which file, which rule, how many rows, the report, what to do; for a
failure, its cause in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.causes import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, from_chain
from orchestration.settings import Settings

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


class StoredRun:
    """A finished run read back from the instance's event log, with the part of Dagster's
    ExecuteInProcessResult that outcome_of reads: a run launched by the daemon has no result
    object in our process, only its events."""

    def __init__(self, instance, run_id: str):
        run = instance.get_run_by_id(run_id)
        self.run_id = run_id
        self.success = run is not None and run.is_success
        self.all_events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event is not None]

    def get_asset_check_evaluations(self) -> list:
        return [ev.event_specific_data for ev in self.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION"]

    def get_asset_materialization_events(self) -> list:
        return [ev for ev in self.all_events if ev.is_step_materialization]


def outcome_of_stored_run(instance, run_id: str, settings: Settings) -> Outcome:
    """The outcome of a run `imon refresh` did not execute (schedule, inbox sensor, Dagster UI)."""
    return outcome_of(StoredRun(instance, run_id), settings, run_seconds(instance, run_id))
