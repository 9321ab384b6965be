"""Which cells of the indicator grid are suppressed, and by which rule (indicators.md,
"Statistical confidentiality in what is published"). Internal; marts.indicator_values applies it.

A Python model because the secondary rule works in rounds until nothing changes, which is a
loop over whole-grid arrays here and would be a recursive query in SQL. The functions below
are pure pandas/numpy so that tests/test_suppression.py can call them on hand-made cells.

Figure of a cell (before any suppression): its value for counts, the integer count behind its
denominator for rates (`denominator_count`; for ARB-03 the 12-month sum of stocks).

Primary rule: a count of 1 or 2; a rate whose numerator or denominator count is 1 or 2.
Unit `anzahl_gemeinden` (ENG-01) counts no people: never suppressed, forms no line.

Secondary rule, in rounds. Lines, per indicator and period:
  regional lines  per group: total = the district cell, parts = the 44 municipality cells;
  group lines     per region and partition: total = `insgesamt`, parts = the partition's groups.
Each round, every line with exactly one suppressed cell chooses one more (amended 2026-12-07):
  one suppressed part, total shown: the shown part with the smallest figure > 0 (ties: lowest
      region_code, then the indicator's group order), or the total where no part qualifies;
  the total suppressed (as a part of another line), every part shown: the part with the
      smallest figure > 0, same ties; nothing where no part qualifies (its parts are all 0).
The first wording had only the first case: a suppressed total with all parts shown was their
sum, and further cells followed from it in chains. All chosen cells are suppressed together;
the rounds end with a round that chooses nothing. An undefined cell (`is_undefined`: ENG-02's
municipalities that did not answer, NULL figures) is neither suppressed nor ever chosen.

Output: one row per cell of int_indicator_values_unsuppressed with its figure,
`suppression_round` (0 = primary rule, k = chosen in round k of the secondary rule, NULL =
shown) and `is_suppressed`.
"""

import numpy as np
import pandas as pd

DISTRICT = "08116"
TOTAL_GROUP = "insgesamt"
COUNT_UNITS = ("anzahl",)
NEVER_SUPPRESSED_UNITS = ("anzahl_gemeinden",)
KEY = ["indicator_id", "period", "region_code", "group_code"]


def _undefined(cells):
    """Cells without figures (ENG-02 where the municipality did not answer)."""
    if "is_undefined" not in cells:
        return pd.Series(False, index=cells.index)
    return cells["is_undefined"].fillna(False).astype(bool)


def figures(cells):
    """The figure of every cell: numerator for counts, denominator_count for rates; NULL
    (NaN) for an undefined cell."""
    is_count = cells["unit"].isin(COUNT_UNITS + NEVER_SUPPRESSED_UNITS)
    figure = pd.to_numeric(cells["numerator"].where(is_count, cells["denominator_count"]),
                           errors="coerce").astype("float64")
    return figure.mask(_undefined(cells))


def primary(cells):
    """The primary rule as a boolean array (NULL figures are not suppressed)."""
    numerator = pd.to_numeric(cells["numerator"], errors="coerce")
    count_behind = pd.to_numeric(cells["denominator_count"], errors="coerce")
    is_count = cells["unit"].isin(COUNT_UNITS)
    is_rate = ~is_count & ~cells["unit"].isin(NEVER_SUPPRESSED_UNITS)
    hit = numerator.isin([1, 2]) & (is_count | is_rate)
    hit |= is_rate & count_behind.isin([1, 2])
    hit &= ~_undefined(cells)
    return hit.to_numpy(dtype=bool, copy=True)


