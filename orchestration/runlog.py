"""What a refresh says while it runs: one progress line per stage on the console, everything else
(Dagster's events and traces, dbt's per-node lines) in the run log file.

Plain `logging` without Dagster imports; orchestration/defs/loggers.py wires it into the job.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

from orchestration.settings import Settings

# Step key prefix -> the stage an operator sees (in run order).
STAGES = (
    ("raw__", "Eingang/Prüfung: neue Dateien prüfen und laden"),
    ("monitoring_models", "dbt: Indikatoren berechnen und testen"),
    ("publish", "Veröffentlichung: Indikatorensatz, HTML-Bericht und Dokumentation"),
)
# Steps whose own log lines (German, from orchestration/ingest.py) are shown under their stage.
_SHOWN_STEP_MESSAGES = ("raw__",)


def run_log_path(settings: Settings, run_id: str) -> Path:
    """The full log of one run, beside Dagster's run history."""
    return settings.dagster_home / "logs" / f"refresh-{run_id}.log"


def _meta(record: logging.LogRecord) -> dict:
    return getattr(record, "dagster_meta", None) or {}


class ProgressHandler(logging.Handler):
    """Prints a stage line when the first step of a stage starts, and the ingest's own messages."""

    def __init__(self, stream=None, postgres: bool = False):
        super().__init__(logging.DEBUG)  # step starts are DEBUG events
        self.stream = stream or sys.stdout
        self.postgres = postgres
        self.t0 = time.monotonic()
        self.seen: set[str] = set()

    def _print(self, text: str) -> None:
        self.stream.write(f"[{time.monotonic() - self.t0:6.1f} s] {text}\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        meta = _meta(record)
        step = meta.get("step_key") or ""
        event = meta.get("dagster_event")
        if event is not None:
            if getattr(event, "event_type_value", None) != "STEP_START":
                return
            for prefix, text in STAGES:
                if step.startswith(prefix) and prefix not in self.seen:
                    self.seen.add(prefix)
                    self._print(text + (", PostgreSQL" if prefix == "publish" and self.postgres else ""))
            return
        if step.startswith(_SHOWN_STEP_MESSAGES) and record.levelno >= logging.INFO:
            msg = _short(meta.get("orig_message") or record.getMessage())
            self.stream.write(f"           {msg}\n")
            self.stream.flush()


_LOADED = re.compile(r"^geprüft und geladen: (\S+?)_[\d-]+\.\w+ .*")
_ROWS = re.compile(r"\((\d+) Zeilen\)")


def _short(msg: str) -> str:
    """The ingest's list of every loaded file, as one line per file type on the console."""
    m = _LOADED.match(msg)
    if m:
        rows = [int(r) for r in _ROWS.findall(msg)]
        return f"{m.group(1)}: {len(rows)} Datei(en) geprüft und geladen ({sum(rows):,} Zeilen)".replace(",", ".")
    return msg if len(msg) <= 200 else msg[:199] + "…"


def file_handler(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    h = logging.FileHandler(path, encoding="utf-8")
    h.setLevel(logging.DEBUG)
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return h
