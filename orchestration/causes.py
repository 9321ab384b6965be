"""The cause of a failed refresh in one German line (warehouse.md: every exit 1 ends with its cause).

Works on live exceptions (raised before Dagster runs) and on Dagster's serialised errors (class
name and message only), so the same words appear whichever side of the run a failure happens.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from orchestration import settings as _settings

# The exit codes of imon and the developer commands: 2 is reserved for a blocked gate, so a
# wrong argument gets 64 (sysexits EX_USAGE).
EXIT_OK, EXIT_FAILED, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2, 64

# errno -> what an operator reads; the path follows.
_ERRNO_TEXT = {
    errno.EROFS: "Schreibgeschütztes Dateisystem",
    errno.ENOSPC: "Kein Speicherplatz mehr auf dem Datenträger",
    errno.EDQUOT: "Speicherkontingent (Quota) erschöpft",
    errno.EACCES: "Keine Berechtigung",
    errno.EPERM: "Vorgang nicht erlaubt",
    errno.ENOENT: "Datei oder Verzeichnis nicht gefunden",
    errno.ENOTDIR: "Ist kein Verzeichnis (eine Datei steht an seiner Stelle)",
    errno.EEXIST: "Existiert bereits (eine Datei steht an der Stelle eines Verzeichnisses?)",
    errno.EISDIR: "Ist ein Verzeichnis, keine Datei",
    errno.EIO: "Ein-/Ausgabefehler des Datenträgers",
    errno.ENOMEM: "Nicht genug Arbeitsspeicher",
    errno.ECONNREFUSED: "Verbindung abgelehnt",
    errno.ETIMEDOUT: "Zeitüberschreitung der Verbindung",
    errno.EHOSTUNREACH: "Rechner nicht erreichbar",
}
_ERRNO_RE = re.compile(r"\[Errno (\d+)\] [^:']*(?:: '([^']*)')?")
_DUCKDB_LOCK_RE = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)"(?:.*?Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\))?',
    re.S)
_DUCKDB_OSERR_RE = re.compile(r'(?:Could not write|Could not open|Cannot open) file "([^"]+)": ([^\n]+)', re.I)
_PG_REFUSED_RE = re.compile(r'connection to server at "([^"]+)"(?: \([^)]*\))?, port (\d+) failed: Connection refused')


class PipelineStop(RuntimeError):
    """A refusal whose message already is the German one-line cause (shown as it is)."""

    names = {"PipelineStop"}  # class names, to know them again in Dagster's serialised errors

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PipelineStop.names.add(cls.__name__)


def duckdb_lock_conflict(path, message: str) -> str | None:
    """The German line for DuckDB's lock conflict on `path`, or None if `message` is something else."""
    m = _DUCKDB_LOCK_RE.search(message)
    return held_for_writing(str(path), m.group("pid"), m.group("prog")) if m else None


def held_for_writing(path: str, pid: str | None, prog: str | None) -> str:
    """DuckDB names the holding program and its pid; /proc adds its command line."""
    who = "einem anderen Programm"
    if pid:
        try:
            cmd = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").split())
        except OSError:
            cmd = ""
        cmd = cmd or prog or ""
        who = f"Prozess {pid} ({cmd[:80]}{' …' if len(cmd) > 80 else ''})"
    return (f"{path} ist von {who} zum Schreiben geöffnet, daher kann nichts veröffentlicht werden. "
            "Dieses Programm beenden oder die Datei dort nur lesend öffnen "
            "(duckdb.connect(..., read_only=True)), dann erneut aktualisieren.")


def from_exception(exc: BaseException) -> str:
    """One line for a live exception; follows __cause__/__context__ to the root cause."""
    chain, seen = [], set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in reversed(chain):  # innermost first: the root cause says most
        if isinstance(e, PipelineStop):
            return str(e)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return full_disk(e.filename, quota=e.errno == errno.EDQUOT)
        if isinstance(e, OSError) and e.errno in _ERRNO_TEXT:
            where = e.filename or ""
            return f"{_ERRNO_TEXT[e.errno]}: {where}".rstrip(": ")
    return from_chain([(type(x).__name__, str(x)) for x in chain])


def from_message(cls_name: str, message: str) -> str:
    """One line for an error known only by class name and message (Dagster's step failures)."""
    specific = specific_cause(cls_name, message)
    if specific:
        return specific
    cls_name, message = _plain(cls_name, message)
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    return f"{cls_name}: {first}" if first else cls_name


def from_chain(errors: list[tuple[str, str]]) -> str:
    """One line for a chain of (class name, message), outermost first: the first error in the
    chain with a known cause, else the innermost."""
    for cls_name, message in reversed(errors):
        specific = specific_cause(cls_name, message)
        if specific:
            return specific
    return from_message(*errors[-1]) if errors else "unbekannte Ursache"


