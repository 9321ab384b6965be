"""How a refresh runs: one at a time, cheap when nothing is new, with a clear outcome.

The CLI (`imon refresh`), the nightly schedule and the inbox sensor all end in
the same Dagster job (`refresh`); this module holds what wraps it: the OS lock,
the no-op short-cut that runs before Dagster is imported, and the mapping of a
finished run to the exit codes of warehouse.md (0 published/nothing new,
2 gate blocked, 1 anything else).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.settings import Settings, get_settings, quiet_telemetry

EXIT_OK, EXIT_FAILED, EXIT_BLOCKED = 0, 1, 2


class LockTimeout(RuntimeError):
    pass


_HELD: set[str] = set()  # lock files this process holds (the CLI takes it, then the job's resource)


@contextmanager
def refresh_lock(settings: Settings, timeout_s: float | None = None):
    """An flock on state/refresh.lock: the kernel drops it with the process, so a refresh killed
    with SIGKILL never leaves a stale lock for the next night. A second refresh waits up to
    `timeout_s` (IMON_LOCK_TIMEOUT, default 30 min) and then stops with a clear message.
    Re-entrant within one process: `imon refresh` takes it before starting Dagster (a waiting or
    refused refresh never creates a failed run), the job's resource takes it again for runs the
    schedule or sensor launch."""
    timeout_s = settings.lock_timeout_s if timeout_s is None else timeout_s
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.state_dir / "refresh.lock"
    if str(path) in _HELD:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"Eine andere Aktualisierung läuft noch (PID {holder or '?'}); nach {timeout_s:.0f} s "
                        "Wartezeit abgebrochen. Nichts wurde verändert."
                    ) from None
                if not announced:
                    print(f"Eine andere Aktualisierung läuft (PID {holder or '?'}), warte bis zu {timeout_s:.0f} s …",
                          flush=True)
                    announced = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD.add(str(path))
        reap_orphans(settings)
        yield
    finally:
        _HELD.discard(str(path))
        os.close(fd)  # closing the descriptor releases the flock


def dbt_pid_file(settings: Settings) -> Path:
    return settings.state_dir / "dbt.pid"


def reap_orphans(settings: Settings) -> None:
    """A refresh killed while dbt runs leaves dbt running on its own, holding the internal
    warehouse. We hold the lock now, so any dbt recorded there is an orphan: stop it."""
    pid_file = dbt_pid_file(settings)
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        if "dbt" in cmdline:
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)
    except (ValueError, FileNotFoundError, ProcessLookupError):
        pass
    pid_file.unlink(missing_ok=True)


# --- the cheap path: is there anything to do at all? -----------------------------------------


@dataclass
class Pending:
    inbox: list = field(default_factory=list)  # ingest.InboxFile
    unknown: list = field(default_factory=list)  # Path
    unpublished: bool = False  # internal warehouse holds file versions the published set lacks
    published_exists: bool = False
    postgres_behind: bool = False  # IMON_POSTGRES_DSN set but it does not hold the published set

    @property
    def nothing_to_do(self) -> bool:
        return not self.inbox and not self.unpublished and self.published_exists and not self.postgres_behind


def pending(settings: Settings) -> Pending:
    """What a refresh would do, found without importing Dagster, dbt or GX."""
    from orchestration.ingest import scan_inbox

    inbox, unknown = scan_inbox(settings.landing_dir)
    p = Pending(inbox=inbox, unknown=unknown, published_exists=settings.published_db.exists())
    if settings.internal_db.exists():
        from orchestration import publish, warehouse

        try:
            con = warehouse.connect(settings.internal_db, read_only=True)
        except Exception:  # held by a running refresh: let the job wait for the lock
            p.unpublished = True
            return p
        try:
            current = warehouse.current_versions(con)
        finally:
            con.close()
        published = publish.read_published_state(settings.published_db)
        p.unpublished = warehouse.fingerprint(current) != published.fingerprint
        # Every publish target catches up (warehouse.md): a failed or never-done PostgreSQL publish.
        from orchestration.serving import postgres_behind

        p.postgres_behind = postgres_behind(settings.state_dir, settings.postgres_dsn, published.refresh_id)
    return p


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
            log(f"Hinweis: {u} passt zu keinem Dateimuster (docs/contract/sources.md) und bleibt liegen.")
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
            f"{ev.step_key}: {_cause(ev.event_specific_data.error)}"
            for ev in result.all_events if ev.event_type_value == "STEP_FAILURE"
        ]
        return Outcome(EXIT_FAILED, "FEHLER: Aktualisierung fehlgeschlagen: " + "; ".join(failures), [], run_id)
    published = settings.published_db
    return Outcome(EXIT_OK, f"VERÖFFENTLICHT: neuer Indikatorensatz in {published} ({seconds:.1f} s).", [], run_id)


def _cause(error) -> str:
    """The first line of the exception the step raised, not of Dagster's wrapper around it."""
    if error is None:
        return ""
    while error.cause is not None and error.message.startswith("dagster."):
        error = error.cause
    first = (error.message.strip().splitlines() or [""])[0]
    head, sep, rest = first.partition(": ")
    return rest if sep and "." in head and " " not in head else first  # drop "pkg.module.Error: "


def _write_check_report(settings: Settings, run_id: str, blocked: list[str]) -> str:
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / f"checks-{run_id}.json"
    path.write_text(json.dumps({"run_id": run_id, "failed_checks": blocked}, indent=2), encoding="utf-8")
    return str(path)
