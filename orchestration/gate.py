"""The data-quality gate: typed extract frames -> findings -> reports a person can act on.

Row rules that GX can evaluate vectorised live in one Great Expectations suite per file type
(expectations/<file_type>.json, generated from sources/contracts.yml + the reference lists by
`python -m orchestration.gate write-suites`, reviewed like code). Everything that needs more
than one row, more than one file or arithmetic across columns is plain code below. Rule ids
follow docs/contract/sources.md, "What the gate must at least catch" (R1..R8), plus X.* (own
errors) and W.* (warnings).

GX is imported lazily inside check_files: importing it costs seconds and the no-op refresh
path must not pay that. Many files of one type are validated in ONE GX pass: frames are
concatenated with a `_file` index plus per-file `_period_*` helper columns (so period and
"year of birth <= reporting year" rules stay plain column comparisons), and the unexpected
row indices are split back per file.
"""

from __future__ import annotations

import calendar
import copy
import csv
import datetime as dt
import json
import os
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.findings import MAX_SAMPLES, Finding  # noqa: F401 (re-exported: the gate's vocabulary)
from orchestration.settings import EXPECTATIONS_DIR, REFERENCE_DIR
from sources.contracts import Contract, load_contracts

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile

VOLUME_LIMIT = 0.30  # sources.md rule 8
SCHOOL_TRUNCATION = 0.50  # own rule: a school file below half of last year's rows is cut off
# Own rule: a stock file that lost this many of the previous period's municipalities at once is
# very likely cut off (an export sorted by municipality, stopped early, can lose a sixth of its
# rows: under rule 8's 30 %). One or a few gone is normal in small places: a warning only.
MUNICIPALITIES_GONE_MIN = 5
MUNICIPALITIES_GONE_SHARE = 0.10
# Stock files too sparse for the rule: a few thousand cases a year over 44 places (examined
# children, care assistance), so several small places with a case one year and none the next is
# normal: for them a municipality gone is always only a warning.
SPARSE_STOCK_TYPES = {"esu", "hilfe_zur_pflege"}
KITA_TRUNCATION = 0.50  # own rule: the same for the day-care file (plus municipalities gone)
CHUNK_ROWS = 1_000_000  # rows per GX pass at most (an ingest batch of 48 MB is ~700k rows: one pass)


@dataclass
class FileStats:
    """What the registry knows about an already loaded period of a file type."""
    period: str
    row_count: int
    ags: frozenset[str]


# rule id -> (rule number in sources.md or None, short German title, plain description)
RULES: dict[str, tuple[int | None, str, str]] = {
    "R1.encoding": (1, "Zeichenkodierung", "Die Datei enthält Bytes, die in der vereinbarten Zeichenkodierung nicht vorkommen dürfen."),
    "R1.format": (1, "Dateiformat", "Die Datei ist keine lesbare CSV-Datei (Semikolon-getrennt) bzw. keine XLSX-Arbeitsmappe."),
    "R1.sheet": (1, "Tabellenblatt fehlt", "Die Excel-Datei enthält das vereinbarte Tabellenblatt nicht."),
    "R2.missing_column": (2, "Pflichtspalte fehlt", "Eine vereinbarte Spalte fehlt in der Kopfzeile."),
    "R2.format": (2, "Falsches Format", "Ein Wert lässt sich nicht als der vereinbarte Typ lesen."),
    "R2.null": (2, "Leeres Pflichtfeld", "Ein Pflichtfeld ist leer."),
    "R2.range": (2, "Wert außerhalb des Bereichs", "Ein Wert liegt außerhalb des zulässigen Bereichs."),
    "R3.code": (3, "Unzulässiger Code", "Ein Code steht nicht in der Referenzliste bzw. nicht unter den vereinbarten Werten."),
    "R4.duplicate_key": (4, "Doppelter Schlüssel", "Ein Schlüssel kommt in der Datei mehrfach vor."),
    "R5.period": (5, "Zeitraum passt nicht", "Der Zeitraum im Inhalt passt nicht zum Zeitraum im Dateinamen."),
    "R6.cross_field": (6, "Widerspruch zwischen Feldern", "Felder einer Zeile widersprechen sich."),
    "R7.header_only": (7, "Nur Kopfzeile", "Die Datei enthält keine Datenzeilen, obwohl welche erwartet werden."),
    "R7.municipalities": (7, "Gemeinden unvollständig", "Die Umfrage muss jede der 44 Gemeinden genau einmal enthalten."),
    "R8.volume": (8, "Zeilenzahl springt", "Die Zeilenzahl weicht um mehr als 30 % vom vorigen Zeitraum ab."),
    "X.future_date": (None, "Datum in der Zukunft", "Ein Datum liegt nach dem Prüftag."),
    "X.municipality_missing": (None, "Viele Gemeinden fehlen", "Mindestens 5 Gemeinden (und mindestens 10 % der Gemeinden) des vorigen Zeitraums fehlen auf einmal; die Datei ist vermutlich abgeschnitten."),
    "X.kita_truncated": (None, "Kita-Datei unvollständig", "Die Kita-Datei hat weniger als die Hälfte der Zeilen des Vorjahres oder mehr als ein Viertel der Gemeinden fehlt; vermutlich abgeschnitten."),
    "X.school_truncated": (None, "Schuldatei unvollständig", "Die Schuldatei hat weniger als die Hälfte der Zeilen des Vorjahres; vermutlich abgeschnitten."),
    "W.over_occupancy": (None, "Überbelegung", "Mehr Bewohner als Plätze (erlaubt, nur Hinweis)."),
    "W.municipality_missing": (None, "Gemeinde ohne Zeilen", "Eine Gemeinde des vorigen Zeitraums hat diesmal keine Zeilen (erlaubt, nur Hinweis)."),
    "W.unknown_column": (None, "Unbekannte Spalte", "Eine nicht vereinbarte Spalte wird ignoriert."),
}

