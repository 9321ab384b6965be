"""The GX pass over one chunk: the typed rows of files of one type as one pandas frame, validated
against the type's suite; the result as plain data (what validate.py turns into findings).

GX is imported lazily (in _GX): importing it costs seconds and the no-op refresh path must not
pay that. `run_suite` runs in whichever process holds the GX context: the validation worker
(worker.py) or, without one, the caller's. Its arguments and result are plain data so that
they cross the process boundary unchanged.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from orchestration.gate.suites import _year_helper_offset, suite_path

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from sources.contracts import Contract


@dataclass
class ExpectationRun:
    """One expectation's outcome over a chunk, as validate.py needs it."""

    type: str
    kwargs: dict
    meta: dict
    severity: str  # "error" | "warning"
    element_count: int
    unexpected: np.ndarray  # row indices into the chunk (int64, GX's order)


@dataclass
class SuiteRun:
    success: bool
    expectations: list[ExpectationRun]


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


def _gx() -> _GX:
    global _gx_instance
    if _gx_instance is None:
        _gx_instance = _GX()
    return _gx_instance


@lru_cache(maxsize=None)
def _suite_spec(file_type: str) -> dict:
    return json.loads(suite_path(file_type).read_text(encoding="utf-8"))


def run_suite(contract: Contract, parts: list[tuple[str, pa.Table]]) -> SuiteRun:
    """The suite of `contract`'s file type over the chunk's files, given as (period, typed rows
    without `_line`) in chunk order; row indices count across the files in that order."""
    import numpy as np

    frame = _frame(contract, parts)
    result = _gx().validate(contract.file_type, frame)
    runs = []
    for r in result.results:
        cfg = r.expectation_config
        if r.exception_info and r.exception_info.get("raised_exception"):
            # A broken expectation must not look like a passed check.
            raise RuntimeError(f"GX-Prüfung {cfg.type} {cfg.kwargs} ist abgebrochen: "
                               f"{r.exception_info.get('exception_message')}")
        runs.append(ExpectationRun(
            type=cfg.type, kwargs=dict(cfg.kwargs), meta=dict(cfg.meta or {}),
            severity="warning" if str(cfg.severity).lower().endswith("warning") else "error",
            element_count=int(r.result.get("element_count") or len(frame)),
            unexpected=np.asarray(r.result.get("unexpected_index_list") or [], dtype=np.int64)))
    return SuiteRun(bool(result.success), runs)


# --------------------------------------------------------------------------- periods and frames


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


def _frame(contract: Contract, parts: list[tuple[str, pa.Table]]):
    """Concatenated typed rows of a chunk + `_file` and `_period_*` helper columns, as pandas.
    Empties `parts` once concatenated: in the worker it holds the only other copy of the rows."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    # Columns compared with another column stay plain text: pandas compares two categoricals
    # only when their categories are identical.
    paired = {kw[k] for e in _suite_spec(contract.file_type)["expectations"]
              for kw in [e["kwargs"]] for k in ("column_A", "column_B") if k in kw}
    periods, counts = [period for period, _ in parts], [t.num_rows for _, t in parts]
    bounds = [_period_bounds(contract, period) for period in periods]
    table = pa.concat_tables([t for _, t in parts]).combine_chunks()
    parts.clear()
    # Row -> its file's index; each per-file helper value is taken from a list by it.
    file_of_row = pa.array(np.repeat(np.arange(len(periods), dtype=np.int32), counts))
    helpers = {
        "_file": file_of_row,
        "_period_text": pa.array([b[3] for b in bounds]).take(file_of_row),
        "_period_start": pa.array([b[0] for b in bounds], pa.date32()).take(file_of_row),
        "_period_end": pa.array([b[1] for b in bounds], pa.date32()).take(file_of_row),
        "_period_year": pa.array([float(b[2]) for b in bounds], pa.float64()).take(file_of_row),
    }
    if contract.period_date is not None:
        helpers["_period_date"] = pa.array([_period_date(contract, period) for period in periods],
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
