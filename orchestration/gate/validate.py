"""Validation: check_files runs the GX suites, the plain row rules and the cross-file rules.

GX is imported lazily (in _GX): importing it costs seconds and the no-op refresh path must not
pay that. Many files of one type are validated in ONE GX pass: frames are concatenated with a
`_file` index plus per-file `_period_*` helper columns (so period and "year of birth <=
reporting year" rules stay plain column comparisons), and the unexpected row indices are split
back per file.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.findings import MAX_SAMPLES, Finding
from orchestration.gate.cross_file import _cross_file_rules
from orchestration.gate.row_rules import _plain_row_rules
from orchestration.gate.rules import RULE_ORDER, FileStats, _de, _pseudonym_columns, mask_ids
from orchestration.gate.suites import _year_helper_offset, suite_path, year_helper

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile
    from sources.contracts import Contract


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


# --------------------------------------------------------------------------- GX


class _GX:
    """One ephemeral GX context per process; suites and batch definitions created once."""

    def __init__(self):
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._suite_cls = ExpectationSuite
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("extracts")
        self._batch_defs: dict = {}
        self._suites: dict = {}

    def suite(self, file_type: str):
        if file_type not in self._suites:
            spec = copy.deepcopy(_suite_spec(file_type))
            suite = self._suite_cls(**spec)
            # GX only logs (and drops) an expectation it cannot build: a gap in the gate.
            if len(suite.expectations) != len(spec["expectations"]):
                raise RuntimeError(f"{suite_path(file_type)}: nicht jede Erwartung ist gültig")
            self._suites[file_type] = self.context.suites.add(suite)
        return self._suites[file_type]

    def validate(self, file_type: str, frame):
        if file_type not in self._batch_defs:
            asset = self.source.add_dataframe_asset(file_type)
            self._batch_defs[file_type] = asset.add_batch_definition_whole_dataframe(file_type)
        batch = self._batch_defs[file_type].get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(self.suite(file_type), result_format="COMPLETE")


_gx_instance: _GX | None = None
_last_runs: list[dict] = []  # summaries of the GX validations not yet taken for the data docs
_KEEP_RUNS = 500  # bound for a process that validates without ever rendering data docs


def take_validation_runs(file_types: set[str] | None = None) -> list[dict]:
    """The summaries of GX validations since the last take (of these file types), for the
    data docs (orchestration/data_docs.py); they are removed from the buffer."""
    taken = [r for r in _last_runs if file_types is None or r["file_type"] in file_types]
    _last_runs[:] = [r for r in _last_runs if not (file_types is None or r["file_type"] in file_types)]
    return taken


def _gx() -> _GX:
    global _gx_instance
    if _gx_instance is None:
        _gx_instance = _GX()
    return _gx_instance


@lru_cache(maxsize=None)
def _suite_spec(file_type: str) -> dict:
    return json.loads(suite_path(file_type).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- frames and findings


def _period_date(contract: Contract, period: str) -> dt.date | None:
    """The day the content must name for period_of year_date (kita: 01.03.YYYY)."""
    if contract.period_date is None:
        return None
    day, month = (int(x) for x in contract.period_date.strip(".").split("."))
    return dt.date(int(period[:4]), month, day)


def _period_bounds(contract: Contract, period: str) -> tuple[dt.date, dt.date, int, str]:
    """(first day, last day, year, period as the content writes it) of a file name's period."""
    year = int(period[:4])
    if contract.period_kind == "month":
        month = int(period[5:7])
        return (dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1]),
                year, period)
    if contract.period_kind == "school_year":
        return dt.date(year, 8, 1), dt.date(year + 1, 7, 31), year, f"{year}/{(year + 1) % 100:02d}"
    return dt.date(year, 1, 1), dt.date(year, 12, 31), year, period


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