RULE_ORDER = {r: i for i, r in enumerate(RULES)}
# Rules about the whole file: their message carries the counts, "Anzahl" would only confuse.
FILE_LEVEL_RULES = {"R8.volume", "X.school_truncated", "X.kita_truncated"}
# Rules that block on a judgement, not on the contract: `imon accept` overrides them for the
# accepted file (its name and checksum), recorded with who and why (sources.md, rule 8 and below).
JUDGEMENT_RULES = {"R8.volume", "X.municipality_missing", "X.school_truncated", "X.kita_truncated"}

# Cross-field rules GX can state as column-pair expectations. The Belegt = sum(davon_) rule
# needs arithmetic across five columns and is plain code (_belegt_sum).
_PAIR_RULES: dict[str, list[dict]] = {
    "abh_bestand": [{
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "stichtag", "column_B": "einreisedatum", "or_equal": True},
        "meta": {"rule": "R6.cross_field", "column": "einreisedatum",
                 "message": "Einreisedatum liegt nach dem Stichtag"},
    }],
    "jobcenter": [{
        # elb >= arbeitslos on booleans fails exactly for arbeitslos = J with elb = N; vectorised,
        # unlike expect_column_pair_values_to_be_in_set (row-wise Python, ~1 s per 26k rows).
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "elb", "column_B": "arbeitslos", "or_equal": True},
        "meta": {"rule": "R6.cross_field", "column": "arbeitslos",
                 "message": "arbeitslos = J, obwohl elb = N (arbeitslos nur bei erwerbsfähigen Leistungsberechtigten)"},
    }],
    "esu": [{
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "untersuchungsdatum", "column_B": "_period_start", "or_equal": True},
        "meta": {"rule": "R6.cross_field", "column": "untersuchungsdatum",
                 "message": "Untersuchungsdatum liegt vor dem Untersuchungsjahr {period_text} ({period_start} bis {period_end})"},
    }, {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "_period_end", "column_B": "untersuchungsdatum", "or_equal": True},
        "meta": {"rule": "R6.cross_field", "column": "untersuchungsdatum",
                 "message": "Untersuchungsdatum liegt nach dem Untersuchungsjahr {period_text} ({period_start} bis {period_end})"},
    }],
    "unterbringung": [{
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "plaetze", "column_B": "belegt", "or_equal": True},
        "severity": "warning",
        "meta": {"rule": "W.over_occupancy", "column": "belegt",
                 "message": "Belegt ist größer als Plaetze (Überbelegung) – nur Hinweis"},
    }],
}


# --------------------------------------------------------------------------- reference lists


@lru_cache(maxsize=None)
def reference_values(reference: str) -> tuple[str, ...]:
    """Values of `<seed>.<column>` from dbt_project/seeds/<seed>.csv."""
    seed, column = reference.split(".")
    with open(REFERENCE_DIR / f"{seed}.csv", encoding="utf-8", newline="") as f:
        return tuple(row[column] for row in csv.DictReader(f))


