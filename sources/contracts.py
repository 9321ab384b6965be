"""The extract contracts (sources/contracts.yml) as Python objects.

Pure data and file-name matching; no heavy imports, so the no-op refresh path
can identify inbox files cheaply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
        )
    return out


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
