"""Validation: check_files runs the GX suites, the plain row rules and the cross-file rules.

Many files of one type are validated in ONE GX pass (gx.py): frames are concatenated with a
`_file` index plus per-file `_period_*` helper columns (so period and "year of birth <=
reporting year" rules stay plain column comparisons), and the unexpected row indices are split
back per file here. The pass runs in the GX validation worker when `imon refresh` started one
(worker.py), else in this process; the findings and the data-docs summaries are made here
either way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.findings import MAX_SAMPLES, Finding
from orchestration.gate.cross_file import _cross_file_rules
from orchestration.gate.gx import _period_bounds, _period_date, run_suite
from orchestration.gate.row_rules import _plain_row_rules
from orchestration.gate.rules import RULE_ORDER, FileStats, _de, _pseudonym_columns, mask_ids
from orchestration.gate.suites import year_helper
from orchestration.gate.worker import run_in_worker

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile


CHUNK_ROWS = 1_000_000  # rows per GX pass at most (an ingest batch of 48 MB is ~700k rows: one pass)


def check_files(parsed: list[ParsedFile], history: dict[str, list[FileStats]],
                accepted: set[tuple[str, str]], today: dt.date) -> dict[Path, list[Finding]]:
    """Findings of the gate for every file (one GX pass per file type and chunk).

    Parse findings (parsed[i].findings: R1.*, R2.format, R2.missing_column, W.unknown_column)
    are NOT repeated here; a file passes iff neither list holds an 'error'.
    """
    out: dict[Path, list[Finding]] = {p.path: [] for p in parsed}
    by_type: dict[str, list[ParsedFile]] = {}
    for p in parsed:
        by_type.setdefault(p.contract.file_type, []).append(p)
    for file_type, files in by_type.items():
        readable = [p for p in files if p.table is not None]
        for chunk in _chunks(readable):
            for p, fs in zip(chunk, _validate_chunk(file_type, chunk)):
                out[p.path].extend(fs)
        for p in readable:
            out[p.path].extend(_plain_row_rules(p, today))
        _cross_file_rules(files, history.get(file_type, []), accepted, out)
    for fs in out.values():
        fs.sort(key=lambda f: (f.severity != "error", RULE_ORDER.get(f.rule, 99), f.column or ""))
    return out


def _chunks(files: list[ParsedFile]):
    chunk, rows = [], 0
    for p in files:
        if chunk and rows + p.row_count > CHUNK_ROWS:
            yield chunk
            chunk, rows = [], 0
        chunk.append(p)
        rows += p.row_count
    if chunk:
        yield chunk


# --------------------------------------------------------------------------- GX runs for the data docs


_last_runs: list[dict] = []  # summaries of the GX validations not yet taken for the data docs
_KEEP_RUNS = 500  # bound for a process that validates without ever rendering data docs


def take_validation_runs(file_types: set[str] | None = None) -> list[dict]:
    """The summaries of GX validations since the last take (of these file types), for the
    data docs (orchestration/data_docs.py); they are removed from the buffer."""
    taken = [r for r in _last_runs if file_types is None or r["file_type"] in file_types]
    _last_runs[:] = [r for r in _last_runs if not (file_types is None or r["file_type"] in file_types)]
    return taken


# --------------------------------------------------------------------------- frames and findings


def _template_args(p: ParsedFile) -> dict[str, str]:
    start, end, year, text = _period_bounds(p.contract, p.period)
    args = {"period": p.period, "period_text": text, "period_start": _de(start), "period_end": _de(end),
            "period_year": str(year)}
    if (day := _period_date(p.contract, p.period)) is not None:
        args["period_date"] = _de(day)
    for col in p.contract.columns:
        for off in (col.min_from_period, col.max_from_period):
            if off is not None:
                args[year_helper(off)[1:]] = str(year + off)
    return args


def _columns_of(kwargs: dict) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    cols += kwargs.get("column_list", [])
    return [c for c in cols if not c.startswith("_")]


def _validate_chunk(file_type: str, chunk: list[ParsedFile]) -> list[list[Finding]]:
    import numpy as np
    import pyarrow.compute as pc

    # The rows without `_line` (zero-copy), to the worker when one runs (worker.py), else here.
    parts = [(p.period, p.table.drop_columns(["_line"])) for p in chunk]
    result = run_in_worker(chunk[0].contract, parts) or run_suite(chunk[0].contract, parts)
    offsets = np.cumsum([0] + [p.row_count for p in chunk])
    missing = {i: {f.column for f in p.findings if f.rule == "R2.missing_column"} for i, p in enumerate(chunk)}
    findings: list[list[Finding]] = [[] for _ in chunk]
    run = {"file_type": file_type, "files": [p.path.name for p in chunk], "rows": int(offsets[-1]),
           "success": result.success, "expectations": []}
    for r in result.expectations:
        meta = r.meta
        rule, column = meta["rule"], meta.get("column")
        severity = r.severity
        kwargs = dict(r.kwargs)
        cols = _columns_of(kwargs)
        idx = r.unexpected
        idx.sort()
        file_of = np.searchsorted(offsets, idx, side="right") - 1
        reported = 0
        samples: list[str] = []
        per_file: dict[str, int] = {}
        for fi in np.unique(file_of):
            p = chunk[int(fi)]
            local = idx[file_of == fi] - offsets[fi]
            if rule == "R2.null":
                if column in missing[int(fi)]:
                    continue  # already reported as R2.missing_column
                # A value that failed typing is NULL here but was reported as R2.format.
                raw_null = pc.is_null(p.raw_text.column(column)).to_numpy(zero_copy_only=False)
                local = local[raw_null[local]]
                if not len(local):
                    continue
            first = local[:MAX_SAMPLES]
            lines = p.table.column("_line").take(first).to_pylist()
            values = _values(p, cols, first, single=len(cols) == 1)
            findings[int(fi)].append(Finding(rule, severity, meta["message"].format(**_template_args(p)),
                                       column, int(len(local)), lines, values))
            reported += int(len(local))
            per_file[p.path.name] = int(len(local))
            samples.extend(values[: MAX_SAMPLES - len(samples)])
        if "value_set" in kwargs and len(kwargs["value_set"]) > 12:
            kwargs["value_set"] = kwargs["value_set"][:12] + [f"… ({len(kwargs['value_set'])} Werte)"]
        run["expectations"].append({
            "type": r.type, "kwargs": kwargs, "rule": rule, "severity": severity, "column": column,
            "message": meta["message"], "success": reported == 0,
            "element_count": r.element_count,
            "unexpected_count": reported, "unexpected_per_file": per_file, "samples": samples})
    _last_runs.append(run)
    del _last_runs[:-_KEEP_RUNS]
    return findings


def _values(p: ParsedFile, cols: list[str], rows, single: bool) -> list[str]:
    raw = {c: p.raw_text.column(c).take(rows).to_pylist() for c in cols}
    raw.update({c: mask_ids(raw[c]) for c in _pseudonym_columns(p.contract) & set(cols)})
    if single:
        return ["" if v is None else v for v in raw[cols[0]]]
    return ["; ".join(f"{c}={'' if raw[c][i] is None else raw[c][i]}" for c in cols) for i in range(len(rows))]
