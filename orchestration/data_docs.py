"""The data-quality docs (`$IMON_DATA_DIR/reports/data-docs/`): what the gate found, run by run.

Every refresh that gated a file (passed or blocked) gets a page of its own
(`runs/<run id>.html`: per file type the files with their outcome and report, and every
Great Expectations expectation with its result); `index.html` lists the runs newest first
and is what a browser opens. The last HISTORY runs are kept. The record behind a page is
JSON beside it (`runs/<run id>/<file type>.json`), written by each ingest step, so steps in
separate processes add to one page.

GX's own Data Docs load Bootstrap/jQuery/Vega from public CDNs and render unstyled on the
district's offline machines; these pages are self-contained (Jinja2 templates in
`report_assets/`, autoescaped, no external reference). Samples of person-id columns arrive
masked from the gate (`gate.mask_ids`): no person id in any page.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

from orchestration.files import write_atomic

ASSETS = Path(__file__).resolve().parent / "report_assets"
HISTORY = 100  # runs kept
RUNS = "runs"
DELIVERIES = "lieferungen.html"  # the delivery calendar page (render_deliveries)

# The messages of period rules name the file's period ("erwartet {period_end}"); a validation
# covers many files at once, so the page says where the expected value comes from.
_PERIOD_WORDS = {
    "period": "Zeitraum des Dateinamens",
    "period_text": "Zeitraum des Dateinamens",
    "period_start": "erster Tag des Zeitraums im Dateinamen",
    "period_end": "letzter Tag des Zeitraums im Dateinamen",
    "period_year": "Jahr des Dateinamens",
}


class _Words(dict):
    def __missing__(self, key):
        return _PERIOD_WORDS.get(key, key)


def fill(message: str) -> str:
    """A rule message with its period placeholders in words (never a raw `{period_text}`)."""
    try:
        return message.format_map(_Words())
    except (ValueError, IndexError):
        return message


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)  # a browser (or a parallel step) never sees half a page


def record_run(docs_dir: Path, run_id: str, file_type: str, validations: list[dict], outcome,
               quarantine_dir: Path | None = None) -> Path:
    """Record what the gate did for one file type in refresh `run_id`, then render the pages.

    validations: gate.take_validation_runs() of this file type; outcome: the ingest outcome
    (`loaded`, `unchanged`, `quarantined` with report paths, `warnings`)."""
    docs_dir = Path(docs_dir)
    run_dir = docs_dir / RUNS / run_id
    files = [{"name": n, "status": "angenommen", "rules": [], "report": None} for n in outcome.loaded]
    files += [{"name": n, "status": "unverändert", "rules": [], "report": None} for n in outcome.unchanged]
    files += [{"name": q.file_name, "status": "abgelehnt", "rules": list(q.rules),
               "report": os.path.relpath(q.report_txt, docs_dir / RUNS)} for q in outcome.quarantined]
    _write(run_dir / f"{file_type}.json", json.dumps({
        "run_id": run_id,
        "file_type": file_type,
        "recorded_at": datetime.now().isoformat(),
        "files": files,
        "warnings": list(outcome.warnings)[:50],
        "validations": validations,
    }, ensure_ascii=False, default=str))
    return render(docs_dir)


def _load_runs(docs_dir: Path) -> list[dict]:
    runs = []
    for run_dir in (docs_dir / RUNS).iterdir() if (docs_dir / RUNS).is_dir() else []:
        if not run_dir.is_dir():
            continue
        parts = []
        for f in sorted(run_dir.glob("*.json")):
            try:
                parts.append(json.loads(f.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # being written by a parallel step: its own render includes it
        if parts:
            runs.append(_summarise(run_dir.name, parts))
    runs.sort(key=lambda r: (r["started"], r["run_id"]), reverse=True)
    return runs


def _summarise(run_id: str, parts: list[dict]) -> dict:
    for part in parts:
        for v in part["validations"]:
            for x in v["expectations"]:
                x["message"] = fill(x["message"])
                x["kwargs_text"] = json.dumps(x["kwargs"], ensure_ascii=False, default=str)
                x["outcome"] = "ok" if x["success"] else ("warn" if x["severity"] == "warning" else "bad")
        rejected = [f for f in part["files"] if f["status"] == "abgelehnt"]
        failed = any(not x["success"] and x["severity"] != "warning"
                     for v in part["validations"] for x in v["expectations"])
        part["outcome"] = "bad" if rejected or failed else ("warn" if part["warnings"] else "ok")
    outcome = "bad" if any(p["outcome"] == "bad" for p in parts) else (
        "warn" if any(p["outcome"] == "warn" for p in parts) else "ok")
    files = [f for p in parts for f in p["files"]]
    return {
        "run_id": run_id,
        "started": min(p["recorded_at"] for p in parts),
        "outcome": outcome,
        "parts": sorted(parts, key=lambda p: p["file_type"]),
        "n_files": len(files),
        "n_rejected": sum(f["status"] == "abgelehnt" for f in files),
        "file_types": sorted(p["file_type"] for p in parts),
    }


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             bytecode_cache=jinja2.FileSystemBytecodeCache())  # as report.py
    env.filters["de_time"] = lambda iso: datetime.fromisoformat(iso).strftime("%d.%m.%Y %H:%M:%S")
    return env


def render(docs_dir: Path) -> Path:
    """Run pages and the index from the recorded runs; drops runs beyond HISTORY and anything
    else in the folder (e.g. the per-type pages of earlier versions, which held raw ids)."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    runs = _load_runs(docs_dir)
    for old in runs[HISTORY:]:
        shutil.rmtree(docs_dir / RUNS / old["run_id"], ignore_errors=True)
        (docs_dir / RUNS / f"{old['run_id']}.html").unlink(missing_ok=True)
    runs = runs[:HISTORY]
    for entry in docs_dir.iterdir():
        if entry.name in (RUNS, "index.html", DELIVERIES) or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    env = _env()
    now = datetime.now().isoformat(timespec="seconds")
    page = env.get_template("data_docs_run.html")
    for run in runs:
        html, records = docs_dir / RUNS / f"{run['run_id']}.html", docs_dir / RUNS / run["run_id"]
        newest = max(f.stat().st_mtime for f in records.glob("*.json"))
        if not html.exists() or html.stat().st_mtime <= newest:  # pages of finished runs stay as they are
            _write(html, page.render(run=run, generated=now))
    index = docs_dir / "index.html"
    _write(index, env.get_template("data_docs_index.html").render(runs=runs, history=HISTORY, generated=now))
    return index


def render_deliveries(settings) -> Path:
    """`lieferungen.html`: per file type the last period received and when, the next due date,
    what is overdue and what arrived late (orchestration/deliveries.py, as of Settings.today).
    Written after every refresh; names of files and periods only."""
    from orchestration.deliveries import delivery_status, overdue, period_label

    statuses = delivery_status(settings)
    rows = []
    for s in statuses:
        rows.append({**s.__dict__,
                     "last_label": period_label(s.file_type, s.last_period) if s.last_period else None,
                     "next_label": period_label(s.file_type, s.next_period) if s.next_period else None})
    docs_dir = settings.reports_dir / "data-docs"
    path = docs_dir / DELIVERIES
    _write(path, _env().get_template("data_docs_deliveries.html").render(
        statuses=rows, today=settings.today, n_overdue=len(overdue(statuses)),
        generated=datetime.now().isoformat(timespec="seconds")))
    if not (docs_dir / "index.html").exists():
        render(docs_dir)  # the index links here
    return path