def _lines(cells, groups):
    """The lines as arrays over cell positions: (line of each part, cell of each part, total
    cell of each line). Cells of units that are never suppressed belong to no line."""
    c = cells[KEY + ["unit"]].reset_index(drop=True)
    c["cell"] = np.arange(len(c))
    c = c.merge(groups[["indicator_id", "group_code", "partition_id"]],
                on=["indicator_id", "group_code"], how="left", validate="many_to_one")
    c = c[~c["unit"].isin(NEVER_SUPPRESSED_UNITS)]

    # regional lines: (indicator, period, group); the district is the total
    regional = c.assign(line=c.groupby(["indicator_id", "period", "group_code"], sort=False).ngroup())
    is_district = regional["region_code"].eq(DISTRICT)
    reg_parts = regional.loc[~is_district, ["line", "cell"]]
    reg_totals = regional.loc[is_district, ["line", "cell"]]

    # group lines: (indicator, period, region, partition); insgesamt is the total of each
    members = c[c["partition_id"].notna()]
    grp = members.assign(line=members.groupby(["indicator_id", "period", "region_code", "partition_id"],
                                              sort=False).ngroup())
    grp_keys = grp.drop_duplicates("line")[["line", "indicator_id", "period", "region_code"]]
    totals = c.loc[c["group_code"].eq(TOTAL_GROUP), ["indicator_id", "period", "region_code", "cell"]]
    grp_totals = grp_keys.merge(totals, on=["indicator_id", "period", "region_code"])[["line", "cell"]]
    offset = int(regional["line"].max()) + 1 if len(regional) else 0
    grp_parts = grp[["line", "cell"]].assign(line=grp["line"] + offset)
    grp_totals = grp_totals.assign(line=grp_totals["line"] + offset)

    parts = pd.concat([reg_parts, grp_parts], ignore_index=True)
    totals = pd.concat([reg_totals, grp_totals], ignore_index=True)
    # a line needs its total and at least one part (a grid without the district has none)
    n_lines = offset + (int(grp["line"].max()) + 1 if len(grp) else 0)
    line_total = np.full(n_lines, -1, dtype=np.int64)
    line_total[totals["line"].to_numpy()] = totals["cell"].to_numpy()
    parts = parts[line_total[parts["line"].to_numpy()] >= 0]
    return parts["line"].to_numpy(np.int64), parts["cell"].to_numpy(np.int64), line_total


def suppression_rounds(cells, groups):
    """Per cell: 0 = primary, k >= 1 = chosen in round k of the secondary rule, -1 = shown.

    cells: KEY + numerator, denominator_count, unit (one row per cell of the grid);
    groups: indicator_id, group_code, group_order, partition_id (seed indicator_groups)."""
    cells = cells.reset_index(drop=True)
    figure = figures(cells).to_numpy()
    suppressed = primary(cells)
    rounds = np.where(suppressed, 0, -1)
    part_line, part_cell, line_total = _lines(cells, groups)
    if len(part_line) == 0:
        return rounds

    # the order in which a line's parts are tried: smallest figure, region_code, group order
    order_of_group = cells[["indicator_id", "group_code"]].merge(
        groups[["indicator_id", "group_code", "group_order"]], on=["indicator_id", "group_code"],
        how="left")["group_order"].fillna(0).to_numpy()
    region_rank = pd.factorize(cells["region_code"], sort=True)[0]
    fig_key = np.where(np.isnan(figure), np.inf, figure)
    sort = np.lexsort((order_of_group[part_cell], region_rank[part_cell], fig_key[part_cell], part_line))
    part_line, part_cell = part_line[sort], part_cell[sort]
    can_choose = figure[part_cell] > 0  # NaN > 0 is False: a NULL figure is never chosen
    n_lines = len(line_total)
    has_total = line_total >= 0

    round_no = 0
    while True:
        round_no += 1
        part_suppressed = suppressed[part_cell]
        per_line = np.bincount(part_line, weights=part_suppressed, minlength=n_lines)
        total_shown = np.zeros(n_lines, dtype=bool)
        total_shown[has_total] = ~suppressed[line_total[has_total]]
        one_part = (per_line == 1) & total_shown  # the total would give the part away
        only_total = (per_line == 0) & has_total & ~total_shown  # the parts would add up to it
        deciding = one_part | only_total
        candidate = deciding[part_line] & ~part_suppressed & can_choose
        lines_with_part, first = np.unique(part_line[candidate], return_index=True)
        chosen_parts = part_cell[candidate][first]
        no_part = one_part.copy()  # a suppressed total without a part > 0 chooses nothing
        no_part[lines_with_part] = False
        chosen = np.union1d(chosen_parts, line_total[no_part])
        if chosen.size == 0:
            return rounds
        suppressed[chosen] = True
        rounds[chosen] = round_no


def suppress(cells, groups):
    """The model's output frame for `cells` (see module docstring)."""
    cells = cells.reset_index(drop=True)
    rounds = suppression_rounds(cells, groups)
    out = cells[KEY].copy()
    out["figure"] = figures(cells)
    out["suppression_round"] = pd.array(np.where(rounds >= 0, rounds, 0), dtype="Int32")
    out.loc[rounds < 0, "suppression_round"] = pd.NA
    out["is_suppressed"] = rounds >= 0
    return out


def model(dbt, session):
    dbt.config(materialized="table")
    cells = dbt.ref("int_indicator_values_unsuppressed").project(
        "indicator_id, period, region_code, group_code, numerator, denominator_count, unit, is_undefined").df()
    groups = dbt.ref("indicator_groups").project(
        "indicator_id, group_code, group_order, partition_id").df()
    return suppress(cells, groups)
