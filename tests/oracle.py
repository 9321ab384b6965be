"""Independent recomputation ("oracle") of the published indicators (both editions).

Plain pandas, straight from the extract files in the inbox layout of
docs/contract/sources.md, following docs/contract/indicators.md literally. It shares
no code with the pipeline (orchestration/, sources/, dbt_project/ models) on
purpose: it is the reference the published warehouse is compared against, and
the plain-pandas speed reference of the benchmark.

Public API
    compute_indicators(extract_dir, reference_dir) -> DataFrame   published figures
    compute_unsuppressed(extract_dir, reference_dir) -> DataFrame same grid, rule not applied
    apply_suppression(frame) -> DataFrame                         both confidentiality rules
    apply_primary(frame) -> DataFrame                             the primary rule alone
    secondary_cells(frame, primary) -> {row label: round}         the secondary rule's rounds

The frame has the columns of `indicator_values` (warehouse.md). `period_end` is
a pandas datetime64 column (midnight Timestamps), `numerator`/`denominator`/
`value` are float64 with NaN for NULL, `is_suppressed` is bool.

How it works: every file is reduced on its own to a small count table
(period x municipality x breakdown flags); the indicators are then sums over
those tables. Which periods exist is decided by which files exist, never by
their content (a header-only file is present with zero rows).

Command line (benchmark): python tests/oracle.py EXTRACT_DIR [REFERENCE_DIR]
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DISTRICT_CODE = "08116"
# Read as data for the lists of groups and partitions (the secondary rule needs them); the
# formulas below are this file's own.
CATALOGUE_FILE = Path(__file__).resolve().parents[1] / "sources" / "indicators.yml"
DISTRICT_NAME = "Landkreis Esslingen"

COLUMNS = [
    "indicator_id", "period", "period_end", "region_code", "region_name", "group_code",
    "numerator", "denominator", "value", "unit", "is_suppressed",
]

NATIONALITY_GROUPS = ["insgesamt", "deutsch", "auslaendisch"]
JOBCENTER_GROUPS = NATIONALITY_GROUPS + ["fluchtkontext"]
STATUS_GROUPS = ["eu", "unbefristet", "befristet", "schutz_anerkannt", "schutz_offen",
                 "schutz_abgelehnt", "sonstige"]
HOUSING_GROUPS = ["insgesamt", "VU", "AU"]
ESU_GROUPS = NATIONALITY_GROUPS + ["familiensprache_deutsch", "familiensprache_andere"]
KITA_GROUPS = ["insgesamt", "unter_3", "3_bis_unter_6"]

# provider folder, file-name pattern (period in the name), encoding
FILE_TYPES = {
    "jobcenter": ("jobcenter", r"jobcenter_(\d{4})-(\d{2})\.csv", "utf-8-sig"),
    "abh_bestand": ("auslaenderbehoerde", r"abh_bestand_(\d{4})-(\d{2})\.csv", "cp1252"),
    "abh_einbuergerungen": ("auslaenderbehoerde", r"abh_einbuergerungen_(\d{4})-(\d{2})\.csv", "cp1252"),
    "schulstatistik": ("schulen", r"schulstatistik_(\d{4})\.csv", "utf-8-sig"),
    "schulabgaenger": ("schulen", r"schulabgaenger_(\d{4})\.csv", "utf-8-sig"),
    "unterbringung": ("wohnen", r"unterbringung_(\d{4})-(\d{2})\.xlsx", None),
    "bevoelkerung": ("bevoelkerung", r"bevoelkerung_(\d{4})\.csv", "utf-8-sig"),
    # second edition
    "esu": ("gesundheitsamt", r"esu_(\d{4})\.csv", "utf-8-sig"),
    "kita": ("jugendamt", r"kita_(\d{4})\.csv", "utf-8-sig"),
    "hilfe_zur_pflege": ("sozialamt", r"hilfe_zur_pflege_(\d{4})\.csv", "cp1252"),
    "engagement": ("integration", r"engagement_(\d{4})\.csv", "utf-8-sig"),
}


# --------------------------------------------------------------------------- files

def _find(extract_dir: Path, file_type: str) -> dict[tuple[int, ...], Path]:
    """Files of one type, keyed by the period in their name: (year,) or (year, month)."""
    folder, pattern, _ = FILE_TYPES[file_type]
    found: dict[tuple[int, ...], Path] = {}
    directory = Path(extract_dir) / folder
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        match = re.fullmatch(pattern, path.name)
        if match and path.is_file():
            key = tuple(int(part) for part in match.groups())
            if len(key) == 1 or 1 <= key[1] <= 12:
                found[key] = path
    return found


def _norm(name: object) -> str:
    return str(name).strip().lower()


def _read_csv(path: Path, file_type: str, columns: list[str]) -> pd.DataFrame:
    """Only the needed columns, matched case-insensitively with blanks stripped; all text."""
    encoding = FILE_TYPES[file_type][2]
    wanted = set(columns)
    frame = pd.read_csv(
        path, sep=";", dtype=str, encoding=encoding,
        keep_default_na=False, na_values=[""],  # only an empty cell is NULL
        usecols=lambda c: _norm(c) in wanted,
    )
    frame.columns = [_norm(c) for c in frame.columns]
    missing = wanted - set(frame.columns)
    if missing:
        raise ValueError(f"{path.name}: Spalte(n) fehlen: {sorted(missing)}")
    return frame


def _check_period(path: Path, values: pd.Series, expected: str) -> None:
    """The oracle trusts the file name for the period, but refuses content that contradicts it."""
    seen = set(values.dropna().unique())
    if seen - {expected}:
        raise ValueError(f"{path.name}: Periode im Inhalt {sorted(seen)} passt nicht zu {expected!r}")


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


# --------------------------------------------------------------------------- periods

def _month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _school_label(year: int) -> str:
    return f"{year:04d}/{(year + 1) % 100:02d}"


def _period_end(period: str) -> dt.date:
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return _month_end(int(period[:4]), int(period[5:]))
    if re.fullmatch(r"\d{4}/\d{2}", period):
        return dt.date(int(period[:4]) + 1, 7, 31)
    return dt.date(int(period), 12, 31)


def _month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def _month_from_index(index: int) -> tuple[int, int]:
    return index // 12, index % 12 + 1


# --------------------------------------------------------------------------- aggregation helpers

def _by_group(frame: pd.DataFrame, keys: list[str], masks: dict[str, pd.Series],
              values: list[str]) -> pd.DataFrame:
    """Sum `values` by `keys` once per group (rows selected by that group's mask);
    result indexed by keys + group_code."""
    parts = []
    for group, mask in masks.items():
        summed = frame.loc[mask.to_numpy(dtype=bool), keys + values].groupby(keys)[values].sum()
        parts.append(summed.assign(group_code=group).set_index("group_code", append=True))
    return pd.concat(parts)


class _Grid:
    """Turns sums per (period, ags, group) into the dense published grid of one indicator."""

    def __init__(self, municipalities: pd.DataFrame):
        self.names = dict(zip(municipalities["ags"], municipalities["name"]))
        self.names[DISTRICT_CODE] = DISTRICT_NAME
        self.regions = [DISTRICT_CODE] + sorted(municipalities["ags"])
        self.frames: list[pd.DataFrame] = []

    def add(self, indicator_id: str, sums: pd.DataFrame, periods: list[str], groups: list[str],
            rate: bool, denominator_divisor: int = 1, unit: str | None = None,
            unanswered: pd.DataFrame | None = None) -> None:
        """sums: index (period, ags, group_code), columns num [, den]. The district is the sum
        of all rows (whatever their ags); every municipality x group x period gets a row.
        unit: 'prozent' (default for rates), 'je_1000', 'je_100' (rates), 'anzahl' (default
        for counts), 'anzahl_gemeinden'. unanswered: (period, ags) pairs whose rows have no
        figures at all (NULL numerator, denominator, value); they are not in `sums`."""
        unit = unit or ("prozent" if rate else "anzahl")
        factor = {"prozent": 100.0, "je_1000": 1000.0, "je_100": 100.0}.get(unit)
        cols = ["num", "den"] if rate else ["num"]
        sums = sums[cols]
        sums.index = sums.index.set_names(["period", "region_code", "group_code"])
        district = sums.groupby(level=["period", "group_code"]).sum()
        district["region_code"] = DISTRICT_CODE
        district = district.set_index("region_code", append=True).reorder_levels(
            ["period", "region_code", "group_code"])
        full = pd.MultiIndex.from_product([sorted(periods), self.regions, groups],
                                          names=["period", "region_code", "group_code"])
        dense = pd.concat([sums, district]).reindex(full, fill_value=0).reset_index()

        out = pd.DataFrame({
            "indicator_id": indicator_id,
            "period": dense["period"],
            "period_end": pd.to_datetime(dense["period"].map(_period_end)),
            "region_code": dense["region_code"],
            "region_name": dense["region_code"].map(self.names),
            "group_code": dense["group_code"],
            "numerator": dense["num"].astype("float64"),
        })
        if rate:
            den = dense["den"].astype("float64") / denominator_divisor
            out["denominator"] = den
            with np.errstate(divide="ignore", invalid="ignore"):
                out["value"] = np.where(den != 0, factor * out["numerator"] / den, np.nan)
        else:
            out["denominator"] = np.nan
            out["value"] = out["numerator"]
        out["unit"] = unit
        if unanswered is not None and len(unanswered):
            gone = pd.MultiIndex.from_frame(unanswered[["period", "ags"]])
            hit = pd.MultiIndex.from_arrays([out["period"], out["region_code"]]).isin(gone)
            out.loc[hit, ["numerator", "denominator", "value"]] = np.nan
        out["is_suppressed"] = False
        self.frames.append(out)

    def result(self) -> pd.DataFrame:
        frames = [f for f in self.frames if len(f)]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        out = pd.concat(frames, ignore_index=True)[COLUMNS]
        return out.sort_values(["indicator_id", "period", "region_code", "group_code"],
                               ignore_index=True)


# --------------------------------------------------------------------------- work and language

JOBCENTER_COLUMNS = ["berichtsmonat", "geburtsjahr", "staatsangehoerigkeit", "fluchtkontext", "ags",
                     "elb", "erwerbstaetig", "integrationskurs", "integration_beschaeftigung"]
JOBCENTER_FLAGS = ["unter65", "elb", "elb_erwerbstaetig", "elb_integration",
                   "spr_basis", "spr_b1", "spr_abgeschlossen", "spr_teilnahme"]


def _jobcenter_counts(path: Path, year: int, month: int) -> pd.DataFrame:
    """One month reduced to flag counts per (ags, deutsch, flucht)."""
    df = _read_csv(path, "jobcenter", JOBCENTER_COLUMNS)
    _check_period(path, df["berichtsmonat"], _month_label(year, month))
    elb = df["elb"].eq("J").fillna(False)
    flucht = df["fluchtkontext"].eq("J").fillna(False)
    kurs = df["integrationskurs"]
    spr = elb & flucht
    flags = pd.DataFrame({
        "ags": df["ags"],
        "deutsch": df["staatsangehoerigkeit"].eq("000").fillna(False),
        "flucht": flucht,
        # age = year(berichtsmonat) - geburtsjahr <= 64
        "unter65": pd.to_numeric(df["geburtsjahr"]) >= year - 64,
        "elb": elb,
        "elb_erwerbstaetig": elb & df["erwerbstaetig"].eq("J").fillna(False),
        "elb_integration": elb & df["integration_beschaeftigung"].eq("J").fillna(False),
        "spr_basis": spr,  # an empty integrationskurs counts here
        "spr_b1": spr & kurs.eq("abgeschlossen_b1").fillna(False),
        "spr_abgeschlossen": spr & kurs.isin(["abgeschlossen_b1", "abgeschlossen_unter_b1"]),
        "spr_teilnahme": spr & kurs.isin(["laufend", "abgeschlossen_b1", "abgeschlossen_unter_b1"]),
    })
    counts = flags.groupby(["ags", "deutsch", "flucht"])[JOBCENTER_FLAGS].sum().reset_index()
    counts.insert(0, "month_index", _month_index(year, month))
    return counts


def _jobcenter_groups(counts: pd.DataFrame, keys: list[str], values: list[str],
                      groups: list[str]) -> pd.DataFrame:
    masks = {
        "insgesamt": pd.Series(True, index=counts.index),
        "deutsch": counts["deutsch"],
        "auslaendisch": ~counts["deutsch"],
        "fluchtkontext": counts["flucht"],
    }
    return _by_group(counts, keys, {g: masks[g] for g in groups}, values)


def _population_counts(path: Path, year: int) -> pd.DataFrame:
    df = _read_csv(path, "bevoelkerung",
                   ["stichtag", "ags", "altersgruppe", "staatsangehoerigkeit", "anzahl"])
    _check_period(path, df["stichtag"], f"31.12.{year:04d}")
    return pd.DataFrame({
        "year": year,
        "ags": df["ags"],
        "deutsch": df["staatsangehoerigkeit"].eq("deutsch").fillna(False),
        "auslaendisch": df["staatsangehoerigkeit"].eq("auslaendisch").fillna(False),
        "unter65": df["altersgruppe"].ne("65+").fillna(True),
        "anzahl": pd.to_numeric(df["anzahl"]),
    })


def _work_and_language(grid: _Grid, extract_dir: Path) -> None:
    jc_files = _find(extract_dir, "jobcenter")
    pop_files = _find(extract_dir, "bevoelkerung")
    months = {_month_index(y, m) for (y, m) in jc_files}
    if jc_files:
        counts = pd.concat([_jobcenter_counts(p, y, m) for (y, m), p in jc_files.items()],
                           ignore_index=True)
    else:
        counts = pd.DataFrame(columns=["month_index", "ags", "deutsch", "flucht"] + JOBCENTER_FLAGS)
        counts[["deutsch", "flucht"]] = counts[["deutsch", "flucht"]].astype(bool)
    counts["period"] = [_month_label(*_month_from_index(i)) for i in counts["month_index"]]
    month_labels = sorted(_month_label(*_month_from_index(i)) for i in months)
    keys = ["period", "ags"]

    def rate(indicator_id: str, num: str, den: str, groups: list[str]) -> None:
        sums = _jobcenter_groups(counts, keys, [num, den], groups)
        grid.add(indicator_id, sums.rename(columns={num: "num", den: "den"}), month_labels,
                 groups, rate=True)

    # ARB-02: count of elb
    sums = _jobcenter_groups(counts, keys, ["elb"], JOBCENTER_GROUPS)
    grid.add("ARB-02", sums.rename(columns={"elb": "num"}), month_labels, JOBCENTER_GROUPS, rate=False)
    rate("ARB-04", "elb_erwerbstaetig", "elb", JOBCENTER_GROUPS)
    rate("SPR-01", "spr_b1", "spr_abgeschlossen", ["fluchtkontext"])
    rate("SPR-02", "spr_teilnahme", "spr_basis", ["fluchtkontext"])

    # ARB-01: under-65 benefit recipients / under-65 population of 31.12. of the previous year
    pop = (pd.concat([_population_counts(p, y) for (y,), p in pop_files.items()], ignore_index=True)
           if pop_files else None)
    arb01_months = sorted(i for i in months if (_month_from_index(i)[0] - 1,) in pop_files)
    arb01_labels = [_month_label(*_month_from_index(i)) for i in arb01_months]
    num = _jobcenter_groups(counts[counts["month_index"].isin(arb01_months)], keys,
                            ["unter65"], NATIONALITY_GROUPS)["unter65"].rename("num")
    if pop is not None and arb01_months:
        pop_u65 = pop[pop["unter65"]]
        pop_sums = _by_group(pop_u65, ["year", "ags"], {
            "insgesamt": pd.Series(True, index=pop_u65.index),
            "deutsch": pop_u65["deutsch"],
            "auslaendisch": pop_u65["auslaendisch"],
        }, ["anzahl"]).reset_index()
        # each published month takes the population of the previous year
        month_year = pd.DataFrame({"period": arb01_labels,
                                   "year": [_month_from_index(i)[0] - 1 for i in arb01_months]})
        den = (month_year.merge(pop_sums, on="year")
               .set_index(["period", "ags", "group_code"])["anzahl"].rename("den"))
        sums = pd.concat([num, den], axis=1).fillna(0)
    else:
        sums = pd.DataFrame({"num": num, "den": 0})
    grid.add("ARB-01", sums, arb01_labels, NATIONALITY_GROUPS, rate=True)

    # ARB-03: rolling 12 months ending in m; published only when m-11..m are all present.
    # Each month's counts are copied to the 12 windows it belongs to, then summed per window.
    arb03_months = sorted(i for i in months if all(i - k in months for k in range(12)))
    window = pd.concat([counts.assign(end=counts["month_index"] + k) for k in range(12)],
                       ignore_index=True)
    window = window[window["end"].isin(arb03_months)]
    window["period"] = [_month_label(*_month_from_index(i)) for i in window["end"]]
    sums = _jobcenter_groups(window, keys, ["elb_integration", "elb"], JOBCENTER_GROUPS)
    # den carries the 12-month sum of stocks here; the grid divides it by 12 (average stock)
    grid.add("ARB-03", sums.rename(columns={"elb_integration": "num", "elb": "den"}),
             [_month_label(*_month_from_index(i)) for i in arb03_months], JOBCENTER_GROUPS,
             rate=True, denominator_divisor=12)


# --------------------------------------------------------------------------- legal status

def _bestand_counts(path: Path, year: int, month: int, status_groups: dict[str, str]) -> pd.DataFrame:
    """One snapshot reduced to row counts per (ags, statusgruppe), plus, for REC-04 of year+1,
    the rows with einreisedatum on or before 31.12.(year-5) -- five full years at end of `year`."""
    df = _read_csv(path, "abh_bestand", ["stichtag", "ags", "aufenthaltsstatus", "einreisedatum"])
    end = _month_end(year, month)
    _check_period(path, df["stichtag"], end.strftime("%d.%m.%Y"))
    if month == 12:
        entry = pd.to_datetime(df["einreisedatum"], format="%d.%m.%Y")
        long_stay = entry <= pd.Timestamp(year - 5, 12, 31)
    else:
        long_stay = pd.Series(False, index=df.index)
    counts = (pd.DataFrame({"ags": df["ags"], "status": df["aufenthaltsstatus"],
                            "rows": 1, "long_stay": long_stay.astype("int64")})
              .groupby(["ags", "status"], dropna=False)[["rows", "long_stay"]].sum().reset_index())
    counts["statusgruppe"] = counts["status"].map(status_groups)
    counts.insert(0, "period", _month_label(year, month))
    counts.insert(1, "year", year)
    return counts


def _naturalisation_counts(path: Path, year: int, month: int) -> pd.DataFrame:
    df = _read_csv(path, "abh_einbuergerungen", ["einbuergerungsdatum", "ags"])
    _check_period(path, df["einbuergerungsdatum"].str[3:], f"{month:02d}.{year:04d}")
    counts = df.groupby("ags").size().rename("rows").reset_index()
    counts.insert(0, "year", year)
    return counts


def _legal_status(grid: _Grid, extract_dir: Path, status_groups: dict[str, str]) -> None:
    bestand_files = _find(extract_dir, "abh_bestand")
    nat_files = _find(extract_dir, "abh_einbuergerungen")

    bestand = (pd.concat([_bestand_counts(p, y, m, status_groups) for (y, m), p in bestand_files.items()],
                         ignore_index=True)
               if bestand_files else
               pd.DataFrame(columns=["period", "year", "ags", "status", "rows", "long_stay", "statusgruppe"]))
    periods = sorted(_month_label(y, m) for (y, m) in bestand_files)
    keys = ["period", "ags"]

    # REC-01: rows, in total and per statusgruppe
    masks = {"insgesamt": pd.Series(True, index=bestand.index)}
    masks.update({g: bestand["statusgruppe"].eq(g).fillna(False) for g in STATUS_GROUPS})
    sums = _by_group(bestand, keys, masks, ["rows"]).rename(columns={"rows": "num"})
    grid.add("REC-01", sums, periods, ["insgesamt"] + STATUS_GROUPS, rate=False)

    # REC-02: unbefristet / statusgruppe <> 'eu' (SQL semantics: an unknown group is in neither)
    rec02 = pd.DataFrame({
        "period": bestand["period"], "ags": bestand["ags"],
        "num": bestand["rows"].where(bestand["statusgruppe"].eq("unbefristet").fillna(False), 0),
        "den": bestand["rows"].where(bestand["statusgruppe"].ne("eu")
                                     & bestand["statusgruppe"].notna(), 0),
    })
    sums = _by_group(rec02, keys, {"insgesamt": pd.Series(True, index=rec02.index)}, ["num", "den"])
    grid.add("REC-02", sums, periods, ["insgesamt"], rate=True)

    # REC-03: naturalisations of a year with all twelve monthly files (header-only counts)
    years = sorted({y for (y, _) in nat_files if all((y, m) in nat_files for m in range(1, 13))})
    nat = (pd.concat([_naturalisation_counts(nat_files[(y, m)], y, m)
                      for y in years for m in range(1, 13)], ignore_index=True)
           if years else pd.DataFrame(columns=["year", "ags", "rows"]))
    nat["period"] = nat["year"].astype(str)
    nat_sums = _by_group(nat, keys, {"insgesamt": pd.Series(True, index=nat.index)}, ["rows"])
    grid.add("REC-03", nat_sums.rename(columns={"rows": "num"}), [str(y) for y in years],
             ["insgesamt"], rate=False)

    # REC-04: REC-03 of Y / long-stay rows of the December snapshot of Y-1
    rec04_years = [y for y in years if (y - 1, 12) in bestand_files]
    december = bestand[bestand["period"].isin([_month_label(y - 1, 12) for y in rec04_years])]
    december = december.assign(period=(december["year"] + 1).astype(str))
    den = _by_group(december, keys, {"insgesamt": pd.Series(True, index=december.index)},
                    ["long_stay"])["long_stay"].rename("den")
    num = nat_sums["rows"].rename("num")
    num = num[num.index.get_level_values("period").isin([str(y) for y in rec04_years])]
    sums = pd.concat([num, den], axis=1).fillna(0)
    grid.add("REC-04", sums, [str(y) for y in rec04_years], ["insgesamt"], rate=True)


# --------------------------------------------------------------------------- education

def _nationality_masks(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "insgesamt": pd.Series(True, index=frame.index),
        "deutsch": frame["staatsangehoerigkeit"].eq("deutsch").fillna(False),
        "auslaendisch": frame["staatsangehoerigkeit"].eq("auslaendisch").fillna(False),
    }


def _education(grid: _Grid, extract_dir: Path) -> None:
    pupil_frames, leaver_frames = [], []
    pupil_files = _find(extract_dir, "schulstatistik")
    leaver_files = _find(extract_dir, "schulabgaenger")
    for (year,), path in pupil_files.items():
        df = _read_csv(path, "schulstatistik",
                       ["schuljahr", "ags", "schulart", "klassenstufe", "staatsangehoerigkeit", "schueler"])
        _check_period(path, df["schuljahr"], _school_label(year))
        stufe = pd.to_numeric(df["klassenstufe"], errors="coerce")  # VKL/VABO -> NaN
        sek1 = stufe.between(5, 10)
        schueler = pd.to_numeric(df["schueler"])
        pupil_frames.append(pd.DataFrame({
            "period": _school_label(year),
            "ags": df["ags"],
            "staatsangehoerigkeit": df["staatsangehoerigkeit"],
            "gy": schueler.where(sek1 & df["schulart"].eq("GY").fillna(False), 0),
            "sek1": schueler.where(sek1 & df["schulart"].isin(["WRS", "RS", "GMS", "GY", "SBBZ"]), 0),
            "vorbereitung": schueler.where(df["klassenstufe"].isin(["VKL", "VABO"]), 0),
        }))
    for (year,), path in leaver_files.items():
        df = _read_csv(path, "schulabgaenger",
                       ["schuljahr", "ags", "abschluss", "staatsangehoerigkeit", "anzahl"])
        _check_period(path, df["schuljahr"], _school_label(year))
        anzahl = pd.to_numeric(df["anzahl"])
        leaver_frames.append(pd.DataFrame({
            "period": _school_label(year),
            "ags": df["ags"],
            "staatsangehoerigkeit": df["staatsangehoerigkeit"],
            "ohne_hsa": anzahl.where(df["abschluss"].eq("ohne_hsa").fillna(False), 0),
            "alle": anzahl,
        }))
    empty = pd.DataFrame(columns=["period", "ags", "staatsangehoerigkeit"])
    pupils = pd.concat(pupil_frames, ignore_index=True) if pupil_frames else empty.assign(
        gy=0, sek1=0, vorbereitung=0)
    leavers = pd.concat(leaver_frames, ignore_index=True) if leaver_frames else empty.assign(
        ohne_hsa=0, alle=0)
    pupil_periods = [_school_label(y) for (y,) in pupil_files]
    leaver_periods = [_school_label(y) for (y,) in leaver_files]
    keys = ["period", "ags"]

    sums = _by_group(pupils, keys, _nationality_masks(pupils), ["gy", "sek1"])
    grid.add("BIL-01", sums.rename(columns={"gy": "num", "sek1": "den"}), pupil_periods,
             NATIONALITY_GROUPS, rate=True)
    sums = _by_group(pupils, keys, {"insgesamt": pd.Series(True, index=pupils.index)}, ["vorbereitung"])
    grid.add("BIL-02", sums.rename(columns={"vorbereitung": "num"}), pupil_periods,
             ["insgesamt"], rate=False)
    sums = _by_group(leavers, keys, _nationality_masks(leavers), ["ohne_hsa", "alle"])
    grid.add("BIL-03", sums.rename(columns={"ohne_hsa": "num", "alle": "den"}), leaver_periods,
             NATIONALITY_GROUPS, rate=True)


# --------------------------------------------------------------------------- housing

def _excel_ags(value: object) -> str:
    """An AGS typed as a number in Excel loses its leading zero."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{int(value):08d}"
    return str(value).strip()


def _excel_date(value: object) -> dt.date | None:
    """Stichtag: a real date cell or dd.mm.yyyy text."""
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.datetime.strptime(str(value).strip(), "%d.%m.%Y").date()
    except ValueError:
        return None


def _housing_counts(path: Path, year: int, month: int) -> pd.DataFrame:
    df = pd.read_excel(path, sheet_name="Belegung", dtype=object, engine="calamine")
    df.columns = [_norm(c) for c in df.columns]
    needed = ["stichtag", "art", "ags", "plaetze", "belegt", "davon_schutzstatus", "auszuege_privat"]
    missing = set(needed) - set(df.columns)
    if missing:
        raise ValueError(f"{path.name}: Spalte(n) fehlen: {sorted(missing)}")
    df = df[needed].dropna(how="all")
    stichtage = {_excel_date(v) for v in df["stichtag"]}
    if stichtage - {_month_end(year, month)}:
        raise ValueError(f"{path.name}: Stichtag {sorted(map(str, stichtage))} passt nicht zum Dateinamen")
    out = pd.DataFrame({"period": _month_label(year, month),
                        "ags": df["ags"].map(_excel_ags),
                        "art": df["art"].astype(str).str.strip()})
    for col in ["plaetze", "belegt", "davon_schutzstatus", "auszuege_privat"]:
        out[col] = pd.to_numeric(df[col]).astype("float64")
    return out


def _housing(grid: _Grid, extract_dir: Path) -> None:
    files = _find(extract_dir, "unterbringung")
    cols = ["period", "ags", "art", "plaetze", "belegt", "davon_schutzstatus", "auszuege_privat"]
    facilities = (pd.concat([_housing_counts(p, y, m) for (y, m), p in files.items()], ignore_index=True)
                  if files else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
    periods = sorted(_month_label(y, m) for (y, m) in files)
    keys = ["period", "ags"]
    masks = {"insgesamt": pd.Series(True, index=facilities.index),
             "VU": facilities["art"].eq("VU"), "AU": facilities["art"].eq("AU")}

    sums = _by_group(facilities, keys, masks, ["belegt", "plaetze"])
    grid.add("WOH-01", sums.rename(columns={"belegt": "num", "plaetze": "den"}), periods,
             HOUSING_GROUPS, rate=True)
    sums = _by_group(facilities, keys, {"VU": masks["VU"]}, ["davon_schutzstatus", "belegt"])
    grid.add("WOH-02", sums.rename(columns={"davon_schutzstatus": "num", "belegt": "den"}), periods,
             ["VU"], rate=True)
    sums = _by_group(facilities, keys, masks, ["auszuege_privat"])
    grid.add("WOH-03", sums.rename(columns={"auszuege_privat": "num"}), periods,
             HOUSING_GROUPS, rate=False)


# --------------------------------------------------------------------------- demography

def _demography(grid: _Grid, extract_dir: Path) -> None:
    files = _find(extract_dir, "bevoelkerung")
    frames = []
    for (year,), path in files.items():
        pop = _population_counts(path, year)
        frames.append(pd.DataFrame({
            "period": str(year), "ags": pop["ags"],
            "num": pop["anzahl"].where(pop["auslaendisch"], 0), "den": pop["anzahl"],
        }))
    pop = (pd.concat(frames, ignore_index=True) if frames
           else pd.DataFrame(columns=["period", "ags", "num", "den"]))
    sums = _by_group(pop, ["period", "ags"], {"insgesamt": pd.Series(True, index=pop.index)},
                     ["num", "den"])
    grid.add("DEM-01", sums, [str(y) for (y,) in files], ["insgesamt"], rate=True)


# --------------------------------------------------------------------------- health, access to services

def _esu(grid: _Grid, extract_dir: Path) -> None:
    """GES-01..03 and REG-01 from esu_Y (one row per examined child; region = residence)."""
    files = _find(extract_dir, "esu")
    frames = []
    for (year,), path in files.items():
        df = _read_csv(path, "esu", ["untersuchungsjahr", "ags", "staatsangehoerigkeit", "familiensprache",
                                     "kita_monate", "vorsorgeheft", "u8", "impfpass", "masern_impfungen",
                                     "sprachbefund"])
        _check_period(path, df["untersuchungsjahr"], _school_label(year))
        heft = df["vorsorgeheft"].eq("J").fillna(False)
        impf = df["impfpass"].eq("J").fillna(False)
        monate = pd.to_numeric(df["kita_monate"])
        masern = pd.to_numeric(df["masern_impfungen"])
        frames.append(pd.DataFrame({
            "period": _school_label(year),
            "ags": df["ags"],
            "staatsangehoerigkeit": df["staatsangehoerigkeit"],
            "familiensprache": df["familiensprache"],
            "u8": (heft & df["u8"].eq("J").fillna(False)).astype(int), "heft": heft.astype(int),
            "masern2": (impf & masern.eq(2).fillna(False)).astype(int), "impf": impf.astype(int),
            "intensiv": df["sprachbefund"].eq("intensiv").fillna(False).astype(int),
            "getestet": df["sprachbefund"].isin(["unauffaellig", "foerderbedarf", "intensiv"]).astype(int),
            "kurz": monate.lt(24).fillna(False).astype(int), "monate_bekannt": monate.notna().astype(int),
        }))
    cols = ["period", "ags", "staatsangehoerigkeit", "familiensprache", "u8", "heft", "masern2", "impf",
            "intensiv", "getestet", "kurz", "monate_bekannt"]
    esu = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    periods = [_school_label(y) for (y,) in files]
    masks = _nationality_masks(esu)
    # an empty family language counts in insgesamt and its nationality group only
    masks["familiensprache_deutsch"] = esu["familiensprache"].eq("deutsch").fillna(False)
    masks["familiensprache_andere"] = esu["familiensprache"].isin(["deutsch_und_andere", "andere"])
    for indicator, num, den in [("GES-01", "u8", "heft"), ("GES-02", "masern2", "impf"),
                                ("GES-03", "intensiv", "getestet"), ("REG-01", "kurz", "monate_bekannt")]:
        sums = _by_group(esu, ["period", "ags"], masks, [num, den])
        grid.add(indicator, sums.rename(columns={num: "num", den: "den"}), periods, ESU_GROUPS, rate=True)


def _kita(grid: _Grid, extract_dir: Path) -> None:
    """REG-02 and REG-03 from kita_Y (counts of children where the Kita stands)."""
    files = _find(extract_dir, "kita")
    pop_files = _find(extract_dir, "bevoelkerung")
    frames = []
    for (year,), path in files.items():
        df = _read_csv(path, "kita", ["stichtag", "ags", "altersgruppe", "herkunft", "kinder"])
        _check_period(path, df["stichtag"], f"01.03.{year:04d}")
        kinder = pd.to_numeric(df["kinder"])
        frames.append(pd.DataFrame({
            "period": str(year), "ags": df["ags"], "altersgruppe": df["altersgruppe"],
            "auslaendisch": kinder.where(df["herkunft"].eq("auslaendisch").fillna(False), 0),
            "kinder": kinder,
        }))
    cols = ["period", "ags", "altersgruppe", "auslaendisch", "kinder"]
    kita = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    periods = [str(y) for (y,) in files]
    masks = {"insgesamt": pd.Series(True, index=kita.index),
             "unter_3": kita["altersgruppe"].eq("unter_3"),
             "3_bis_unter_6": kita["altersgruppe"].eq("3_bis_unter_6")}
    sums = _by_group(kita, ["period", "ags"], masks, ["auslaendisch", "kinder"])
    grid.add("REG-02", sums.rename(columns={"auslaendisch": "num", "kinder": "den"}), periods,
             KITA_GROUPS, rate=True)

    # REG-03: all children / residents aged 00-05 on 31.12. of the year before
    years = [y for (y,) in files if (y - 1,) in pop_files]
    counted = kita[kita["period"].isin([str(y) for y in years])]
    num = _by_group(counted, ["period", "ags"], {"insgesamt": pd.Series(True, index=counted.index)},
                    ["kinder"])["kinder"].rename("num")
    pops = []
    for y in years:
        pop = _read_csv(pop_files[(y - 1,)], "bevoelkerung", ["ags", "altersgruppe", "anzahl"])
        small = pop[pop["altersgruppe"].eq("00-05").fillna(False)]
        pops.append(pd.DataFrame({"period": str(y), "ags": small["ags"], "group_code": "insgesamt",
                                  "den": pd.to_numeric(small["anzahl"])}))
    den = (pd.concat(pops).groupby(["period", "ags", "group_code"])["den"].sum() if pops
           else pd.Series(dtype="float64", name="den"))
    sums = pd.concat([num, den], axis=1).fillna(0) if years else pd.DataFrame(
        {"num": pd.Series(dtype="float64"), "den": pd.Series(dtype="float64")},
        index=pd.MultiIndex.from_arrays([[], [], []], names=["period", "ags", "group_code"]))
    grid.add("REG-03", sums, [str(y) for y in years], ["insgesamt"], rate=True)


# --------------------------------------------------------------------------- long-term care

def _care(grid: _Grid, extract_dir: Path) -> None:
    """PFL-01 (per 1,000 residents 65+, same 31 December) and PFL-02 from hilfe_zur_pflege_Y."""
    files = _find(extract_dir, "hilfe_zur_pflege")
    pop_files = _find(extract_dir, "bevoelkerung")
    frames = []
    for (year,), path in files.items():
        df = _read_csv(path, "hilfe_zur_pflege", ["stichtag", "geburtsjahr", "staatsangehoerigkeit", "ags",
                                                  "leistungsort"])
        _check_period(path, df["stichtag"], f"31.12.{year:04d}")
        frames.append(pd.DataFrame({
            "period": str(year), "ags": df["ags"],
            "deutsch": df["staatsangehoerigkeit"].eq("000").fillna(False),
            "ab65": (year - pd.to_numeric(df["geburtsjahr"]) >= 65).astype(int),
            "stationaer": df["leistungsort"].eq("stationaer").fillna(False).astype(int),
            "alle": 1,
        }))
    cols = ["period", "ags", "deutsch", "ab65", "stationaer", "alle"]
    care = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    care["deutsch"] = care["deutsch"].astype(bool)
    masks = {"insgesamt": pd.Series(True, index=care.index), "deutsch": care["deutsch"],
             "auslaendisch": ~care["deutsch"]}
    periods = [str(y) for (y,) in files]
    sums = _by_group(care, ["period", "ags"], masks, ["stationaer", "alle"])
    grid.add("PFL-02", sums.rename(columns={"stationaer": "num", "alle": "den"}), periods,
             NATIONALITY_GROUPS, rate=True)

    years = [y for (y,) in files if (y,) in pop_files]
    counted = care[care["period"].isin([str(y) for y in years])]
    num = _by_group(counted, ["period", "ags"], {g: m[counted.index] for g, m in masks.items()},
                    ["ab65"])["ab65"].rename("num")
    dens = []
    for y in years:
        pop = _population_counts(pop_files[(y,)], y)
        old = pop[~pop["unter65"]]
        dens.append(_by_group(old.assign(period=str(y)), ["period", "ags"], {
            "insgesamt": pd.Series(True, index=old.index), "deutsch": old["deutsch"],
            "auslaendisch": old["auslaendisch"]}, ["anzahl"])["anzahl"].rename("den"))
    sums = (pd.concat([num, pd.concat(dens)], axis=1).fillna(0) if years
            else pd.DataFrame({"num": num, "den": 0}))
    grid.add("PFL-01", sums, [str(y) for y in years], NATIONALITY_GROUPS, rate=True, unit="je_1000")


# --------------------------------------------------------------------------- civic engagement

def _engagement(grid: _Grid, extract_dir: Path) -> None:
    """ENG-01 (municipalities with a council or committee) and ENG-02 (volunteers per 100
    people in AU facilities in December; municipalities that did not answer count nowhere)."""
    files = _find(extract_dir, "engagement")
    housing = _find(extract_dir, "unterbringung")
    frames = []
    for (year,), path in files.items():
        df = _read_csv(path, "engagement", ["jahr", "ags", "integrationsgremium", "ehrenamtliche"])
        _check_period(path, df["jahr"], str(year))
        frames.append(pd.DataFrame({
            "period": str(year), "ags": df["ags"],
            "gremium": df["integrationsgremium"].isin(["rat", "ausschuss"]).astype(int),
            "ehrenamtliche": pd.to_numeric(df["ehrenamtliche"]).astype("float64"),
        }))
    cols = ["period", "ags", "gremium", "ehrenamtliche"]
    eng = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    everyone = {"insgesamt": pd.Series(True, index=eng.index)}
    sums = _by_group(eng, ["period", "ags"], everyone, ["gremium"])
    grid.add("ENG-01", sums.rename(columns={"gremium": "num"}), [str(y) for (y,) in files], ["insgesamt"],
             rate=False, unit="anzahl_gemeinden")

    years = [y for (y,) in files if (y, 12) in housing]
    answered = eng[eng["period"].isin([str(y) for y in years]) & eng["ehrenamtliche"].notna()]
    unanswered = eng[eng["period"].isin([str(y) for y in years]) & eng["ehrenamtliche"].isna()]
    num = _by_group(answered, ["period", "ags"], {"insgesamt": pd.Series(True, index=answered.index)},
                    ["ehrenamtliche"])["ehrenamtliche"].rename("num")
    dens = []
    for y in years:
        fac = _housing_counts(housing[(y, 12)], y, 12)
        au = fac[fac["art"].eq("AU")]
        dens.append(au.groupby("ags")["belegt"].sum().rename("den").reset_index().assign(
            period=str(y), group_code="insgesamt"))
    den = (pd.concat(dens).set_index(["period", "ags", "group_code"])["den"] if dens
           else pd.Series(dtype="float64", name="den"))
    # the AU residents of a municipality that did not answer count in neither sum
    if len(den):
        keep = ~pd.MultiIndex.from_arrays([den.index.get_level_values(0), den.index.get_level_values(1)]).isin(
            pd.MultiIndex.from_frame(unanswered[["period", "ags"]]))
        den = den[keep]
    sums = pd.concat([num, den], axis=1).fillna(0) if years else pd.DataFrame({"num": num, "den": 0})
    grid.add("ENG-02", sums, [str(y) for y in years], ["insgesamt"], rate=True, unit="je_100",
             unanswered=unanswered)


# --------------------------------------------------------------------------- public API

def _reference(reference_dir: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    reference_dir = Path(reference_dir)
    municipalities = pd.read_csv(reference_dir / "gemeinden.csv", dtype=str, encoding="utf-8-sig")
    status = pd.read_csv(reference_dir / "aufenthaltsstatus.csv", dtype=str, encoding="utf-8-sig")
    return municipalities[["ags", "name"]], dict(zip(status["code"], status["statusgruppe"]))


def compute_unsuppressed(extract_dir: Path, reference_dir: Path) -> pd.DataFrame:
    """The dense indicator grid before the confidentiality rule (is_suppressed all False)."""
    extract_dir = Path(extract_dir)
    municipalities, status_groups = _reference(reference_dir)
    grid = _Grid(municipalities)
    _work_and_language(grid, extract_dir)
    _legal_status(grid, extract_dir, status_groups)
    _education(grid, extract_dir)
    _housing(grid, extract_dir)
    _demography(grid, extract_dir)
    _esu(grid, extract_dir)
    _kita(grid, extract_dir)
    _care(grid, extract_dir)
    _engagement(grid, extract_dir)
    return grid.result()


@functools.lru_cache(maxsize=None)
def _catalogue_lines(catalogue_file: Path = CATALOGUE_FILE) -> dict[str, tuple[list[str], list[list[str]]]]:
    """indicator id -> (its groups in the listed order, its partitions of `insgesamt`), read as
    plain data from the catalogue (the lists, not the formulas)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(Path(catalogue_file).read_text(encoding="utf-8"), Loader=loader)
    return {e["id"]: ([str(g) for g in e["groups"]],
                      [[str(g) for g in p] for p in e.get("partitions", [])])
            for e in raw["indicators"]}


def _figure(frame: pd.DataFrame) -> pd.Series:
    """The figure of a cell before any suppression: the value of a count, the count of people
    (or places) behind the denominator of a rate; for ARB-03 the integer 12-month sum of stocks
    behind the average (= denominator * 12)."""
    count = frame["unit"].isin(["anzahl", "anzahl_gemeinden"])
    behind = frame["denominator"].where(frame["indicator_id"] != "ARB-03",
                                        (frame["denominator"] * 12).round())
    return frame["numerator"].where(count, behind)


def _blank(out: pd.DataFrame, suppressed: pd.Series) -> pd.DataFrame:
    out.loc[suppressed.to_numpy(dtype=bool), ["numerator", "denominator", "value"]] = np.nan
    out["is_suppressed"] = out["is_suppressed"].astype(bool) | suppressed.to_numpy(dtype=bool)
    return out


def apply_primary(frame: pd.DataFrame) -> pd.DataFrame:
    """Primary confidentiality rule: a count of 1 or 2, or a rate whose numerator or
    denominator is 1 or 2, loses numerator, denominator and value. For ARB-03 the rule
    looks at the integer 12-month sum of stocks (= denominator * 12), not the average.
    anzahl_gemeinden (municipalities, not people) is never suppressed."""
    out = frame.copy()
    out["is_suppressed"] = False
    people = out["unit"] != "anzahl_gemeinden"
    suppressed = people & (out["numerator"].isin([1, 2]) | _figure(out).isin([1, 2]))
    return _blank(out, suppressed)


def secondary_cells(unsuppressed: pd.DataFrame, primary: pd.Series,
                    catalogue_file: Path = CATALOGUE_FILE) -> dict[int, int]:
    """The secondary rule of indicators.md (as amended 2026-12-07), literally: row label -> round
    in which it was chosen. `unsuppressed` holds the figures before any suppression, `primary` (same index)
    says which cells the primary rule suppressed."""
    lists = _catalogue_lines(catalogue_file)
    figure = _figure(unsuppressed).to_dict()
    region = unsuppressed["region_code"].to_dict()
    group_index = {label: lists[i][0].index(g) for label, i, g in
                   zip(unsuppressed.index, unsuppressed["indicator_id"], unsuppressed["group_code"])}

    # every line as (total, [parts]), by row label
    lines: list[tuple[object, list]] = []
    for (indicator, _period), cells in unsuppressed.groupby(["indicator_id", "period"], sort=False):
        if (cells["unit"] == "anzahl_gemeinden").all():
            continue  # counts no people: never suppressed
        groups, partitions = lists[indicator]
        at = {(r, g): label for label, r, g in zip(cells.index, cells["region_code"], cells["group_code"])}
        municipalities = sorted({r for r in cells["region_code"] if r != DISTRICT_CODE})
        for g in groups:  # regional lines
            lines.append((at[(DISTRICT_CODE, g)], [at[(r, g)] for r in municipalities]))
        for partition in partitions:  # group lines
            for r in [DISTRICT_CODE] + municipalities:
                lines.append((at[(r, "insgesamt")], [at[(r, g)] for g in partition]))

    suppressed = {label for label, hit in primary.items() if hit}
    chosen_in: dict[int, int] = {}
    round_no = 0
    while True:
        round_no += 1
        chosen = set()
        for total, parts in lines:
            # exactly one suppressed cell in the line, the total or a part (amended 2026-12-07:
            # a suppressed total whose parts are all shown is their sum)
            hidden = [c for c in [total, *parts] if c in suppressed]
            if len(hidden) != 1:
                continue
            candidates = [p for p in parts if p not in suppressed and figure[p] > 0]
            if candidates:
                chosen.add(min(candidates, key=lambda p: (figure[p], region[p], group_index[p])))
            elif hidden[0] != total:
                chosen.add(total)  # a suppressed total without a part > 0 shown: nothing
        if not chosen:
            return chosen_in
        suppressed |= chosen
        chosen_in.update({label: round_no for label in chosen})


def apply_suppression(frame: pd.DataFrame, catalogue_file: Path = CATALOGUE_FILE) -> pd.DataFrame:
    """Both confidentiality rules on the unsuppressed grid: primary, then the rounds of the
    secondary rule."""
    out = apply_primary(frame)
    extra = secondary_cells(frame, out["is_suppressed"], catalogue_file)
    return _blank(out, pd.Series(out.index.isin(list(extra)), index=out.index))


def compute_indicators(extract_dir: Path, reference_dir: Path) -> pd.DataFrame:
    """The indicator_values rows the published warehouse must hold for these extracts."""
    return apply_suppression(compute_unsuppressed(extract_dir, reference_dir))


KEY = ["indicator_id", "period", "region_code", "group_code"]


def differences(published: pd.DataFrame, expected: pd.DataFrame, limit: int = 20) -> list[str]:
    """How a published `indicator_values` frame differs from the oracle's (empty: equal).
    Figures compare with an absolute tolerance of 1e-9."""
    m = published.merge(expected, on=KEY, how="outer", suffixes=("_pub", "_oracle"), indicator=True)
    problems = []
    only = m[m["_merge"] != "both"]
    if len(only):
        problems.append(f"{len(only)} rows only on one side:\n{only[KEY + ['_merge']].head(limit)}")
    m = m[m["_merge"] == "both"]
    for col in ("numerator", "denominator", "value"):
        a, b = m[f"{col}_pub"].astype(float), m[f"{col}_oracle"].astype(float)
        bad = ~((a.isna() & b.isna()) | (np.abs(a - b) <= 1e-9))
        if bad.any():
            problems.append(f"{col} differs in {bad.sum()} rows:\n"
                            f"{m.loc[bad, KEY + [f'{col}_pub', f'{col}_oracle']].head(limit)}")
    for col in ("unit", "region_name"):
        bad = m[f"{col}_pub"] != m[f"{col}_oracle"]
        if bad.any():
            problems.append(f"{col} differs:\n{m.loc[bad, KEY + [f'{col}_pub', f'{col}_oracle']].head(limit)}")
    bad = m["is_suppressed_pub"].astype(bool) != m["is_suppressed_oracle"].astype(bool)
    if bad.any():
        problems.append(f"is_suppressed differs in {bad.sum()} rows:\n"
                        f"{m.loc[bad, KEY + ['is_suppressed_pub', 'is_suppressed_oracle']].head(limit)}")
    bad = pd.to_datetime(m["period_end_pub"]) != pd.to_datetime(m["period_end_oracle"])
    if bad.any():
        problems.append(f"period_end differs:\n{m.loc[bad, KEY + ['period_end_pub', 'period_end_oracle']].head(limit)}")
    return problems


def suppression_counts(unsuppressed: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Per indicator: cells, suppressed by the primary rule, added by the secondary rule."""
    primary = apply_primary(unsuppressed)["is_suppressed"]
    out = pd.DataFrame({"indicator_id": unsuppressed["indicator_id"], "cells": 1,
                        "primary": primary.astype(int),
                        "secondary": (published["is_suppressed"] & ~primary).astype(int)})
    return out.groupby("indicator_id").sum()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="The oracle over extract files; optionally compared "
                                             "with a published warehouse")
    ap.add_argument("extract_dir", type=Path)
    ap.add_argument("reference_dir", type=Path, nargs="?",
                    default=Path(__file__).resolve().parents[1] / "dbt_project" / "seeds")
    ap.add_argument("--published", type=Path, help="published monitoring.duckdb to compare with")
    args = ap.parse_args()
    started = time.perf_counter()
    raw = compute_unsuppressed(args.extract_dir, args.reference_dir)
    result = apply_suppression(raw)
    elapsed = time.perf_counter() - started
    counts = suppression_counts(raw, result)
    counts["periods"] = result.groupby("indicator_id")["period"].nunique()
    print(counts.to_string())
    print(f"{len(result)} rows in {elapsed:.1f} s; suppressed: {int(counts['primary'].sum())} by the "
          f"primary rule, {int(counts['secondary'].sum())} more by the secondary rule")
    if args.published:
        import duckdb

        con = duckdb.connect(str(args.published), read_only=True)
        got = con.execute("SELECT * FROM indicator_values").df()
        con.close()
        problems = differences(got, result)
        print("\n".join(problems) if problems else
              f"published = oracle: {len(got)} rows, {got['indicator_id'].nunique()} indicators")
        sys.exit(1 if problems else 0)
