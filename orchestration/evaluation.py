"""Evaluation of the published indicators: change, comparison with the district, targets.

`add_evaluation(con, targets_file)` adds two tables to schema `main` of an open
DuckDB connection that already holds `indicator_values` and `indicators`:

- `indicator_targets`: the targets of `zielwerte.yml` as loaded (with the
  decision reference and whether a target is only an example);
- `indicator_evaluation`: one row per row of `indicator_values` (indicator,
  period, region, group), computed in one vectorised SQL statement.

Columns of `indicator_evaluation` and the rules behind them
-----------------------------------------------------------
value, unit, is_suppressed, period_end, region_name are copied from
`indicator_values`. All differences are "value minus reference"; for
percentages they are in percentage points (Prozentpunkte), for counts in
persons/cases.

previous_period / value_previous / change_previous
    The period directly before, computed from the period label (not "the row
    before"), so a gap in the data gives NULL instead of a comparison with an
    older period: month -> previous month, year -> previous year, school year
    2024/25 -> 2023/24. `previous_period` is the label even when no row exists.
period_year_before / value_year_before / change_year_before
    Same period one year earlier: month -> same month of the previous year;
    year and school year -> the previous one (equal to previous_period).
district_value / diff_to_district / position
    `district_value` is the value of region 08116 for the same indicator,
    group and period. `diff_to_district` and `position` are only defined for
    rates (units 'prozent', 'je_1000', 'je_100'; RATE_UNITS) of municipalities,
    in the rate's own unit: a municipality's count (also 'anzahl_gemeinden') is a
    part of the district count, comparing the two says nothing. Position:
      'gleich'           |diff| <= tolerance,
      'über Kreiswert'   diff > tolerance,
      'unter Kreiswert'  diff < -tolerance,
    tolerance = max(0.1 (percentage points, or per 1,000 / per 100), 5 % of the district value)
    (POSITION_REL_TOL, POSITION_MIN_TOL), e.g. 0.2 Pp. at a district rate of
    4 %, 3 Pp. at 60 %. NULL for the district itself.
target_value / target_direction / target_year / target_source / target_is_example
    From zielwerte.yml. A target applies to its indicator and group, and to the
    district unless it names a municipality or `alle` (district and every
    municipality; a target for a specific region wins over `alle`).
distance_to_target
    value - target_value (negative = below the target).
status / status_reason
    Rows with a target and a value get a status (a row without a value gets
    only a reason: suppressed, undefined, or "keine Angabe" for a municipality
    that did not answer, ENG-02: numerator NULL although not suppressed). Let d = +1 for direction
    'hoch' and -1 for 'runter', gap = d * (target - value) (what is still
    missing, <= 0 when met), progress = d * change_year_before (the movement
    toward the target over the last year), years_left = years from period_end
    to 31 December of target_year.
      1. gap <= 0                                   -> 'auf Kurs'  (Ziel erreicht)
      2. years_left <= 0                            -> 'nicht auf Kurs' (Zieljahr abgelaufen)
      3. no value a year before                     -> 'beobachten' (Trend unbekannt)
      4. progress * years_left >= gap               -> 'auf Kurs'  (Tempo reicht)
      5. progress > 0, or gap <= 5 % of the target  -> 'beobachten'
      6. otherwise (stagnation or wrong direction)  -> 'nicht auf Kurs'
    Rule 4 says: if the last year's change continues at the same pace, the
    target is reached by the end of the target year.

Confidentiality and missing values: a suppressed or undefined value is NULL in
`indicator_values`; every figure derived from it (changes, difference to the
district, distance, position, status) is NULL too. SQL NULL arithmetic
guarantees that nothing is computed from a missing value as if it were 0. Only
published (not suppressed) values enter the evaluation, so it cannot reveal a
suppressed figure.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from sources import catalogue

DISTRICT_CODE = "08116"
ALL_REGIONS = "alle"
POSITION_REL_TOL = 0.05  # share of the district value treated as "equal"
POSITION_MIN_TOL = 0.1  # percentage points, so tiny district rates still get a tolerance
TARGET_NEAR_REL = 0.05  # "close to the target": gap <= 5 % of the target value
EPS = 1e-9  # float noise: 100*50/1000 must count as meeting a target of 5.0

RATE_UNITS = tuple(u for u in catalogue.UNITS if u not in catalogue.COUNT_UNITS)
STATUS_VALUES = ("auf Kurs", "beobachten", "nicht auf Kurs")
POSITION_VALUES = ("über Kreiswert", "unter Kreiswert", "gleich")

TARGETS_DDL = """
CREATE OR REPLACE TABLE main.indicator_targets (
    indicator_id      VARCHAR NOT NULL,
    group_code        VARCHAR NOT NULL,
    region_code       VARCHAR NOT NULL,   -- '08116', an 8-digit AGS, or 'alle'
    target_value      DOUBLE  NOT NULL,
    target_direction  VARCHAR NOT NULL,   -- 'hoch' | 'runter'
    target_year       INTEGER NOT NULL,
    target_source     VARCHAR NOT NULL,
    target_is_example BOOLEAN NOT NULL,
    target_note       VARCHAR
)
"""


class TargetsError(ValueError):
    """zielwerte.yml is malformed or names an indicator/group that does not exist."""


def load_targets(targets_file: Path) -> list[dict]:
    """Read and validate zielwerte.yml (structure only; catalogue checks in add_evaluation)."""
    doc = yaml.safe_load(Path(targets_file).read_text(encoding="utf-8")) or {}
    entries = doc.get("zielwerte") or []
    if not isinstance(entries, list):
        raise TargetsError(f"{targets_file}: 'zielwerte' muss eine Liste sein")
    out: list[dict] = []
    seen: set[tuple[str, str, str]] = set()
    for i, e in enumerate(entries, start=1):
        where = f"{targets_file}: Eintrag {i}"
        if not isinstance(e, dict):
            raise TargetsError(f"{where}: kein Eintrag der Form 'schlüssel: wert'")
        unknown = set(e) - {"indicator_id", "group", "region", "target", "direction", "year",
                            "quelle", "beispiel", "hinweis"}
        if unknown:
            raise TargetsError(f"{where}: unbekannte Felder {sorted(unknown)}")
        for key in ("indicator_id", "target", "direction", "year", "quelle"):
            if e.get(key) in (None, ""):
                raise TargetsError(f"{where}: Pflichtfeld '{key}' fehlt")
        region = e.get("region", DISTRICT_CODE)
        if not isinstance(region, str):
            # YAML would turn an unquoted code into a number and drop its leading zero.
            raise TargetsError(f"{where}: region bitte in Anführungszeichen angeben, z. B. \"08116\"")
        if region != ALL_REGIONS and not (region == DISTRICT_CODE or (len(region) == 8 and region.isdigit())):
            raise TargetsError(f"{where}: region '{region}' ist weder 08116, eine 8-stellige AGS noch 'alle'")
        if e["direction"] not in ("hoch", "runter"):
            raise TargetsError(f"{where}: direction muss 'hoch' oder 'runter' sein, nicht {e['direction']!r}")
        if isinstance(e["target"], bool) or not isinstance(e["target"], (int, float)):
            raise TargetsError(f"{where}: target muss eine Zahl sein")
        if isinstance(e["year"], bool) or not isinstance(e["year"], int):
            raise TargetsError(f"{where}: year muss eine Jahreszahl sein")
        row = {
            "indicator_id": str(e["indicator_id"]),
            "group_code": str(e.get("group", "insgesamt")),
            "region_code": region,
            "target_value": float(e["target"]),
            "target_direction": e["direction"],
            "target_year": int(e["year"]),
            "target_source": str(e["quelle"]),
            "target_is_example": bool(e.get("beispiel", False)),
            "target_note": e.get("hinweis"),
        }
        key = (row["indicator_id"], row["group_code"], row["region_code"])
        if key in seen:
            raise TargetsError(f"{where}: Ziel für {key} ist doppelt eingetragen")
        seen.add(key)
        out.append(row)
    return out


def _check_against_catalogue(con: duckdb.DuckDBPyConnection, targets: list[dict]) -> None:
    """A typo in an id or group would silently evaluate nothing: refuse it instead.

    Known are the published indicators and those of the catalogue (sources/indicators.yml), so a
    target may be set before the first delivery of its source; it then evaluates nothing yet."""
    cat = catalogue.load()
    known = {r[0] for r in con.execute("SELECT indicator_id FROM main.indicators").fetchall()}
    known |= {i.id for i in cat.indicators}
    groups: dict[str, set[str]] = {i.id: set(i.groups) for i in cat.indicators}
    for ind, grp in con.execute("SELECT DISTINCT indicator_id, group_code FROM main.indicator_values").fetchall():
        groups.setdefault(ind, set()).add(grp)
    for t in targets:
        if t["indicator_id"] not in known:
            raise TargetsError(f"zielwerte.yml: Indikator {t['indicator_id']} steht nicht im Katalog")
        if t["indicator_id"] in groups and t["group_code"] not in groups[t["indicator_id"]]:
            raise TargetsError(
                f"zielwerte.yml: {t['indicator_id']} hat keine Gruppe '{t['group_code']}' "
                f"(vorhanden: {', '.join(sorted(groups[t['indicator_id']]))})"
            )


EVALUATION_SQL = f"""
CREATE OR REPLACE TABLE main.indicator_evaluation AS
WITH base AS (
    SELECT v.*,
        CASE WHEN regexp_full_match(v.period, '\\d{{4}}-\\d{{2}}') THEN 'monat'
             WHEN regexp_full_match(v.period, '\\d{{4}}/\\d{{2}}') THEN 'schuljahr'
             WHEN regexp_full_match(v.period, '\\d{{4}}') THEN 'jahr' END AS period_kind
    FROM main.indicator_values v
),
keyed AS (
    SELECT *,
        CASE period_kind
            WHEN 'monat' THEN strftime(strptime(period || '-01', '%Y-%m-%d') - INTERVAL 1 MONTH, '%Y-%m')
            WHEN 'jahr' THEN CAST(CAST(period AS INTEGER) - 1 AS VARCHAR)
            WHEN 'schuljahr' THEN CAST(CAST(left(period, 4) AS INTEGER) - 1 AS VARCHAR) || '/'
                                  || lpad(CAST(CAST(left(period, 4) AS INTEGER) % 100 AS VARCHAR), 2, '0')
        END AS previous_period,
        CASE period_kind
            WHEN 'monat' THEN strftime(strptime(period || '-01', '%Y-%m-%d') - INTERVAL 12 MONTH, '%Y-%m')
            WHEN 'jahr' THEN CAST(CAST(period AS INTEGER) - 1 AS VARCHAR)
            WHEN 'schuljahr' THEN CAST(CAST(left(period, 4) AS INTEGER) - 1 AS VARCHAR) || '/'
                                  || lpad(CAST(CAST(left(period, 4) AS INTEGER) % 100 AS VARCHAR), 2, '0')
        END AS period_year_before
    FROM base
),
regions AS (SELECT DISTINCT region_code FROM main.indicator_values),
tgt AS (  -- targets resolved per region: a specific region wins over 'alle'
    SELECT r.region_code AS for_region, t.*
    FROM _imon_targets t
    JOIN regions r ON t.region_code = r.region_code OR t.region_code = '{ALL_REGIONS}'
    QUALIFY row_number() OVER (
        PARTITION BY t.indicator_id, t.group_code, r.region_code
        ORDER BY (t.region_code = '{ALL_REGIONS}')) = 1
),
joined AS (
    SELECT k.indicator_id, k.period, k.period_end, k.region_code, k.region_name, k.group_code,
           k.unit, k.is_suppressed, k.value, k.numerator,
           k.previous_period, p.value AS value_previous,
           k.period_year_before, y.value AS value_year_before,
           d.value AS district_value,
           t.target_value, t.target_direction, t.target_year, t.target_source, t.target_is_example,
           k.value - p.value AS change_previous,
           k.value - y.value AS change_year_before,
           CASE WHEN k.unit IN ({", ".join(repr(u) for u in RATE_UNITS)}) AND k.region_code <> '{DISTRICT_CODE}'
                THEN k.value - d.value END AS diff_to_district,
           greatest({POSITION_MIN_TOL}, {POSITION_REL_TOL} * abs(d.value)) AS position_tolerance,
           CASE t.target_direction WHEN 'hoch' THEN 1 WHEN 'runter' THEN -1 END AS dir,
           date_diff('day', k.period_end, make_date(t.target_year, 12, 31)) / 365.25 AS years_left
    FROM keyed k
    LEFT JOIN main.indicator_values p
           ON p.indicator_id = k.indicator_id AND p.region_code = k.region_code
          AND p.group_code = k.group_code AND p.period = k.previous_period
    LEFT JOIN main.indicator_values y
           ON y.indicator_id = k.indicator_id AND y.region_code = k.region_code
          AND y.group_code = k.group_code AND y.period = k.period_year_before
    LEFT JOIN main.indicator_values d
           ON d.indicator_id = k.indicator_id AND d.group_code = k.group_code
          AND d.period = k.period AND d.region_code = '{DISTRICT_CODE}'
    LEFT JOIN tgt t
           ON t.indicator_id = k.indicator_id AND t.group_code = k.group_code
          AND t.for_region = k.region_code
),
scored AS (
    SELECT *,
        value - target_value AS distance_to_target,
        dir * (target_value - value) AS gap,
        dir * change_year_before AS progress
    FROM joined
)
SELECT indicator_id, period, period_end, region_code, region_name, group_code, unit, is_suppressed,
       value,
       previous_period, value_previous, change_previous,
       period_year_before, value_year_before, change_year_before,
       district_value, diff_to_district,
       CASE WHEN diff_to_district IS NULL THEN NULL
            WHEN abs(diff_to_district) <= position_tolerance + {EPS} THEN 'gleich'
            WHEN diff_to_district > 0 THEN 'über Kreiswert'
            ELSE 'unter Kreiswert' END AS position,
       target_value, target_direction, target_year, target_source, target_is_example,
       distance_to_target,
       CASE WHEN target_value IS NULL OR value IS NULL THEN NULL
            WHEN gap <= {EPS} THEN 'auf Kurs'
            WHEN years_left <= 0 THEN 'nicht auf Kurs'
            WHEN progress IS NULL THEN 'beobachten'
            WHEN progress * years_left >= gap - {EPS} THEN 'auf Kurs'
            WHEN progress > {EPS} OR gap <= {TARGET_NEAR_REL} * abs(target_value) + {EPS} THEN 'beobachten'
            ELSE 'nicht auf Kurs' END AS status,
       CASE WHEN target_value IS NULL THEN NULL
            WHEN value IS NULL AND is_suppressed THEN 'Wert gesperrt (Datenschutz)'
            WHEN value IS NULL AND numerator IS NULL THEN 'keine Angabe der Gemeinde'
            WHEN value IS NULL THEN 'Wert nicht definiert'
            WHEN gap <= {EPS} THEN 'Ziel erreicht'
            WHEN years_left <= 0 THEN 'Zieljahr abgelaufen, Ziel nicht erreicht'
            WHEN progress IS NULL THEN 'kein Vorjahreswert, Trend unbekannt'
            WHEN progress * years_left >= gap - {EPS} THEN 'Trend des letzten Jahres erreicht das Ziel rechtzeitig'
            WHEN progress > {EPS} THEN 'Entwicklung in Zielrichtung, Tempo reicht nicht'
            WHEN gap <= {TARGET_NEAR_REL} * abs(target_value) + {EPS} AND progress < -{EPS}
                THEN 'knapp am Ziel, Entwicklung aber gegenläufig'
            WHEN gap <= {TARGET_NEAR_REL} * abs(target_value) + {EPS} THEN 'knapp am Ziel, ohne Fortschritt'
            ELSE 'Entwicklung unverändert oder gegen die Zielrichtung' END AS status_reason
