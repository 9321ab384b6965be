"""Disclosure audit: can a suppressed cell of the published set be computed back?

Independent of the suppression model (dbt_project/models/intermediate/int_indicator_suppression.py):
it reads only what an outsider sees, the published `indicator_values` (numerator, denominator,
is_suppressed per cell), and knows nothing of the rule that chose the cells.

1. Candidate lines, per indicator and period (indicators.md, "Secondary suppression"):
   regional  per group: the district cell (the region whose code prefixes all others) = the sum
             of the other regions' cells;
   group     per region and per set S of groups: the `insgesamt` cell = the sum of S's cells.
             S: the partitions the published catalogue lists (sources/indicators.yml: an
             outsider reads them in the indicator descriptions), each kept only where the data
             add up. With `every_set=True` every non-empty set of the other groups is tried
             instead, as an outsider without the catalogue would; it finds sets the contract
             does not treat as lines (docs/confidentiality.md, "What the audit does not block").
2. A line kind (indicator, quantity, regional group or group set S) is kept where it adds up.
   It is contradicted by a line whose cells are all shown and do not sum exactly (relative
   1e-9), or whose shown parts alone exceed its shown total (figures count people: >= 0).
   A regional kind and a catalogue partition are kept unless contradicted: they add up by
   definition, and with 44 municipalities hardly any regional line is shown in full, so the
   data alone rarely prove it. Any other set S (every_set) needs evidence as well: at least
   MIN_EVIDENCE fully shown lines with a total > 0, every member > 0 in one of them (a set
   padded with a group that is always 0 where shown is no evidence of a line).
   Quantities: the numerator, and the published denominator (for rates the count behind the
   value: persons, places; ARB-03's average stock is the 12-month sum / 12, additive too).
   Counts have no denominator; a shown cell without a figure (ENG-02 without answer) makes
   its lines unusable.
3. Repeatedly, every kept line with exactly one unknown cell is solved (total = sum of parts),
   and the solved cell counts as known from then on; until nothing more follows.

Result: the suppressed cells that became known (in numerator or denominator), with the value
they were solved to (for tests only: never shown in a message or a log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import duckdb
import numpy as np
import pandas as pd

TOTAL_GROUP = "insgesamt"
QUANTITIES = ("numerator", "denominator")
MIN_EVIDENCE = 3  # fully shown lines with a total > 0 before a line kind counts as adding up
KEY = ["indicator_id", "period", "region_code", "group_code"]


@dataclass
class AuditResult:
    cells: int
    suppressed: int
    line_kinds: list[tuple[str, str, str]]  # (indicator, quantity, "regional <group>" | "insgesamt = a + b")
    recovered: pd.DataFrame = field(repr=False)  # KEY + quantity + solved value (internal)

    @property
    def passed(self) -> bool:
        return self.recovered.empty

    def cell_names(self, limit: int | None = None) -> list[str]:
        """The recovered cells, named for the operator (never with a value)."""
        cells = self.recovered.drop_duplicates(KEY).sort_values(KEY)
        names = [f"Indikator {i}, Zeitraum {p}, Gebiet {r}, Gruppe {g}"
                 for i, p, r, g in cells[KEY].itertuples(index=False, name=None)]
        return names if limit is None else names[:limit]

    @property
    def count(self) -> int:
        return int(self.recovered.drop_duplicates(KEY).shape[0])

    def summary(self) -> str:
        """One German line for refresh_log and the outcome."""
        n = self.count
        if n == 0:
            return (f"bestanden: keine der {self.suppressed} gesperrten Zellen ist aus veröffentlichten Zellen "
                    f"errechenbar ({len(self.line_kinds)} summierende Zeilenarten geprüft)")
        return f"nicht bestanden: {n} von {self.suppressed} gesperrten Zellen errechenbar"


# What an outsider sees of a cell: column -> the SQL that reads it.
CELL_COLUMNS = {"indicator_id": "indicator_id", "period": "period", "region_code": "region_code",
                "group_code": "group_code", "numerator": "numerator::DOUBLE",
                "denominator": "denominator::DOUBLE", "is_suppressed": "is_suppressed"}


def read_cells(con: duckdb.DuckDBPyConnection, table: str = "indicator_values") -> pd.DataFrame:
    """What an outsider sees of the set: key, numerator, denominator, is_suppressed."""
    cols = ", ".join(f"{sql} AS {name}" for name, sql in CELL_COLUMNS.items())
    return con.execute(f"SELECT {cols} FROM {table}").df()

# The last audit of this process: (digest of the cells, every_set, partitions) -> result. A refresh
# audits its set twice, as the blocking check on the working copy and at the publish on the copy
# that goes out (refresh_log states that audit); the copy holds the same cells, so the second one
# takes the first's result when the digests agree (-0.6 s a month at district scale, issue 20).
_last_audit: tuple[tuple, AuditResult] | None = None


def cells_digest(con: duckdb.DuckDBPyConnection, table: str = "indicator_values") -> tuple:
    """Row count and two differently seeded order-free sums of the row hashes of what read_cells
    reads: equal for the same cells in any row order (one changed figure, key or flag changes it)."""
    cols = ", ".join(CELL_COLUMNS.values())
    return con.execute(f"SELECT count(*), sum(hash({cols})::HUGEINT), sum(hash('imon', {cols})::HUGEINT) "
                       f"FROM {table}").fetchone()


def audit_table(con: duckdb.DuckDBPyConnection, table: str = "indicator_values", *,
                every_set: bool = False) -> AuditResult:
    global _last_audit
    key = (cells_digest(con, table), every_set, None if every_set else repr(catalogue_partitions()))
    if _last_audit is not None and _last_audit[0] == key:
        return _last_audit[1]
    result = audit(read_cells(con, table), every_set=every_set)
    _last_audit = (key, result)
    return result


def catalogue_partitions() -> dict[str, list[tuple[str, ...]]]:
    from sources.catalogue import load

    return {i.id: list(i.partitions) for i in load().indicators}


def audit(cells: pd.DataFrame, *, every_set: bool = False) -> AuditResult:
    cells = cells.reset_index(drop=True)
    suppressed = cells["is_suppressed"].fillna(False).to_numpy(dtype=bool)
    kinds: list[tuple[str, str, str]] = []
    found = []
    for quantity in QUANTITIES:
        values = pd.to_numeric(cells[quantity], errors="coerce").to_numpy(dtype="float64")
        known = ~suppressed & ~np.isnan(values)
        missing = ~suppressed & np.isnan(values)  # shown without a figure: lines through it are unusable
        line_of, cell_of, sign_of, names = _lines(cells, values, known, missing,
                                                  None if every_set else catalogue_partitions())
        kinds += [(i, quantity, name) for i, name in names]
        solved, value = _solve(line_of, cell_of, sign_of, values, known)
        hit = solved & suppressed
        if hit.any():
            found.append(cells.loc[hit, KEY].assign(quantity=quantity, solved_value=value[hit]))
    recovered = (pd.concat(found, ignore_index=True) if found
                 else pd.DataFrame(columns=[*KEY, "quantity", "solved_value"]))
    return AuditResult(len(cells), int(suppressed.sum()), sorted(set(kinds)), recovered)


def _adds_up(total: np.ndarray, parts: np.ndarray, t_ok: np.ndarray, p_ok: np.ndarray,
             presumed: bool) -> bool:
    """Whether a line kind adds up. total (n,), parts (n, k): figures; t_ok, p_ok: shown with a
    figure. Contradicted by a fully shown line that does not sum, or (figures are counts, >= 0)
    by shown parts whose sum exceeds a shown total. Without contradiction a presumed kind
    (regional) is kept; a group set needs evidence (module docstring)."""
    usable = t_ok & p_ok.all(axis=1)
    tol = 1e-9 * np.maximum(1.0, np.abs(np.nan_to_num(total)))
    t, p = total[usable], parts[usable]
    if not np.all(np.abs(p.sum(axis=1) - t) <= tol[usable]):
        return False
    shown_sum = np.where(p_ok, np.nan_to_num(parts), 0.0).sum(axis=1)
    if np.any(t_ok & (shown_sum > np.nan_to_num(total) + tol)):
        return False
    if presumed:
        return True
    evidence = t > 0
    return evidence.sum() >= MIN_EVIDENCE and bool((p[evidence] > 0).any(axis=0).all())


def _lines(cells, values, known, missing, partitions):
    """The kept lines as membership arrays (line id, cell position, +1 part / -1 total) and
    the names of the kept kinds."""
    pos = np.arange(len(cells))
    line_of, cell_of, sign_of, names = [], [], [], []
    next_line = 0
    for indicator, sub in cells.groupby("indicator_id", sort=True):
        regions = sorted(sub["region_code"].unique())
        district = min(regions, key=len)
        if not all(r.startswith(district) for r in regions) or len(regions) < 2:
            district = None
        periods = sorted(sub["period"].unique())
        groups = list(dict.fromkeys(sub["group_code"]))
        # position of every (period, region, group) cell, -1 where the grid has none
        p_idx = pd.Index(periods).get_indexer(sub["period"])
        r_idx = pd.Index(regions).get_indexer(sub["region_code"])
        g_idx = pd.Index(groups).get_indexer(sub["group_code"])
        at = np.full((len(periods), len(regions), len(groups)), -1, dtype=np.int64)
        at[p_idx, r_idx, g_idx] = pos[sub.index]
        present = at >= 0
        safe = np.where(present, at, 0)
        val = np.where(present, values[safe], np.nan)
        ok = present & known[safe]  # shown with a figure
        bad = ~present | missing[safe]  # a line through such a cell cannot be used

        def keep(total_at, parts_at, name, presumed=False):
            """total_at (n,), parts_at (n, k): cell positions of each line of one kind."""
            nonlocal next_line
            t_ok, p_ok = ok.reshape(-1)[total_at], ok.reshape(-1)[parts_at]
            flat_val = val.reshape(-1)
            if not _adds_up(flat_val[total_at], flat_val[parts_at], t_ok, p_ok, presumed):
                return
            flat_bad = bad.reshape(-1)
            usable_lines = ~(flat_bad[total_at] | flat_bad[parts_at].any(axis=1))
            n = int(usable_lines.sum())
            if n == 0:
                return
            flat_at = at.reshape(-1)
            ids = np.arange(next_line, next_line + n)
            next_line += n
            members = np.column_stack([total_at[usable_lines], parts_at[usable_lines]])
            line_of.append(np.repeat(ids, members.shape[1]))
            cell_of.append(flat_at[members].reshape(-1))
            sign_of.append(np.tile(np.r_[-1.0, np.ones(members.shape[1] - 1)], n))
            names.append((indicator, name))

        flat = np.arange(at.size).reshape(at.shape)
        if district is not None:
            d = regions.index(district)
            others = [k for k in range(len(regions)) if k != d]
            for gi, g in enumerate(groups):
                keep(flat[:, d, gi], flat[:, others, gi], f"regional {g}", presumed=True)
        if TOTAL_GROUP in groups:
            ti = groups.index(TOTAL_GROUP)
            rest = [k for k in range(len(groups)) if k != ti]
            if partitions is None:
                sets = [s for size in range(1, len(rest) + 1) for s in combinations(rest, size)]
            else:
                sets = [tuple(groups.index(g) for g in p) for p in partitions.get(indicator, [])
                        if all(g in groups for g in p)]
            for subset in sets:
                keep(flat[:, :, ti].reshape(-1), flat[:, :, list(subset)].reshape(-1, len(subset)),
                     f"{TOTAL_GROUP} = " + " + ".join(groups[k] for k in subset), presumed=partitions is not None)
    if not line_of:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), names
    return np.concatenate(line_of), np.concatenate(cell_of), np.concatenate(sign_of), names


def _solve(line_of, cell_of, sign_of, values, known):
    """Solve every line with one unknown cell until nothing more follows. Returns (known at the
    end, value per cell: the published figure or the solved one)."""
    known = known.copy()
    value = np.where(known, values, np.nan)
    if len(line_of) == 0:
        return known, value
    n_lines = int(line_of.max()) + 1
    while True:
        unknown = ~known[cell_of]
        open_count = np.bincount(line_of, weights=unknown, minlength=n_lines)
        single = open_count == 1
        if not single.any():
            return known, value
        # sum over the line of sign * value over known cells; the unknown one balances it to 0
        partial = np.bincount(line_of, weights=np.where(unknown, 0.0, sign_of * np.nan_to_num(value[cell_of])),
                              minlength=n_lines)
        pick = single[line_of] & unknown
        target, lines = cell_of[pick], line_of[pick]
        value[target] = -partial[lines] / sign_of[pick]
        known[target] = True