@lru_cache(maxsize=1)
def municipality_names() -> dict[str, str]:
    with open(REFERENCE_DIR / "gemeinden.csv", encoding="utf-8", newline="") as f:
        return {row["ags"]: row["name"] for row in csv.DictReader(f)}


def allowed_values(contract: Contract, column: str) -> list[str] | None:
    col = contract.column(column)
    if col.type == "ags":
        values = reference_values("gemeinden.ags")
    elif col.values is not None:
        values = col.values
    elif col.reference:
        values = reference_values(col.reference)
    else:
        return None
    return [v for v in values if v not in col.exclude]


# --------------------------------------------------------------------------- suites


def build_suite(contract: Contract) -> dict:
    """The GX suite of a file type as a JSON-able dict (what expectations/<type>.json holds)."""
    exps: list[dict] = []

    def add(type_: str, kwargs: dict, rule: str, column: str | None, message: str, severity: str = "critical"):
        exps.append({"type": type_, "kwargs": kwargs, "severity": severity,
                     "meta": {"rule": rule, "column": column, "message": message}})

    either = {"ignore_row_if": "either_value_is_missing"}
    for col in contract.columns:
        if not col.nullable:
            add("expect_column_values_to_not_be_null", {"column": col.name}, "R2.null", col.name,
                "Pflichtfeld ist leer")
        values = allowed_values(contract, col.name)
        if values is not None:
            if col.type == "ags":
                msg = "Gemeindeschlüssel gehört zu keiner der 44 Gemeinden des Landkreises (gemeinden.csv)"
            elif col.reference and col.values is None:
                msg = f"Code nicht in der Referenzliste {col.reference.split('.')[0]}.csv"
                if col.exclude:
                    msg += f" oder ausgeschlossen ({', '.join(col.exclude)})"
            else:
                msg = f"Wert nicht zulässig (erlaubt: {', '.join(values)})"
            add("expect_column_values_to_be_in_set", {"column": col.name, "value_set": list(values)},
                "R3.code", col.name, msg)
        if col.type == "count":
            add("expect_column_values_to_be_between", {"column": col.name, "min_value": 0},
                "R2.range", col.name, "Anzahl ist negativ (erlaubt: 0 oder mehr)")
        if col.min is not None:
            add("expect_column_values_to_be_between", {"column": col.name, "min_value": col.min},
                "R2.range", col.name, f"Wert kleiner als {col.min}")
        if col.max is not None:
            add("expect_column_values_to_be_between", {"column": col.name, "max_value": col.max},
                "R2.range", col.name, f"Wert größer als {col.max}")
        # e.g. "erlaubt: {period_year_m7} bis {period_year_m2}", filled per file
        lo = "{" + year_helper(col.min_from_period)[1:] + "}" if col.min_from_period is not None else col.min
        hi = "{" + year_helper(col.max_from_period)[1:] + "}" if col.max_from_period is not None else col.max
        allowed = f"erlaubt: {lo if lo is not None else '…'} bis {hi if hi is not None else '…'} für den Zeitraum {{period}}"
        if col.min_from_period is not None:
            helper = year_helper(col.min_from_period)
            add("expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": col.name, "column_B": helper, "or_equal": True, **either},
                "R2.range", col.name, f"Wert liegt vor {{{helper[1:]}}} ({allowed})")
        if col.max_from_period is not None:
            helper = year_helper(col.max_from_period)
            msg = ("Wert liegt nach dem Berichtsjahr {period_year}" if col.max_from_period == 0
                   else f"Wert liegt nach {{{helper[1:]}}} ({allowed})")
            add("expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": helper, "column_B": col.name, "or_equal": True, **either},
                "R2.range", col.name, msg)

    # Rows with an empty key part are R2.null findings, not duplicates of each other.
    add("expect_compound_columns_to_be_unique",
        {"column_list": ["_file", *contract.key], "ignore_row_if": "any_value_is_missing"},
        "R4.duplicate_key", contract.key[0] if len(contract.key) == 1 else None,
        f"Schlüssel ({', '.join(contract.key)}) kommt mehrfach vor")

    pcol, kind = contract.period_column, contract.period_of
    if kind in ("month_text", "school_year_text"):
        add("expect_column_pair_values_to_be_equal", {"column_A": pcol, "column_B": "_period_text", **either},
            "R5.period", pcol, "Zeitraum passt nicht zum Dateinamen (erwartet {period_text})")
    elif kind in ("month_end_date", "year_end_date"):
        add("expect_column_pair_values_to_be_equal", {"column_A": pcol, "column_B": "_period_end", **either},
            "R5.period", pcol, "Stichtag passt nicht zum Dateinamen (erwartet {period_end})")
    elif kind == "year_date":
        add("expect_column_pair_values_to_be_equal", {"column_A": pcol, "column_B": "_period_date", **either},
            "R5.period", pcol, "Stichtag passt nicht zum Dateinamen (erwartet {period_date})")
    elif kind == "year_int":
        add("expect_column_pair_values_to_be_equal", {"column_A": pcol, "column_B": "_period_year", **either},
            "R5.period", pcol, "Jahr passt nicht zum Dateinamen (erwartet {period_year})")
    elif kind == "date_in_month":
        add("expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": pcol, "column_B": "_period_start", "or_equal": True, **either},
            "R5.period", pcol, "Datum liegt vor dem Monat im Dateinamen ({period_start} bis {period_end})")
        add("expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": "_period_end", "column_B": pcol, "or_equal": True, **either},
            "R5.period", pcol, "Datum liegt nach dem Monat im Dateinamen ({period_start} bis {period_end})")
    else:
        raise ValueError(f"unknown period_of {kind!r}")

    for extra in _PAIR_RULES.get(contract.file_type, []):
        e = json.loads(json.dumps(extra))
        e["kwargs"].update(either)
        e.setdefault("severity", "critical")
        exps.append(e)

    return {
        "name": contract.file_type,
        "expectations": exps,
        "meta": {
            "generated_from": "sources/contracts.yml + dbt_project/seeds/*.csv "
                              "(python -m orchestration.gate write-suites)",
            "helper_columns": {
                "_file": "index of the file in a batch (keys are unique per file)",
                "_period_text": "period of the file name as the content writes it (2024-01, 2024/25)",
                "_period_start": "first day of the file name's period",
                "_period_end": "last day of the file name's period",
                "_period_year": "year of the file name's period",
                "_period_year_m<N>": "year of the file name's period minus N (_p<N>: plus N)",
                "_period_date": "the contract's period_date (dd.mm.) in the file name's year",
            },
        },
    }