def _frame(chunk: list[ParsedFile]):
    """Concatenated typed rows of a chunk + `_file` and `_period_*` helper columns, as pandas."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    # Columns compared with another column stay plain text: pandas compares two categoricals
    # only when their categories are identical.
    paired = {kw[k] for e in _suite_spec(chunk[0].contract.file_type)["expectations"]
              for kw in [e["kwargs"]] for k in ("column_A", "column_B") if k in kw}
    bounds = [_period_bounds(p.contract, p.period) for p in chunk]
    table = pa.concat_tables([p.table.drop_columns(["_line"]) for p in chunk]).combine_chunks()
    # Row -> its file's index; each per-file helper value is taken from a list by it.
    file_of_row = pa.array(np.repeat(np.arange(len(chunk), dtype=np.int32), [p.row_count for p in chunk]))
    helpers = {
        "_file": file_of_row,
        "_period_text": pa.array([b[3] for b in bounds]).take(file_of_row),
        "_period_start": pa.array([b[0] for b in bounds], pa.date32()).take(file_of_row),
        "_period_end": pa.array([b[1] for b in bounds], pa.date32()).take(file_of_row),
        "_period_year": pa.array([float(b[2]) for b in bounds], pa.float64()).take(file_of_row),
    }
    contract = chunk[0].contract
    if contract.period_date is not None:
        helpers["_period_date"] = pa.array([_period_date(contract, p.period) for p in chunk],
                                           pa.date32()).take(file_of_row)
    for name in sorted(c for c in paired if c.startswith("_period_year_")):
        off = _year_helper_offset(name)
        helpers[name] = pa.array([float(b[2] + off) for b in bounds], pa.float64()).take(file_of_row)
    cols, names = [], []
    for f, col in zip(table.schema, table.columns):
        # Integers as float64 (NaN = NULL): GX's "between" is vectorised only for numpy int64/float64
        # and falls back to a per-row Python function for pandas' nullable Int32. Text as
        # pandas categoricals: set membership, uniqueness and row filters then work on integer
        # codes instead of Arrow strings (measured: the whole GX pass about 2x faster).
        if f.type == pa.int32():
            col = pc.cast(col, pa.float64())
        elif f.type == pa.string() and f.name not in paired:
            col = pc.dictionary_encode(col)
        cols.append(col)
        names.append(f.name)
    for name, arr in helpers.items():
        cols.append(arr)
        names.append(name)
    return pa.table(cols, names=names).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get,
                                                 date_as_object=False)


def _columns_of(kwargs: dict) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    cols += kwargs.get("column_list", [])
    return [c for c in cols if not c.startswith("_")]


def _validate_chunk(file_type: str, chunk: list[ParsedFile]) -> list[list[Finding]]:
    import numpy as np
    import pyarrow.compute as pc

    frame = _frame(chunk)
    offsets = np.cumsum([0] + [p.row_count for p in chunk])
    result = _gx().validate(file_type, frame)
    missing = {i: {f.column for f in p.findings if f.rule == "R2.missing_column"} for i, p in enumerate(chunk)}
    findings: list[list[Finding]] = [[] for _ in chunk]
    run = {"file_type": file_type, "files": [p.path.name for p in chunk], "rows": int(offsets[-1]),
           "success": bool(result.success), "expectations": []}
    for r in result.results:
        cfg = r.expectation_config
        if r.exception_info and r.exception_info.get("raised_exception"):
            # A broken expectation must not look like a passed check.
            raise RuntimeError(f"GX-Prüfung {cfg.type} {cfg.kwargs} ist abgebrochen: "
                               f"{r.exception_info.get('exception_message')}")
        meta = cfg.meta or {}
        rule, column = meta["rule"], meta.get("column")
        severity = "warning" if str(cfg.severity).lower().endswith("warning") else "error"
        kwargs = dict(cfg.kwargs)
        cols = _columns_of(kwargs)
        idx = np.asarray(r.result.get("unexpected_index_list") or [], dtype=np.int64)
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
            "type": cfg.type, "kwargs": kwargs, "rule": rule, "severity": severity, "column": column,
            "message": meta["message"], "success": reported == 0,
            "element_count": int(r.result.get("element_count") or len(frame)),
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
