"""The extract contracts (sources/contracts.yml) as Python objects.

Pure data and file-name matching; no heavy imports, so the no-op refresh path
can identify inbox files cheaply.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

CONTRACTS_FILE = Path(__file__).with_name("contracts.yml")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    values: tuple[str, ...] | None = None
    reference: str | None = None  # "<seed>.<column>"
    exclude: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    # Bounds relative to the year of the file name's period (offset in years), e.g. esu's
    # geburtsjahr from YYYY-7 to YYYY-2: min_from_period=-7, max_from_period=-2.
    min_from_period: int | None = None
    max_from_period: int | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Due:
    """When a period's file is due (sources.md, "When files are due"): day `day` of the
    `months_after`-th month after a month period, or `date` ('dd.mm.') of year YYYY+`years_after`
    for a year or school-year period `YYYY`."""

    months_after: int | None = None
    day: int | None = None
    years_after: int | None = None
    date: str | None = None

    def of(self, period: str) -> date:
        if self.months_after is not None:
            y, m = int(period[:4]), int(period[5:7]) + self.months_after
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
            return date(y, m, min(self.day, calendar.monthrange(y, m)[1]))  # day 31 in a short month: its last day
        dd, mm = int(self.date[:2]), int(self.date[3:5])
        return date(int(period[:4]) + self.years_after, mm, dd)


def _due(file_type: str, spec: dict | None, period_kind: str) -> Due:
    """The calendar row, checked on load: a typo must not silently make a file never overdue."""
    if not isinstance(spec, dict):
        raise ValueError(f"{CONTRACTS_FILE.name}: {file_type} hat keinen Liefertermin (due)")
    due = Due(**spec)
    ok = (due.months_after is not None and due.day is not None and period_kind == "month") or (
        due.years_after is not None and isinstance(due.date, str) and period_kind != "month")
    if not ok:
        raise ValueError(f"{CONTRACTS_FILE.name}: {file_type}: due {spec!r} passt nicht zu period_kind {period_kind}")
    due.of("2024-02" if period_kind == "month" else "2023")  # an impossible date ('31.02.', '29.02.') fails here
    return due


@dataclass(frozen=True)
class Contract:
    file_type: str
    provider: str
    pattern: str
    period_kind: str  # month | year | school_year
    format: str  # csv | xlsx
    stock: bool
    may_be_empty: bool
    period_column: str
    period_of: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    encoding: str | None = None
    sheet: str | None = None
    period_date: str | None = None  # 'dd.mm.' for period_of year_date (kita: '01.03.')
    every_municipality_once: bool = False  # rule 7: exactly one row per municipality (engagement)
    due: Due | None = None  # the delivery calendar row
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_regex", re.compile(self.pattern))

    def match(self, file_name: str) -> str | None:
        """The period in the file name (`YYYY-MM` or `YYYY`) if the name fits this contract."""
        m = self._regex.fullmatch(file_name)
        return m.group("period") if m else None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def raw_table(self) -> str:
        return f"raw.{self.file_type}"


def _offset(v) -> int | None:
    # bool is an int in Python: `true` would silently read as an offset of 1 year.
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{CONTRACTS_FILE.name}: *_from_period must be a whole number of years, not {v!r}")
    return v


@lru_cache(maxsize=1)
def load_contracts() -> dict[str, Contract]:
    data = yaml.safe_load(CONTRACTS_FILE.read_text(encoding="utf-8"))
    out = {}
    for file_type, spec in data["file_types"].items():
        cols = tuple(
            Column(
                name=name,
                type=c["type"],
                nullable=c.get("nullable", False),
                values=tuple(c["values"]) if "values" in c else None,
                reference=c.get("reference"),
                exclude=tuple(c.get("exclude", ())),
                min=c.get("min"),
                max=c.get("max"),
                min_from_period=_offset(c.get("min_from_period")),
                max_from_period=_offset(c.get("max_from_period")),
                pattern=c.get("pattern"),
            )
            for name, c in spec["columns"].items()
        )
        out[file_type] = Contract(
            file_type=file_type,
            provider=spec["provider"],
            pattern=spec["pattern"],
            period_kind=spec["period_kind"],
            format=spec["format"],
            stock=spec["stock"],
            may_be_empty=spec["may_be_empty"],
            period_column=spec["period_column"],
            period_of=spec["period_of"],
            key=tuple(spec["key"]),
            columns=cols,
            encoding=spec.get("encoding"),
            sheet=spec.get("sheet"),
            period_date=spec.get("period_date"),
            every_municipality_once=spec.get("every_municipality_once", False),
            due=_due(file_type, spec.get("due"), spec["period_kind"]),
        )
    return out


# The gate quarantines a file as `<stamp>_<name>` (`20261125T020000_jobcenter_2024-01.csv`;
# `20261125T020000-2_...` for a second file of that name in the same second).
QUARANTINE_PREFIX = re.compile(r"\d{8}T\d{6}(?:-\d+)?_")


def original_name(name: str) -> str:
    """The delivered name of a file, also of a quarantined copy."""
    m = QUARANTINE_PREFIX.match(name)
    return name[m.end():] if m else name


def identify_name(name: str) -> tuple[Contract, str] | None:
    """(contract, period) for a file name alone (quarantined copies too), provider folder unchecked."""
    name = original_name(name)
    for contract in load_contracts().values():
        period = contract.match(name)
        if period is not None:
            return contract, period
    return None


def identify(path: Path) -> tuple[Contract, str] | None:
    """(contract, period) for an inbox file, or None if its name fits no contract.

    The provider folder must match too: a jobcenter file dropped into schulen/ is
    not silently taken.
    """
    for contract in load_contracts().values():
        period = contract.match(path.name)
        if period is not None and path.parent.name == contract.provider:
            return contract, period
    return None
