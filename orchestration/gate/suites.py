"""The GX suites: one Great Expectations suite per file type, generated from the contracts.

expectations/<file_type>.json is built from sources/contracts.yml + the reference lists
(dbt_project/seeds/*.csv) by `python -m orchestration.gate write-suites` and reviewed like
code. Only row rules GX can evaluate vectorised go here; the rest is plain code (row_rules.py,
cross_file.py). Nothing here imports GX: building a suite is plain JSON.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

from orchestration.settings import EXPECTATIONS_DIR, REFERENCE_DIR
from sources.contracts import Contract, load_contracts


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


def year_helper(offset: int) -> str:
    """Name of the helper column holding the period's year plus `offset` (`_period_year_m7`)."""
    return "_period_year" + ("" if offset == 0 else f"_m{-offset}" if offset < 0 else f"_p{offset}")


def _year_helper_offset(name: str) -> int:
    suffix = name[len("_period_year"):]
    return 0 if not suffix else (-1 if suffix[1] == "m" else 1) * int(suffix[2:])


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
