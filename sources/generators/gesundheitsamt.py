"""Gesundheitsamt (esu): the school-entry examination, one row per examined child.

Second edition: draws from the simulated population where that is natural. The yearly file
has its own generator seeded by (seed, source, year), so it does not depend on the window
it was written in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import (
    SEXES, Reference, day_number, draw, format_days, pseudonyms, residents, write_csv,
)

ESU_CHILDREN = 5_200  # examined children a year at scale 1.0
ESU_PER_RESIDENT_0_5 = ESU_CHILDREN / 30_000  # ~ one of the six birth cohorts of the 0-5 group (~30,000 at 1.0)

ESU_SPRACHE = np.array(["deutsch", "deutsch_und_andere", "andere", ""])
SPRACHBEFUND = np.array(["unauffaellig", "foerderbedarf", "intensiv", "nicht_getestet"])


def _weekdays(first: int, last: int) -> np.ndarray:
    days = np.arange(first, last + 1)
    return days[(days + 3) % 7 < 5]  # 1970-01-01 was a Thursday: (day + 3) % 7 = weekday, Monday 0


def esu(seed: int, ref: Reference, scale: float, year: int, pop: pd.DataFrame, salt: int) -> pd.DataFrame:
    """School-entry examination of the school year year/year+1: one row per examined child.

    About one birth cohort of the residents aged 0-5 (31.12.year), examined 15 to 24 months
    before school entry, i.e. mostly born from October year-5 to September year-4."""
    rng = np.random.default_rng([seed, 31, year])
    u6 = residents(pop, ref, "00-05")
    total = max(30, round(u6.sum() * ESU_PER_RESIDENT_0_5 * rng.normal(1.0, 0.01)))
    n_ags = rng.multinomial(total, u6.sum(axis=1) / u6.sum())
    ags = np.repeat(np.arange(len(ref.ags)), n_ags)
    n = len(ags)
    # "auslaendisch" here: at least one foreign nationality, so more than the residents' share.
    f_share = np.clip(1.3 * u6[:, 1] / np.maximum(1, u6.sum(axis=1)), 0.02, 0.9)
    aus = rng.random(n) < f_share[ags]
    sex = SEXES[draw(rng, [0.51, 0.488, 0.002], n)]
    # Birth: the main cohort (Oct year-5 .. Sep year-4), some deferred a year, a few early.
    shift = np.select([rng.random(n) < 0.03, rng.random(n) < 0.005], [-365, 365], 0)
    birth = day_number(year - 5, 10, 1) + rng.integers(0, 365, n) + shift
    exam_days = _weekdays(day_number(year, 8, 1), day_number(year + 1, 7, 31))
    w = np.where((exam_days >= day_number(year, 8, 1)) & (exam_days < day_number(year, 9, 10)), 0.15, 1.0)  # summer holidays
    exam = exam_days[draw(rng, w, n)]
    # Family language by nationality group; empty = not asked or not answered.
    sprache = draw(rng, np.array([[0.86, 0.08, 0.03, 0.03], [0.10, 0.38, 0.47, 0.05]]), table=aus.astype(int))
    # Months in day care: the start age differs (under-3 care is used less by immigrant families).
    grp = np.where(aus | (sprache == 2), 1, 0)
    kind = draw(rng, np.array([[0.45, 0.50, 0.05], [0.20, 0.50, 0.30]]), table=grp)
    start_age = np.select([kind == 0, kind == 1], [rng.uniform(10, 30, n), rng.uniform(28, 37, n)],
                          rng.uniform(38, 60, n))
    age_m = (exam - birth) / 30.44
    kita = np.clip(np.round(age_m - start_age), 0, 72).astype(np.int64)
    kita_known = rng.random(n) >= 0.04
    # Check-up booklet and U8, vaccination record and measles doses.
    heft = rng.random(n) < np.where(aus, 0.86, 0.95)
    u8 = rng.random(n) < np.where(aus, 0.82, 0.93)
    impf = rng.random(n) < np.where(aus, 0.85, 0.93)
    masern = draw(rng, np.array([[0.03, 0.05, 0.92], [0.06, 0.09, 0.85]]), table=aus.astype(int))
    # Language screening by family language (not screened: absent, ill, refused).
    befund = draw(rng, np.array([[0.80, 0.13, 0.03, 0.04], [0.55, 0.27, 0.13, 0.05],
                                 [0.25, 0.36, 0.32, 0.07], [0.50, 0.25, 0.15, 0.10]]), table=sprache)
    yn = np.array(["N", "J"])
    df = pd.DataFrame({
        "untersuchungsjahr": f"{year}/{(year + 1) % 100:02d}",
        "kind_id": pseudonyms(np.arange(n, dtype=np.int64) + year * 1_000_000, salt ^ 0xE5E5, 14, "K"),
        "untersuchungsdatum": format_days(exam),
        "geburtsjahr": birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970,
        "geschlecht": sex,
        "ags": ref.ags[ags],
        "staatsangehoerigkeit": np.where(aus, "auslaendisch", "deutsch"),
        "familiensprache": ESU_SPRACHE[sprache],
        "kita_monate": np.where(kita_known, kita.astype(str), ""),
        "vorsorgeheft": yn[heft.astype(int)],
        "u8": np.where(heft, yn[u8.astype(int)], ""),
        "impfpass": yn[impf.astype(int)],
        "masern_impfungen": np.where(impf, masern.astype(str), ""),
        "sprachbefund": SPRACHBEFUND[befund],
    })
    # The health office's export is in examination order.
    return df.iloc[np.lexsort((df["kind_id"].to_numpy(), exam))].reset_index(drop=True)


def write_year(out_dir: Path, seed: int, ref: Reference, scale: float, year: int, pop: pd.DataFrame,
               salt: int) -> list[Path]:
    return [write_csv(out_dir / "gesundheitsamt" / f"esu_{year}.csv", esu(seed, ref, scale, year, pop, salt),
                      seed, "utf-8")]
