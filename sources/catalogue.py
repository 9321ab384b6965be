"""The indicator catalogue (sources/indicators.yml) as Python objects.

Pure data, no heavy imports: the refresh, the report, the BI bundle and the tests read the
catalogue through this module, so there is one list of indicators, groups and fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CATALOGUE_FILE = Path(__file__).with_name("indicators.yml")
UNITS = ("anzahl", "prozent", "je_1000", "je_100", "anzahl_gemeinden")
COUNT_UNITS = ("anzahl", "anzahl_gemeinden")  # the others are rates: numerator / denominator
PERIODICITIES = ("monat", "jahr", "schuljahr")


@dataclass(frozen=True)
class Field:
    slug: str
    name: str
    intro: str


@dataclass(frozen=True)
class Indicator:
    id: str
    name_de: str
    name_en: str
    field: str
    unit: str
    periodicity: str
    groups: tuple[str, ...]
    partitions: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    published_when: dict
    definition: str
    caveats: str = ""

    @property
    def is_rate(self) -> bool:
        """Rates have a denominator; counts (anzahl, anzahl_gemeinden) do not."""
        return self.unit not in COUNT_UNITS


@dataclass(frozen=True)
class Catalogue:
    fields: tuple[Field, ...]
    group_labels: dict
    indicators: tuple[Indicator, ...]

    def indicator(self, indicator_id: str) -> Indicator:
        return next(i for i in self.indicators if i.id == indicator_id)

    def field(self, slug: str) -> Field:
        return next(f for f in self.fields if f.slug == slug)

    def in_field(self, slug: str) -> list[Indicator]:
        return [i for i in self.indicators if i.field == slug]


@lru_cache(maxsize=None)
def load(path: Path = CATALOGUE_FILE) -> Catalogue:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    fields = tuple(Field(**f) for f in raw["fields"])
    labels = {str(k): v for k, v in raw["groups"].items()}
    inds = []
    for e in raw["indicators"]:
        ind = Indicator(
            id=e["id"], name_de=e["name_de"], name_en=e["name_en"], field=e["field"],
            unit=e["unit"], periodicity=e["periodicity"],
            groups=tuple(str(g) for g in e["groups"]),
            partitions=tuple(tuple(str(g) for g in p) for p in e.get("partitions", ())),
            sources=tuple(e["sources"]), published_when=dict(e["published_when"]),
            definition=e["definition"], caveats=e.get("caveats", ""),
        )
        _validate(ind, fields, labels)
        inds.append(ind)
    return Catalogue(fields=fields, group_labels=labels, indicators=tuple(inds))


def _validate(ind: Indicator, fields, labels) -> None:
    problems = []
    if ind.field not in {f.slug for f in fields}:
        problems.append(f"unknown field {ind.field!r}")
    if ind.unit not in UNITS:
        problems.append(f"unknown unit {ind.unit!r}")
    if ind.periodicity not in PERIODICITIES:
        problems.append(f"unknown periodicity {ind.periodicity!r}")
    for g in ind.groups:
        if g not in labels:
            problems.append(f"group {g!r} has no label")
    for part in ind.partitions:
        if not set(part) <= set(ind.groups) or "insgesamt" not in ind.groups:
            problems.append(f"partition {list(part)} is not made of its groups beside insgesamt")
    if problems:
        raise ValueError(f"{CATALOGUE_FILE.name}, {ind.id}: " + "; ".join(problems))
