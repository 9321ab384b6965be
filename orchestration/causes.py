"""The cause of a failed refresh in one German line (warehouse.md: every exit 1 ends with its cause).

Works on live exceptions (raised before Dagster runs) and on Dagster's serialised errors (class
name and message only), so the same words appear whichever side of the run a failure happens.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

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
        return f"{_ERRNO_TEXT[errno.ENOSPC]}."
    if "Read-only file system" in message:
        return f"{_ERRNO_TEXT[errno.EROFS]}."
    m = _DUCKDB_OSERR_RE.search(message)
    if m:
        return f"Datei {m.group(1)} nicht nutzbar: {m.group(2).strip()}"
    return None
