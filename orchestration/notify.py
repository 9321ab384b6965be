"""E-mail to the data team after a refresh that needs a person (warehouse.md, "The data team is
told; nobody has to look").

`after_refresh(outcome)` is called with the finished outcome of every `imon refresh` (cron, by
hand) and, by the run status sensors (orchestration/defs/notifications.py), of every other run of
the refresh job (schedule, inbox sensor, Dagster UI). It sends at most
one mail, and only when there is something to say: the refresh was blocked (exit 2) or failed
(exit 1), it published again after a blocked or failed one ("wieder in Ordnung"), a delivery
became overdue, or an overdue one arrived. The body repeats the console's outcome block word for
word (those lines name files, rules, row counts, paths and causes, never row content).

What was told and what is still to be sent survive a killed process: `state/notify.json` under
IMON_DATA_DIR, replaced atomically, written before the mail is sent. A mail that cannot be sent
stays there and goes out, merged into that refresh's one mail, with the next refresh; a failure
here never changes the refresh's exit code (everything is caught and reported as a Hinweis).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from orchestration.files import write_atomic
from orchestration.causes import EXIT_BLOCKED, EXIT_FAILED
from orchestration.settings import Settings

PREFIX = "[Integrationsmonitor]"
STATE_FILE = "notify.json"
TOLD_RUNS_KEPT = 100
NEXT_STEP_OVERDUE = ("Beim Lieferanten nachfragen; sobald die Datei im Posteingang liegt, prüft und lädt sie "
                     "die nächste Aktualisierung (sie beendet die Überfälligkeit auch, wenn sie abgelehnt wird).")


def state_path(settings: Settings) -> Path:
    return settings.state_dir / STATE_FILE


def load_state(settings: Settings) -> dict:
    try:
        state = json.loads(state_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    state.setdefault("last_outcome", None)  # ok | blocked | failed: for "wieder in Ordnung"
    state.setdefault("told_overdue", [])  # "<file type>:<period>" already told as overdue
    state.setdefault("pending", [])  # mails not sent yet: {subject, text, created}
    state.setdefault("last_error", None)
    state.setdefault("told_runs", [])  # the latest run ids already handled: each run is told once
    return state


def save_state(settings: Settings, state: dict) -> None:
    """Write-then-rename with fsync: a kill leaves the old or the new state, never half a file."""
    write_atomic(state_path(settings), json.dumps(state, ensure_ascii=False, indent=1), durable=True)


def _kind(outcome) -> str | None:
    if outcome.exit_code == EXIT_BLOCKED:
        return "blocked"
    if outcome.exit_code == EXIT_FAILED:
        return "failed"
    return "ok" if outcome.summary.startswith("VERÖFFENTLICHT") else None  # "Nichts Neues" changes nothing


def _blocked_subject(outcome) -> str:
    """`BLOCKIERT: jobcenter_2025-03.csv (R4.code)`: the files and the rules that blocked them."""
    parts = []
    for report in outcome.reports:
        try:
            d = json.loads(Path(report).with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # the mart check report: no file to name
        rules = sorted({f["rule"] for f in d.get("findings", []) if f.get("severity") == "error"})
        parts.append(f"{d.get('file')} ({', '.join(rules[:3])}{', …' if len(rules) > 3 else ''})")
    if not parts:
        return "BLOCKIERT: Prüfung des Indikatorensatzes nicht bestanden"
    return "BLOCKIERT: " + ", ".join(parts[:2]) + (f" und {len(parts) - 2} weitere" if len(parts) > 2 else "")


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def compose(outcome, state: dict, statuses, settings: Settings) -> dict | None:
    """The message of this refresh ({subject, text, created}) or None; updates `state` (told,
    last outcome) as if it were sent: what is composed is kept until it is sent."""
    from orchestration.deliveries import overdue

    kind = _kind(outcome)
    sections, subjects = [], []
    if kind == "blocked":
        subjects.append(_blocked_subject(outcome))
        sections.append(("Die Aktualisierung wurde blockiert; der bisher veröffentlichte Stand bleibt gültig.",
                         outcome.lines))
    elif kind == "failed":
        subjects.append(_short(outcome.summary))
        sections.append(("Die Aktualisierung ist fehlgeschlagen; der bisher veröffentlichte Stand bleibt gültig.",
                         outcome.lines))
    elif kind == "ok" and state["last_outcome"] in ("blocked", "failed"):
        was = "blockiert" if state["last_outcome"] == "blocked" else "fehlgeschlagen"
        subjects.append("WIEDER IN ORDNUNG: neuer Stand veröffentlicht")
        sections.append((f"Die vorige Aktualisierung war {was}; diese hat wieder veröffentlicht. Nichts zu tun.",
                         outcome.lines))
    if kind is not None:
        state["last_outcome"] = kind

    if statuses is not None:
        now_overdue = overdue(statuses)
        told = set(state["told_overdue"])
        new = [o for o in now_overdue if o.key not in told]
        got = {f"{st.file_type}:{p}" for st in statuses for p in st.arrived}
        arrived = sorted((told - {o.key for o in now_overdue}) & got)  # not: IMON_TODAY moved back
        if new:
            subjects.append(f"ÜBERFÄLLIG: {new[0].file_name}" + (f" und {len(new) - 1} weitere" if len(new) > 1 else ""))
            sections.append((f"{len(new)} Lieferung(en) neu überfällig (Lieferkalender: docs/contract/sources.md):",
                             [f"- {o.line()}" for o in new] + [f"Was tun: {NEXT_STEP_OVERDUE}"]))
        if arrived:
            subjects.append(f"EINGETROFFEN: {len(arrived)} überfällige Lieferung(en)")
            sections.append(("Überfällige Lieferung(en) eingetroffen (geladen oder in Quarantäne):",
                             [f"- {k.replace(':', ', Zeitraum ')}" for k in arrived]))
        state["told_overdue"] = sorted(o.key for o in now_overdue)
    if not sections:
        return None
    lines = []
    for head, body in sections:
        lines += [head, "", *body, ""]
    lines += ["-- ", f"Integrationsmonitor, Aktualisierung auf {socket.gethostname()}, "
                     f"{datetime.now():%d.%m.%Y %H:%M}; Datenverzeichnis {settings.data_dir}",
              "Übersicht jederzeit: imon status"]
    subject = f"{PREFIX} {subjects[0]}" + (f" (+ {len(subjects) - 1} weitere Meldung(en))" if len(subjects) > 1 else "")
    return {"subject": subject, "text": "\n".join(lines), "created": datetime.now().isoformat(timespec="seconds")}


def merged(pending: list[dict]) -> tuple[str, str]:
    """One mail for everything still to be told: the newest message first, earlier ones below."""
    newest = pending[-1]
    if len(pending) == 1:
        return newest["subject"], newest["text"]
    text = [newest["text"], "", f"Frühere, bisher nicht zugestellte Meldung(en) ({len(pending) - 1}):"]
    for m in reversed(pending[:-1]):
        text += ["", f"=== {m['created']}: {m['subject']}", m["text"]]
    return f"{newest['subject']} (+ {len(pending) - 1} frühere)", "\n".join(text)


def send(settings: Settings, subject: str, text: str) -> None:
    """One mail through the relay; STARTTLS when it offers it, login when a user is set."""
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    host, _, port = settings.notify_smtp.rpartition(":") if ":" in settings.notify_smtp else (settings.notify_smtp, "", "25")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.notify_from
    msg["To"] = ", ".join(settings.notify_to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="integrationsmonitor")
    msg.set_content(text)
    with smtplib.SMTP(host, int(port or 25), timeout=30) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.notify_smtp_user:
            smtp.login(settings.notify_smtp_user, settings.notify_smtp_password or "")
        smtp.send_message(msg)


def after_refresh(outcome, settings: Settings, log=print) -> None:
    """Tell the data team what this refresh needs them to know. Never raises."""
    if not settings.notify_enabled:
        return
    try:
        with _state_lock(settings):
            _after_refresh(outcome, settings, log)
    except Exception as e:  # a notification must never change the refresh's outcome
        log(f"Hinweis: Benachrichtigung fehlgeschlagen ({type(e).__name__}: {e}).")


def _after_refresh(outcome, settings: Settings, log) -> None:
    from orchestration.deliveries import delivery_status

    state = load_state(settings)
    if outcome.run_id and outcome.run_id in state["told_runs"]:
        return  # told before: e.g. the sensor again after a daemon restart that lost its cursor
    try:
        statuses = delivery_status(settings)
    except Exception as e:  # e.g. the warehouse held by another refresh: overdue is told next time
        log(f"Hinweis: Lieferkalender nicht geprüft ({type(e).__name__}).")
        statuses = None
    message = compose(outcome, state, statuses, settings)
    if message:
        state["pending"].append(message)
    if outcome.run_id:
        state["told_runs"] = [*state["told_runs"], outcome.run_id][-TOLD_RUNS_KEPT:]
    if not state["pending"]:
        _save(settings, state, log)
        return
    _save(settings, state, log)  # before sending: a kill while sending loses nothing
    subject, text = merged(state["pending"])
    try:
        send(settings, subject, text)
    except (OSError, Exception) as e:  # smtplib.SMTPException, refused, timeout, TLS
        state["last_error"] = f"{datetime.now():%d.%m.%Y %H:%M}: {type(e).__name__}: {e}"
        _save(settings, state, log)
        log(f"Hinweis: Benachrichtigung an {', '.join(settings.notify_to)} nicht gesendet ({settings.notify_smtp}: "
            f"{type(e).__name__}: {e}); sie wird mit der nächsten Aktualisierung erneut gesendet.")
        return
    state["pending"], state["last_error"] = [], None
    _save(settings, state, log)
    log(f"Benachrichtigung gesendet an {', '.join(settings.notify_to)}: {subject}")


@contextmanager
def _state_lock(settings: Settings):
    """One writer of state/notify.json at a time: `imon refresh` and a sensor tick of the daemon
    may finish together; each reads, changes and writes the whole state."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.state_dir / "notify.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for one mail at most (smtplib's timeout: 30 s)
        yield
    finally:
        os.close(fd)  # releases the flock


def _save(settings: Settings, state: dict, log) -> None:
    try:
        save_state(settings, state)
    except OSError as e:  # e.g. the disk is full: the mail still goes out, the state is kept in memory only
        log(f"Hinweis: Stand der Benachrichtigungen nicht gespeichert ({e}).")


def status_lines(settings: Settings) -> list[str]:
    """For `imon status`: unsent mails and whether notifications are on."""
    if not settings.notify_enabled:
        return ["Benachrichtigungen: aus (IMON_NOTIFY_SMTP, IMON_NOTIFY_FROM, IMON_NOTIFY_TO setzen, "
                "siehe docs/notifications.md)"]
    state = load_state(settings)
    lines = [f"Benachrichtigungen: an {', '.join(settings.notify_to)} über {settings.notify_smtp}"]
    if state["pending"]:
        lines.append(f"  ACHTUNG: {len(state['pending'])} Nachricht(en) nicht zugestellt (zuletzt {state['last_error']}); "
                     "die nächste Aktualisierung sendet sie erneut.")
    return lines