def suite_path(file_type: str) -> Path:
    return EXPECTATIONS_DIR / f"{file_type}.json"


def write_suites() -> list[Path]:
    EXPECTATIONS_DIR.mkdir(parents=True, exist_ok=True)
    out = []
    for c in load_contracts().values():
        p = suite_path(c.file_type)
        p.write_text(json.dumps(build_suite(c), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        out.append(p)
    return out


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


# --------------------------------------------------------------------------- check_files


def year_helper(offset: int) -> str:
    """Name of the helper column holding the period's year plus `offset` (`_period_year_m7`)."""
    return "_period_year" + ("" if offset == 0 else f"_m{-offset}" if offset < 0 else f"_p{offset}")


def _year_helper_offset(name: str) -> int:
    suffix = name[len("_period_year"):]
    return 0 if not suffix else (-1 if suffix[1] == "m" else 1) * int(suffix[2:])


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


def _num(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _de(d: dt.date) -> str:
    return d.strftime("%d.%m.%Y")


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


def file_stats(p: ParsedFile) -> FileStats:
    """Row count and municipalities of a parsed file, as the registry should keep them."""
    import pyarrow.compute as pc

    ags: frozenset[str] = frozenset()
    if p.table is not None and "ags" in p.table.column_names:
        ags = frozenset(a for a in pc.unique(p.table.column("ags")).to_pylist() if a is not None)
    return FileStats(p.period, p.row_count, ags)


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


@lru_cache(maxsize=None)
def _suite_spec(file_type: str) -> dict:
    return json.loads(suite_path(file_type).read_text(encoding="utf-8"))


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


def mask_ids(values: list) -> list:
    """Person ids never leave the internal layer (warehouse.md): a sample of a `pseudonym`
    column shows which lines share an id ("Kennung 1" twice), not the id."""
    alias: dict = {}
    return [v if v in (None, "") or str(v).endswith("(maskiert)")
            else f"Kennung {alias.setdefault(v, len(alias) + 1)} (maskiert)" for v in values]


def _pseudonym_columns(contract: Contract) -> set[str]:
    return {c.name for c in contract.columns if c.type == "pseudonym"}


def _values(p: ParsedFile, cols: list[str], rows, single: bool) -> list[str]:
    raw = {c: p.raw_text.column(c).take(rows).to_pylist() for c in cols}
    raw.update({c: mask_ids(raw[c]) for c in _pseudonym_columns(p.contract) & set(cols)})
    if single:
        return ["" if v is None else v for v in raw[cols[0]]]
    return ["; ".join(f"{c}={'' if raw[c][i] is None else raw[c][i]}" for c in cols) for i in range(len(rows))]


def _plain_row_rules(p: ParsedFile, today: dt.date) -> list[Finding]:
    """Row rules outside GX: future dates, Belegt = sum of davon_, header-only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: list[Finding] = []
    if p.row_count == 0:
        if not p.contract.may_be_empty:
            out.append(Finding("R7.header_only", "error",
                               "Die Datei enthält nur die Kopfzeile, aber keine Datenzeilen.", None, 0, [1], []))
        return out
    lines = p.table.column("_line")
    for col in p.contract.columns:
        if col.type != "date":
            continue
        bad = pc.indices_nonzero(pc.fill_null(pc.greater(p.table.column(col.name), pa.scalar(today, pa.date32())), False))
        if len(bad):
            first = bad[:MAX_SAMPLES]
            out.append(Finding("X.future_date", "error", f"Datum liegt in der Zukunft (nach dem Prüftag {_de(today)})",
                               col.name, len(bad), lines.take(first).to_pylist(),
                               p.raw_text.column(col.name).take(first).to_pylist()))
    if p.contract.file_type == "unterbringung":
        out.extend(_belegt_sum(p))
    for col, flag in _EMPTY_EXACTLY_WHEN_NO.get(p.contract.file_type, ()):
        out.extend(_empty_exactly_when_no(p, col, flag))
    if p.contract.every_municipality_once:
        out.extend(_every_municipality_once(p))
    return out


# Cross-field rules "<column> empty exactly when <flag> = N" (sources.md, esu): GX has no
# vectorised "null iff" expectation, and the emptiness must be that of the delivered text.
_EMPTY_EXACTLY_WHEN_NO: dict[str, tuple[tuple[str, str], ...]] = {
    "esu": (("u8", "vorsorgeheft"), ("masern_impfungen", "impfpass")),
}


def _empty_exactly_when_no(p: ParsedFile, column: str, flag: str) -> list[Finding]:
    import pyarrow.compute as pc

    filled = pc.is_valid(p.raw_text.column(column))
    flag_v = p.table.column(flag)  # NULL where empty or not J/N: reported as R2.null / R2.format
    lines = p.table.column("_line")
    out = []
    for bad, text in (
        (pc.and_(filled, pc.equal(flag_v, False)), f"{column} ist ausgefüllt, obwohl {flag} = N "
                                                   f"(leer genau dann, wenn {flag} = N)"),
        (pc.and_(pc.invert(filled), pc.equal(flag_v, True)), f"{column} ist leer, obwohl {flag} = J "
                                                             f"(leer genau dann, wenn {flag} = N)"),
    ):
        idx = pc.indices_nonzero(pc.fill_null(bad, False))
        if not len(idx):
            continue
        first = idx[:MAX_SAMPLES]
        raw_c = p.raw_text.column(column).take(first).to_pylist()
        raw_f = p.raw_text.column(flag).take(first).to_pylist()
        out.append(Finding("R6.cross_field", "error", text, column, len(idx), lines.take(first).to_pylist(),
                           [f"{flag}={f}; {column}={'' if c is None else c}" for f, c in zip(raw_f, raw_c)]))
    return out


def _every_municipality_once(p: ParsedFile) -> list[Finding]:
    """Rule 7 for the engagement survey: each of the 44 municipalities exactly once."""
    if any(f.rule == "R2.missing_column" and f.column == "ags" for f in p.findings):
        return []  # no municipality column: reported as such, not as 44 missing answers
    names = municipality_names()
    ags = p.table.column("ags").to_pylist()  # typed: NULL where not 8 digits (R2.format / R2.null)
    line_of = p.table.column("_line").to_pylist()
    seen: dict[str, list[int]] = {}
    for a, ln in zip(ags, line_of):
        if a is not None:
            seen.setdefault(a, []).append(ln)
    out = []
    missing = [a for a in names if a not in seen]
    if missing:
        out.append(Finding(
            "R7.municipalities", "error",
            f"{len(missing)} der 44 Gemeinden {'fehlt' if len(missing) == 1 else 'fehlen'} in der Umfrage: "
            + ", ".join(f"{a} {names[a]}" for a in missing[:MAX_SAMPLES]) + (" …" if len(missing) > MAX_SAMPLES else ""),
            "ags", len(missing), [], [f"{a} {names[a]}" for a in missing[:MAX_SAMPLES]]))
    repeated = [(a, lns) for a, lns in seen.items() if a in names and len(lns) > 1]
    if repeated:
        first_lines = sorted(ln for _, lns in repeated for ln in lns)[:MAX_SAMPLES]
        by_line = {ln: a for a, lns in repeated for ln in lns}
        out.append(Finding(
            "R7.municipalities", "error",
            f"{len(repeated)} Gemeinde(n) mehrfach in der Umfrage: "
            + ", ".join(f"{a} {names[a]} (Zeilen {', '.join(map(str, lns))})" for a, lns in repeated[:MAX_SAMPLES]),
            "ags", sum(len(lns) for _, lns in repeated), first_lines,
            [f"{by_line[ln]} {names[by_line[ln]]}" for ln in first_lines]))
    return out


def _belegt_sum(p: ParsedFile) -> list[Finding]:
    import pyarrow.compute as pc

    t = p.table
    parts = ["davon_gestattung", "davon_schutzstatus", "davon_duldung", "davon_sonstige"]
    total = t.column(parts[0])
    for c in parts[1:]:
        total = pc.add(total, t.column(c))
    bad = pc.indices_nonzero(pc.fill_null(pc.not_equal(t.column("belegt"), total), False))
    if not len(bad):
        return []
    first = bad[:MAX_SAMPLES]
    cols = ["belegt", *parts]
    raw = {c: p.raw_text.column(c).take(first).to_pylist() for c in cols}
    values = [f"belegt={raw['belegt'][i]}; Summe davon_={'+'.join(str(raw[c][i]) for c in parts)}"
              f"={total.take([int(first[i].as_py())])[0].as_py()}" for i in range(len(first))]
    return [Finding("R6.cross_field", "error",
                    "Belegt ist nicht die Summe der vier davon_-Spalten (Gestattung, Schutzstatus, Duldung, Sonstige)",
                    "belegt", len(bad), t.column("_line").take(first).to_pylist(), values)]


def _cross_file_rules(files: list[ParsedFile], history: list[FileStats], accepted: set[tuple[str, str]],
                      out: dict[Path, list[Finding]]) -> None:
    """R8 volume, X.municipality_missing, X.school_truncated, against the previous period.

    "Previous" is the latest earlier period among the loaded ones (history) and the files of
    this call that passed; files are taken in period order so a passing (or accepted) file is
    the previous period of the next one, and a rejected one (never loaded) cannot. The
    judgement rules (JUDGEMENT_RULES) are not raised for an accepted file.
    """
    known: dict[str, FileStats] = {s.period: s for s in history}
    names = municipality_names()
    for p in sorted(files, key=lambda p: (p.period, p.path.name)):
        if p.table is None:
            continue
        c = p.contract
        earlier = [s for per, s in known.items() if per < p.period]
        prev = max(earlier, key=lambda s: s.period) if earlier else None
        fs: list[Finding] = []
        cur = file_stats(p)
        if prev is not None and prev.row_count > 0 and p.row_count > 0:
            change = (p.row_count - prev.row_count) / prev.row_count
            # integer comparison: exactly 30 % must pass despite float rounding (13/10 - 1 > 0.3)
            too_big = abs(p.row_count - prev.row_count) * 100 > round(VOLUME_LIMIT * 100) * prev.row_count
            if c.stock and too_big:
                fs.append(Finding(
                    "R8.volume", "error",
                    f"Die Zeilenzahl ändert sich um {change * 100:+.0f} % gegenüber dem vorigen Zeitraum {prev.period} "
                    f"({_num(prev.row_count)} → {_num(p.row_count)} Zeilen); erlaubt sind ±30 %.",
                    None, abs(p.row_count - prev.row_count), [],
                    [f"{prev.period}: {prev.row_count}", f"{p.period}: {p.row_count}"]))
            # for school-year files rule 8 does not cover (a stock file such as esu has rule 8)
            if not c.stock and c.period_kind == "school_year" and p.row_count < SCHOOL_TRUNCATION * prev.row_count:
                fs.append(Finding(
                    "X.school_truncated", "error",
                    f"Nur {p.row_count / prev.row_count * 100:.0f} % der Zeilen des Vorjahres {prev.period} "
                    f"({prev.row_count} → {p.row_count} Zeilen); die Datei ist vermutlich abgeschnitten.",
                    None, prev.row_count - p.row_count, [],
                    [f"{prev.period}: {prev.row_count}", f"{p.period}: {p.row_count}"]))
        if c.file_type == "kita" and prev is not None and (p.path.name, p.sha256) not in accepted:
            fs.extend(_kita_truncated(p, prev, cur))
        # Stock files only: a flow file (naturalisations) lacks a municipality whenever nothing
        # happened there that month, which is no sign of a broken export.
        if c.stock and prev is not None and p.row_count > 0 and "ags" in c.column_names:
            gone = sorted(prev.ags - cur.ags)
            listed = [f"{a} {names.get(a, '')}".strip() for a in gone[:MAX_SAMPLES]]
            dense = c.file_type not in SPARSE_STOCK_TYPES
            if dense and len(gone) >= max(MUNICIPALITIES_GONE_MIN, MUNICIPALITIES_GONE_SHARE * len(prev.ags)):
                fs.append(Finding(
                    "X.municipality_missing", "error",
                    f"{len(gone)} von {len(prev.ags)} Gemeinden des vorigen Zeitraums {prev.period} fehlen auf einmal; "
                    "die Datei ist vermutlich abgeschnitten.",
                    "ags", len(gone), [], listed))
            elif gone:
                fs.append(Finding(
                    "W.municipality_missing", "warning",
                    f"{len(gone)} Gemeinde(n) des vorigen Zeitraums {prev.period} ohne Zeilen in diesem Zeitraum "
                    "(in kleinen Gemeinden möglich).",
                    "ags", len(gone), [], listed))
        if (p.path.name, p.sha256) in accepted:
            fs = [f for f in fs if f.rule not in JUDGEMENT_RULES]
        out[p.path].extend(fs)
        if not any(f.severity == "error" for f in p.findings + out[p.path]):
            known[p.period] = cur


def _kita_truncated(p: ParsedFile, prev: FileStats, cur: FileStats) -> list[Finding]:
    """Own rule for the aggregated day-care file (exempt from rule 8): block only what is very
    likely cut off: under half of last year's rows, or over a quarter of last year's
    municipalities gone (every municipality has day care; the file is sorted by nothing the
    contract fixes, so a cut shows in either). Year-to-year movement is far smaller."""
    if prev.row_count == 0 or p.row_count == 0:
        return []
    gone = sorted(prev.ags - cur.ags)
    if p.row_count >= KITA_TRUNCATION * prev.row_count and len(gone) * 4 <= len(prev.ags):
        return []
    names = municipality_names()
    return [Finding(
        "X.kita_truncated", "error",
        f"Nur {p.row_count / prev.row_count * 100:.0f} % der Zeilen des Vorjahres {prev.period} "
        f"({_num(prev.row_count)} → {_num(p.row_count)} Zeilen), {len(gone)} von {len(prev.ags)} Gemeinden "
        f"des Vorjahres {'fehlt' if len(gone) == 1 else 'fehlen'}; die Datei ist vermutlich abgeschnitten.",
        None, max(prev.row_count - p.row_count, len(gone)), [],
        [f"{prev.period}: {prev.row_count}", f"{p.period}: {p.row_count}"]
        + [f"{a} {names.get(a, '')}".strip() for a in gone[:MAX_SAMPLES - 2]])]


# --------------------------------------------------------------------------- reports


def rule_label(rule: str) -> str:
    number = RULES.get(rule, (None,))[0]
    if number is not None:
        return f"Regel {number} der Liefervereinbarung ({rule})"
    if rule.startswith("W."):
        return f"Hinweis ({rule})"
    return f"Zusatzprüfung ({rule})"


def next_step(rule: str, severity: str, p: ParsedFile) -> str:
    if severity == "warning":
        if rule == "W.over_occupancy":
            return "Blockiert die Lieferung nicht. Überbelegung fachlich prüfen."
        if rule == "W.municipality_missing":
            return "Blockiert die Lieferung nicht. Hat die Gemeinde wirklich keine Fälle, ist nichts zu tun."
        return "Blockiert die Lieferung nicht. Bei der nächsten Lieferung die Spalte weglassen oder Vereinbarung anpassen."
    if rule == "X.kita_truncated":
        return (f"Datei beim Lieferanten vollständig neu anfordern und erneut liefern. Ist sie doch vollständig "
                f"(z. B. Gemeinden zusammengelegt), nimmt eine berechtigte Person sie an mit: imon accept "
                f"{p.path.name} --reason \"<Begründung>\" (wird mit Name und Begründung protokolliert).")
    if rule in JUDGEMENT_RULES:
        return (f"Ist die Änderung echt (z. B. Zuzug, Umstellung beim Lieferanten), nimmt eine berechtigte Person "
                f"die Datei an mit: imon accept {p.path.name} --reason \"<Begründung>\" "
                f"(wird mit Name und Begründung protokolliert; danach erneut laden). "
                f"Sonst: Datei korrigieren und erneut liefern.")
    if rule == "R1.encoding":
        enc = {"cp1252": "Windows-1252 (ANSI)", "utf-8": "UTF-8", "utf-8-sig": "UTF-8"}.get(
            p.contract.encoding or "", p.contract.encoding or "")
        return f"Datei in der vereinbarten Kodierung {enc} speichern und erneut liefern (gleicher Dateiname)."
    return "Datei korrigieren und erneut liefern (gleicher Dateiname)."


def report_dict(p: ParsedFile, findings: list[Finding]) -> dict:
    errors = [f for f in findings if f.severity == "error"]
    return {
        "file": p.path.name,
        "path": str(p.path),
        "file_type": p.contract.file_type,
        "provider": p.contract.provider,
        "period": p.period,
        "sha256": p.sha256,
        "rows": p.row_count,
        "passed": not errors and p.table is not None,
        "errors": len(errors),
        "warnings": len(findings) - len(errors),
        "findings": [
            {**asdict(f), **({"values": mask_ids(f.values)} if f.column in _pseudonym_columns(p.contract) else {}),
             "rule_number": RULES.get(f.rule, (None,))[0], "rule_label": rule_label(f.rule),
             "title": RULES.get(f.rule, (None, f.rule))[1],
             "description": RULES.get(f.rule, (None, "", ""))[2], "next_step": next_step(f.rule, f.severity, p)}
            for f in findings
        ],
    }


def report_text(p: ParsedFile, findings: list[Finding]) -> str:
    d = report_dict(p, findings)
    verdict = ("ANGENOMMEN" if d["passed"] else "ABGELEHNT") + f" – {d['errors']} Fehler, {d['warnings']} Hinweise"
    lines = [
        "Prüfbericht Integrationsmonitor (Landkreis Esslingen)",
        "=" * 54,
        f"Datei:      {d['file']}",
        f"Dateityp:   {d['file_type']} (Lieferant: {d['provider']}), Zeitraum {d['period']}",
        f"Prüfsumme:  SHA-256 {d['sha256']}",
        f"Datenzeilen: {d['rows'] if p.table is not None else '– (Datei nicht lesbar)'}",
        f"Ergebnis:   {verdict}",
        "",
    ]
    if not findings:
        lines.append("Keine Beanstandungen.")
    for i, f in enumerate(d["findings"], 1):
        kind = "Fehler" if f["severity"] == "error" else "Hinweis"
        lines += [f"{i}. {kind}: {f['title']} – {f['rule_label']}",
                  f"   Prüfung:   {f['description']}",
                  f"   Befund:    {f['message']}"]
        if f["column"]:
            lines.append(f"   Spalte:    {f['column']}")
        if f["row_count"] and f["rule"] not in FILE_LEVEL_RULES:
            lines.append(f"   Anzahl:    {f['row_count']}")
        if f["lines"]:
            more = " …" if f["row_count"] > len(f["lines"]) else ""
            unit = "Zeilen (Kopfzeile = 1)" if p.contract.format == "csv" else "Blattzeilen (Kopfzeile = 1)"
            lines.append(f"   {unit}: {', '.join(map(str, f['lines']))}{more}")
        if f["values"]:
            if len(f["values"]) == len(f["lines"]) and f["lines"]:
                lines.append("   Werte:")
                lines += [f"     Zeile {ln}: " + (f"»{v}«" if v != "" else "(leer)")
                          for ln, v in zip(f["lines"], f["values"])]
            else:
                lines.append("   Werte:     " + "; ".join(f"»{v}«" for v in f["values"]))
        lines += [f"   Was tun:   {f['next_step']}", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(parsed: ParsedFile, findings: list[Finding], dest_dir: Path) -> tuple[Path, Path]:
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    txt = dest_dir / f"{parsed.path.name}.report.txt"
    js = dest_dir / f"{parsed.path.name}.report.json"
    txt.write_text(report_text(parsed, findings), encoding="utf-8")
    js.write_text(json.dumps(report_dict(parsed, findings), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return txt, js


if __name__ == "__main__":
    if sys.argv[1:] == ["write-suites"]:
        for path in write_suites():
            print(path)
    else:
        print("usage: python -m orchestration.gate write-suites", file=sys.stderr)
        sys.exit(2)