FROM scored
ORDER BY indicator_id, group_code, region_code <> '{DISTRICT_CODE}', region_code, period_end
"""


def add_evaluation(con: duckdb.DuckDBPyConnection, targets_file: Path) -> None:
    """Create main.indicator_targets and main.indicator_evaluation (see the module docstring).

    Raises TargetsError when zielwerte.yml is malformed or names an unknown
    indicator or group, so a broken target file stops the publish visibly.
    """
    targets = load_targets(targets_file)
    _check_against_catalogue(con, targets)
    con.execute(TARGETS_DDL)
    cols = ["indicator_id", "group_code", "region_code", "target_value", "target_direction",
            "target_year", "target_source", "target_is_example", "target_note"]
    if targets:
        con.executemany(
            f"INSERT INTO main.indicator_targets VALUES ({', '.join('?' for _ in cols)})",
            [[t[c] for c in cols] for t in targets],
        )
    # A temp table keeps the evaluation one SQL statement without a Python loop over rows;
    # temp objects never reach the published file.
    con.execute("CREATE OR REPLACE TEMP TABLE _imon_targets AS SELECT * FROM main.indicator_targets")
    try:
        con.execute(EVALUATION_SQL)
    finally:
        con.execute("DROP TABLE IF EXISTS temp._imon_targets")
