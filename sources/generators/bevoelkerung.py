"""Statistisches Landesamt (bevoelkerung): the population on 31 December, a dense table;
foreigners from the simulated register, Germans from the municipalities' size
(gemeinden.csv einwohner_ca, ~542,000 in all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import Reference, write_csv

AGE_GROUPS = np.array(["00-05", "06-14", "15-17", "18-24", "25-64", "65+"])
# German residents by sex (m, w) x age group, shares of all Germans.
_GERMAN_SHARES = np.array([
    [0.028, 0.042, 0.014, 0.036, 0.262, 0.110],
    [0.027, 0.040, 0.013, 0.034, 0.254, 0.140],
])


def at_least_sgb2(register: np.ndarray, sgb2: np.ndarray) -> np.ndarray:
    """Foreign residents for the population file: the register, but in each municipality at
    least twice the foreigners under 65 on SGB II (`sgb2`: the most in any month of this year
    and the next, whose ARB-01 uses this file).

    The two simulations are independent; in a village at small scales a few Jobcenter
    households could otherwise outnumber the register's foreigners, an SGB II rate above
    100 %. The statistical office's count differs from the foreigners office's register in
    reality too."""
    out = np.maximum(register, sgb2)
    short = np.maximum(0, 2 * sgb2[:, :, :5].sum(axis=(1, 2)) - out[:, :, :5].sum(axis=(1, 2)))
    out[:, 0, 4] += short // 2  # into the 25-64 group, both sexes
    out[:, 1, 4] += short - short // 2
    return out


def population(seed: int, ref: Reference, scale: float, year: int, foreign: np.ndarray) -> pd.DataFrame:
    """Dense table 44 x 2 x 6 x 2. Foreigners from the register, Germans from einwohner_ca."""
    rng = np.random.default_rng([seed, 8])  # municipality profiles: the same every year
    prof = _GERMAN_SHARES[None] * rng.lognormal(0, 0.06, (len(ref.ags), 2, 6))
    prof[:, :, 5] *= 1 + 0.01 * (year - 2020)  # ageing
    prof /= prof.sum(axis=(1, 2), keepdims=True)
    noise = np.random.default_rng([seed, 9, year]).normal(1.0, 0.002, len(ref.ags))
    total = np.round(ref.einwohner * scale * (1 + 0.004 * (year - 2022)) * noise)
    german = np.maximum(0, total - foreign.sum(axis=(1, 2)))
    exp = german[:, None, None] * prof
    base = np.floor(exp).astype(np.int64)
    # Largest remainders, so that the cells add up to the municipal total exactly.
    short = (german - base.sum(axis=(1, 2))).astype(np.int64)
    frac = (exp - base).reshape(len(ref.ags), -1)
    rank = np.argsort(np.argsort(-frac, axis=1, kind="stable"), axis=1, kind="stable")
    base += (rank < short[:, None]).reshape(base.shape)
    ags, sex, ag = np.meshgrid(np.arange(len(ref.ags)), np.arange(2), np.arange(6), indexing="ij")
    n = ags.size
    df = pd.DataFrame({
        "ags": np.repeat(ags.ravel(), 2), "sex": np.repeat(sex.ravel(), 2), "ag": np.repeat(ag.ravel(), 2),
        "grp": np.tile([0, 1], n),
        "anzahl": np.stack([base.ravel(), foreign.ravel()], axis=1).ravel(),
    })
    return pd.DataFrame({
        "stichtag": f"31.12.{year}", "ags": ref.ags[df["ags"].to_numpy()],
        "geschlecht": np.array(["m", "w"])[df["sex"].to_numpy()], "altersgruppe": AGE_GROUPS[df["ag"].to_numpy()],
        "staatsangehoerigkeit": np.array(["deutsch", "auslaendisch"])[df["grp"].to_numpy()],
        "anzahl": df["anzahl"].to_numpy(dtype=np.int64),
    })


def write_year(out_dir: Path, pop: pd.DataFrame, year: int, seed: int) -> list[Path]:
    return [write_csv(out_dir / "bevoelkerung" / f"bevoelkerung_{year}.csv", pop, seed, "utf-8")]
