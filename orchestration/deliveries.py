"""Which deliveries are overdue: the delivery calendar (`due` in sources/contracts.yml) against
what has arrived (sources.md, "When files are due").

A period's file has arrived when any version of it is in the file registry (meta.file_versions,
loaded), in quarantine (blocked by the gate) or waiting in the inbox; it is overdue when its
due date has passed (today > due) and none has. A file type's calendar starts with the first
period that ever arrived: earlier periods, and types that never delivered, are never overdue.
`today` is Settings.today (IMON_TODAY, else today in Europe/Berlin), so tests and dry runs
can check any date.

Used by `imon status`, the notifications, the deliveries page of the data-quality docs and the
Dagster freshness checks: one computation, four views.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from orchestration.settings import Settings
from sources.contracts import Contract, identify_name, load_contracts

@dataclass(frozen=True)
class Overdue:
    file_type: str
    period: str
    file_name: str  # the name the file would have
    due: date
    days: int  # days past the due date (1 on the day after it)

    @property
    def key(self) -> str:
        """What the notifications remember as told (file type and period, never row content)."""
        return f"{self.file_type}:{self.period}"

    def line(self) -> str:
        return (f"{self.file_name} ({self.file_type}, Zeitraum {period_label(self.file_type, self.period)}): "
                f"fällig am {self.due:%d.%m.%Y}, seit {self.days} Tag(en) überfällig")


@dataclass
class TypeStatus:
    file_type: str
    provider: str
    last_period: str | None  # newest period that arrived
    last_received: datetime | None  # when it arrived
    next_period: str | None  # the first period after the newest one whose due date has not passed
    next_due: date | None
    overdue: list[Overdue] = field(default_factory=list)
    late: list[tuple[str, date, date]] = field(default_factory=list)  # (period, due, arrived on) arrived late
    arrived: set[str] = field(default_factory=set)  # every period that arrived


def period_label(file_type: str, period: str) -> str:
    """`2024/25` for a school year (its file name says only 2024), the period as it is otherwise."""
    if load_contracts()[file_type].period_kind == "school_year":
        return f"{period}/{(int(period) + 1) % 100:02d}"
    return period


def file_name(contract: Contract, period: str) -> str:
    """The file name the contract's pattern gives for a period (`jobcenter_2025-03.csv`)."""
    return re.sub(r"\(\?P<period>[^)]*\)", period, contract.pattern).replace("\\", "")


def next_period(contract: Contract, period: str) -> str:
    if contract.period_kind == "month":
        y, m = int(period[:4]), int(period[5:7])
        return f"{y + m // 12}-{m % 12 + 1:02d}"
    return str(int(period) + 1)


def compute(arrived: dict[str, dict[str, datetime]], today: date,
            contracts: dict[str, Contract] | None = None) -> list[TypeStatus]:
    """Per file type (in contract order): overdue periods, late arrivals, last and next delivery.
    arrived: file type -> {period: when the first version arrived}."""
    contracts = contracts or load_contracts()
    out = []
    for ft, c in contracts.items():
        got = arrived.get(ft, {})
        st = TypeStatus(ft, c.provider, None, None, None, None)
        out.append(st)
        if not got:
            continue  # a source starts with its first delivery
        st.arrived = set(got)
        st.last_period = max(got)
        st.last_received = got[st.last_period]
        for p in sorted(got):
            when = got[p].date() if isinstance(got[p], datetime) else got[p]
            if when > c.due.of(p):
                st.late.append((p, c.due.of(p), when))
        p = min(got)
        while True:
            due = c.due.of(p)
            if p not in got:
                if due >= today:
                    break  # not yet overdue, nor any later period
                st.overdue.append(Overdue(ft, p, file_name(c, p), due, (today - due).days))
            p = next_period(c, p)
        p = next_period(c, st.last_period)
        while c.due.of(p) < today:
            p = next_period(c, p)
        st.next_period, st.next_due = p, c.due.of(p)
    return out


def arrivals(settings: Settings) -> dict[str, dict[str, datetime]]:
    """file type -> {period: first arrival}, from the registry, the quarantine and the inbox.
    Raises OSError/duckdb.Error when the internal warehouse is held by a running refresh."""
    out: dict[str, dict[str, datetime]] = {}

    def add(ft: str, period: str, when: datetime) -> None:
        cur = out.setdefault(ft, {}).get(period)
        if cur is None or when < cur:
            out[ft][period] = when

    if settings.internal_db.exists():
        import duckdb

        con = duckdb.connect(str(settings.internal_db), read_only=True)
        try:
            has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'meta' "
                              "AND table_name = 'file_versions'").fetchone()[0]
            rows = con.execute("SELECT file_type, period, min(received_at) FROM meta.file_versions "
                               "GROUP BY ALL").fetchall() if has else []
        finally:
            con.close()
        for ft, period, when in rows:
            add(ft, period, when)
    for path, when in _files(settings.quarantine_dir, quarantine=True) + _files(settings.landing_dir):
        hit = identify_name(path.name)  # a quarantined copy by its delivered name
        if hit is not None:
            add(hit[0].file_type, hit[1], when)
    return out


def _files(folder: Path, quarantine: bool = False) -> list[tuple[Path, datetime]]:
    if not folder.is_dir():
        return []
    found = folder.iterdir() if quarantine else folder.glob("*/*")  # the inbox: one folder per provider
    out = []
    for p in found:
        if p.is_file() and not p.name.endswith((".report.txt", ".report.json")) and not p.name.startswith("."):
            try:
                out.append((p, datetime.fromtimestamp(p.stat().st_mtime)))
            except OSError:
                continue  # moved away meanwhile (a refresh took it)
    return out


def delivery_status(settings: Settings) -> list[TypeStatus]:
    return compute(arrivals(settings), settings.today or date.today())


def overdue(statuses: list[TypeStatus]) -> list[Overdue]:
    return [o for s in statuses for o in s.overdue]