def _plain(cls_name: str, message: str) -> tuple[str, str]:
    """Dagster records the qualified class name and prefixes the message with it
    ("orchestration.causes.PipelineStop: ..."): the short name and the bare message."""
    short = cls_name.rsplit(".", 1)[-1]
    message = re.sub(rf"^[\w.]*\b{re.escape(short)}: ", "", message.strip())
    return short, message


def specific_cause(cls_name: str, message: str) -> str | None:
    """The German line for a cause we recognise, else None."""
    cls_name, message = _plain(cls_name, message)
    if cls_name in PipelineStop.names:
        return message.splitlines()[0]
    m = _ERRNO_RE.search(message)
    if m and int(m.group(1)) in (errno.ENOSPC, errno.EDQUOT):
        return full_disk(m.group(2), quota=int(m.group(1)) == errno.EDQUOT)
    if m and int(m.group(1)) in _ERRNO_TEXT:
        return f"{_ERRNO_TEXT[int(m.group(1))]}: {m.group(2) or ''}".rstrip(": ")
    m = _DUCKDB_LOCK_RE.search(message)
    if m:
        return held_for_writing(m.group("path"), m.group("pid"), m.group("prog"))
    m = _PG_REFUSED_RE.search(message)
    if m:
        where = f"{m.group(1)}:{m.group(2)}"
        return (f"PostgreSQL nicht erreichbar ({where}): Verbindung abgelehnt. Läuft der Server, stimmt "
                "IMON_POSTGRES_DSN? Der DuckDB-Stand ist veröffentlicht; die nächste Aktualisierung holt "
                "PostgreSQL nach.")
    if "password authentication failed" in message or "authentication failed" in message:
        return "PostgreSQL lehnt die Anmeldung ab (Benutzer/Passwort in IMON_POSTGRES_DSN prüfen)."
    if "No space left on device" in message or "database or disk is full" in message:
        m = _DUCKDB_OSERR_RE.search(message)
        return full_disk(m.group(1) if m else None)
    if "disk I/O error" in message:  # SQLite's word (Dagster's run storage) for a failed write, often a full disk
        return full_disk(None, only_if_full=True)
    if "Read-only file system" in message:
        return f"{_ERRNO_TEXT[errno.EROFS]}."
    m = _DUCKDB_OSERR_RE.search(message)
    if m:
        return f"Datei {m.group(1)} nicht nutzbar: {m.group(2).strip()}"
    return None


def _mb(n: float) -> str:
    """German number format: 1,5 GB, 20,0 MB."""
    value, unit = (n / 2**30, "GB") if n >= 2**30 else (n / 2**20, "MB")
    return f"{value:.1f} {unit}".replace(".", ",")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def space_needed(data_dir: Path, landing_dir: Path) -> int:
    """About what a refresh writes into IMON_DATA_DIR: a new copy of the published set (it is
    replaced atomically), the new files twice (archive and warehouse) and 32 MB for Dagster's
    run storage, dbt's work files and reports."""
    def size(p: Path) -> int:
        try:
            return p.stat().st_size
        except OSError:
            return 0
    inbox = sum(size(f) for f in landing_dir.rglob("*") if f.is_file()) if landing_dir.is_dir() else 0
    return size(data_dir / "published" / "monitoring.duckdb") + 2 * inbox + 32 * 2**20


def full_disk(path: str | os.PathLike | None = None, quota: bool = False, only_if_full: bool = False) -> str | None:
    """The full disk in words an operator can act on: which disk (the one holding IMON_DATA_DIR,
    unless the error names a file elsewhere), how much is free and about how much is needed, that
    nothing is lost, what to do. only_if_full: None when the disk has room (then an I/O error is
    something else and is named as such)."""
    data_dir = _settings.data_dir()
    where = _existing(Path(path)) if path else _existing(data_dir)
    try:
        usage = shutil.disk_usage(where)
        on_data = os.stat(where).st_dev == os.stat(_existing(data_dir)).st_dev
    except OSError:
        return None if only_if_full else f"{_ERRNO_TEXT[errno.ENOSPC]}: {where}"
    needed = space_needed(data_dir, _settings.landing_dir())
    if only_if_full and usage.free >= needed:
        return None
    what = _ERRNO_TEXT[errno.EDQUOT] if quota else _ERRNO_TEXT[errno.ENOSPC]
    disk = f"IMON_DATA_DIR ({data_dir})" if on_data else str(where)
    state = "ist voll" if usage.free < needed else "meldet, er sei voll"
    return (f"{what}: der Datenträger von {disk} {state}, frei {_mb(usage.free)} von {_mb(usage.total)}, "
            f"eine Aktualisierung braucht etwa {_mb(needed)}. Nichts ist verloren: der veröffentlichte Stand "
            "bleibt unverändert, neue Dateien liegen im Archiv oder noch im Posteingang. Platz schaffen (oder "
            "IMON_DATA_DIR auf einen größeren Datenträger legen), dann erneut aktualisieren: imon refresh.")
