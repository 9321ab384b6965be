"""Jugendamt (kita): children under 6 in day care on 1 March, from the residents aged 0-5.

Second edition: draws from the simulated population where that is natural. The yearly file
has its own generator seeded by (seed, source, year), so it does not depend on the window
it was written in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import Reference, draw, residents, write_csv

KITA_CHILDREN = 19_000  # children under 6 in day care on 1 March


def kita(seed: int, ref: Reference, scale: float, year: int, pop_before: pd.DataFrame) -> pd.DataFrame:
    """Children in day care on 1 March year, counted where the Kita or child-minder is.

    Demand from the residents aged 0-5 of 31.12.year-1: about a third of the under-3s and
    nearly all 3-to-6-year-olds; some children are cared for in a neighbouring town."""
    prof = np.random.default_rng([seed, 32])  # municipal profiles: the same every year
    rng = np.random.default_rng([seed, 33, year])
    nm = len(ref.ags)
    quota_u3 = np.clip(0.36 * prof.lognormal(0, 0.18, nm) * (1 + 0.015 * (year - 2022)), 0.1, 0.6)
    quota_36 = np.clip(0.93 * prof.lognormal(0, 0.025, nm), 0.8, 0.99)
    pflege = np.clip(prof.normal(0.16, 0.05, nm), 0.03, 0.35)  # child-minders' share of under-3 care
    commute = np.clip(prof.normal(0.10, 0.04, nm), 0.0, 0.3)
    u6 = residents(pop_before, ref, "00-05")
    f_res = u6[:, 1] / np.maximum(1, u6.sum(axis=1))
    half = np.round(u6.sum(axis=1) / 2).astype(np.int64)
    n_u3 = rng.binomial(half, quota_u3)
    # Every municipality runs at least one Kita: a few children even at the smallest scale.
    n_36 = np.maximum(rng.binomial(u6.sum(axis=1).astype(np.int64) - half, quota_36), 2)
    rows = []
    dest_w = ref.einwohner ** 1.3
    for age_i, n_age, tp in ((0, n_u3, pflege), (1, n_36, np.full(nm, 0.015))):
        away = rng.binomial(np.maximum(n_age - 2 * age_i, 0), commute)  # the village Kita keeps its two
        here = n_age - away
        counts = here + np.bincount(draw(rng, dest_w, int(away.sum())), minlength=nm)
        # Origin of the parents (more than the children's nationality) and home language.
        p_aus = np.clip(0.10 + 1.6 * f_res, 0.08, 0.85) * (0.8 if age_i == 0 else 1.0)
        for a in range(nm):
            k = int(counts[a])
            if not k:
                continue
            tpf = rng.binomial(k, tp[a])
            for art_i, kk in ((0, k - tpf), (1, tpf)):
                aus = rng.binomial(kk, p_aus[a])
                for her_i, h in ((0, aus), (1, kk - aus)):
                    nd = rng.binomial(h, 0.55 if her_i == 0 else 0.02)
                    rows.append((a, art_i, age_i, her_i, 0, h - nd))
                    rows.append((a, art_i, age_i, her_i, 1, nd))
    df = pd.DataFrame(rows, columns=["a", "art", "age", "her", "spr", "kinder"])
    df = df[df["kinder"] > 0].sort_values(["a", "art", "age", "her", "spr"])  # cells without children left out
    return pd.DataFrame({
        "stichtag": f"01.03.{year}",
        "ags": ref.ags[df["a"].to_numpy()],
        "betreuungsart": np.array(["kita", "tagespflege"])[df["art"].to_numpy()],
        "altersgruppe": np.array(["unter_3", "3_bis_unter_6"])[df["age"].to_numpy()],
        "herkunft": np.array(["auslaendisch", "nicht_auslaendisch"])[df["her"].to_numpy()],
        "familiensprache": np.array(["deutsch", "nicht_deutsch"])[df["spr"].to_numpy()],
        "kinder": df["kinder"].to_numpy(dtype=np.int64),
    })


def write_year(out_dir: Path, seed: int, ref: Reference, scale: float, year: int,
               pop_before: pd.DataFrame) -> list[Path]:
    return [write_csv(out_dir / "jugendamt" / f"kita_{year}.csv", kita(seed, ref, scale, year, pop_before),
                      seed, "utf-8")]
