"""Integrationsmanagement (engagement): the civic-engagement survey of 31 December, every
municipality once, volunteers beside the follow-up accommodation (second edition).

The yearly file has its own generator seeded by (seed, source, year), so it does not depend
on the window it was written in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import Reference, draw, write_csv

GREMIEN = np.array(["rat", "ausschuss", "beauftragte", "keins"])


def engagement(seed: int, ref: Reference, scale: float, year: int, au_residents: np.ndarray) -> pd.DataFrame:
    """The integration management's survey of 31 December year: every municipality once.

    The strongest integration body is a stable property of a municipality that can grow
    (a council or committee set up in some year); volunteers follow the size of the place
    and, a little, the number of refugees in its follow-up accommodation. Some
    municipalities do not answer (counts empty)."""
    prof = np.random.default_rng([seed, 36])  # the same every year
    rng = np.random.default_rng([seed, 37, year])
    nm = len(ref.ags)
    size = np.where(ref.gks, 0, np.where(ref.einwohner >= 10_000, 1, 2))
    base = draw(prof, np.array([[0.45, 0.30, 0.25, 0.0], [0.15, 0.30, 0.40, 0.15], [0.02, 0.06, 0.32, 0.60]]),
                table=size)
    # Some municipalities set up a stronger body in a given year and keep it.
    upgrade_year = 2014 + prof.geometric(0.06, nm)
    better = np.maximum(base - 1, 0)
    gremium = np.where(year >= upgrade_year, better, base)
    rate = 0.0028 * prof.lognormal(0, 0.45, nm)  # volunteers per inhabitant
    wave = 1.0 + 0.25 * (year in (2022, 2023)) + 0.35 * (year in (2015, 2016, 2017))  # refugee arrivals
    expected = ref.einwohner * scale * rate * wave * rng.lognormal(0, 0.12, nm) + 0.05 * au_residents
    volunteers = rng.poisson(expected)
    orgs = rng.poisson(ref.einwohner * scale / 7000 * prof.lognormal(0, 0.4, nm))
    # Non-answering: more among small places; always some, never all.
    silent = rng.random(nm) < np.where(size == 2, 0.14, 0.06)
    if not silent.any():
        silent[int(rng.integers(nm))] = True
    orgs_empty = silent | (rng.random(nm) < 0.03)
    return pd.DataFrame({
        "jahr": year,
        "ags": ref.ags,
        "integrationsgremium": GREMIEN[gremium],
        "ehrenamtliche": np.where(silent, "", volunteers.astype(str)),
        "migrantenorganisationen": np.where(orgs_empty, "", orgs.astype(str)),
    })


def write_year(out_dir: Path, seed: int, ref: Reference, scale: float, year: int,
               au_residents: np.ndarray) -> list[Path]:
    return [write_csv(out_dir / "integration" / f"engagement_{year}.csv",
                      engagement(seed, ref, scale, year, au_residents), seed, "utf-8")]
