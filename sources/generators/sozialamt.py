"""Sozialamt (hilfe_zur_pflege): people on long-term care assistance on 31 December,
placed like the residents aged 65+ (second edition).

The register is simulated year by year from CARE_ORIGIN with its own generator, so the
file of a year does not depend on the window it was written in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import SEXES, Reference, draw, pseudonyms, write_csv

CARE_PERSONS = 1_400  # people on long-term care assistance (Hilfe zur Pflege) on 31 December
CARE_ORIGIN = 2010  # the care register is simulated year by year from here

# Foreign nationalities among care recipients: the first guest-worker generation, and others.
_CARE_NAT = {"163": 25.0, "137": 14.0, "134": 12.0, "130": 10.0, "122": 6.0, "170": 6.0, "150": 3.0,
             "144": 3.0, "160": 4.0, "166": 5.0, "154": 2.0, "152": 3.0, "151": 2.0, "475": 1.5}


class Care:
    """The social welfare office's register of long-term care assistance, year by year.

    Simulated from CARE_ORIGIN with its own generator, so the file of a year is the same
    whichever window asks for it."""

    P_STATIONAER = np.array([0.15, 0.40, 0.62, 0.78, 0.88])  # by care grade 1..5

    def __init__(self, seed: int, ref: Reference, scale: float, salt: int):
        self.ref, self.scale, self.salt = ref, scale, salt
        self.rng = np.random.default_rng([seed, 34])
        prof = np.random.default_rng([seed, 35])
        self.w_ags = ref.einwohner * prof.lognormal(0, 0.25, len(ref.ags))
        self.w_nat = np.zeros(len(ref.nat))
        for code, w in _CARE_NAT.items():
            self.w_nat[ref.nat_index(code)] = w
        self.n_ref = max(20, round(CARE_PERSONS * scale))
        self.year = CARE_ORIGIN - 1
        self.cols: dict[str, np.ndarray] = {}
        self.next_uid = 0
        self._enter(round(self._target(CARE_ORIGIN) * 0.97))

    def _target(self, year: int) -> float:
        return self.n_ref * 1.025 ** (year - 2022)

    def _enter(self, n: int) -> None:
        rng, y = self.rng, self.year + 1
        age = np.where(rng.random(n) < 0.16, rng.integers(25, 65, n),
                       np.clip(np.round(rng.normal(84, 7, n)), 65, 104)).astype(np.int64)
        foreign = rng.random(n) < 0.11
        nat = np.where(foreign, draw(rng, self.w_nat, n), self.ref.nat_index("000"))
        grade = draw(rng, [0.04, 0.27, 0.36, 0.22, 0.11], n)
        new = {
            "uid": np.arange(self.next_uid, self.next_uid + n, dtype=np.int64),
            "by": (y - age).astype(np.int64),
            "sex": draw(rng, [0.37, 0.629, 0.001], n),
            "nat": nat.astype(np.int64),
            "ags": draw(rng, self.w_ags, n),
            "grade": grade.astype(np.int64),
            "stat": rng.random(n) < self.P_STATIONAER[grade],
            "active": np.ones(n, dtype=bool),
        }
        self.next_uid += n
        self.cols = new if not self.cols else {k: np.concatenate([self.cols[k], new[k]]) for k in new}

    def _step(self) -> None:
        """One year: deaths and other exits, higher care grades, moves into care homes, entries."""
        rng, c = self.rng, self.cols
        y = self.year + 1
        act = np.flatnonzero(c["active"])
        n = len(act)
        age = y - c["by"][act]
        p_exit = 0.12 + 0.05 * c["grade"][act] + np.where(age >= 90, 0.1, 0.0)
        c["active"][act[rng.random(n) < p_exit]] = False
        act = np.flatnonzero(c["active"])
        n = len(act)
        up = rng.random(n) < 0.22
        c["grade"][act] = np.minimum(c["grade"][act] + up, 4)
        into_home = ~c["stat"][act] & (rng.random(n) < 0.12 + 0.08 * c["grade"][act])
        c["stat"][act[into_home]] = True
        target = self._target(y) * rng.normal(1.0, 0.01)
        self.year = y
        self._enter(max(0, round(target - n)))

    def frame(self, year: int) -> pd.DataFrame:
        if year < self.year:
            raise ValueError("the care register only moves forward")  # generate() asks in year order
        while self.year < year:
            self._step()
        c, ref = self.cols, self.ref
        a = np.flatnonzero(c["active"])
        pid = pseudonyms(c["uid"][a], self.salt ^ 0xCA5E, 12, "HP")
        o = np.argsort(pid, kind="stable")
        a, pid = a[o], pid[o]
        return pd.DataFrame({
            "stichtag": f"31.12.{year}",
            "person_id": pid,
            "geburtsjahr": c["by"][a],
            "geschlecht": SEXES[c["sex"][a]],
            "staatsangehoerigkeit": ref.nat[c["nat"][a]],
            "ags": ref.ags[c["ags"][a]],
            "leistungsort": np.where(c["stat"][a], "stationaer", "ambulant"),
            "pflegegrad": c["grade"][a] + 1,
        })


def write_year(out_dir: Path, sim: Care, year: int, seed: int) -> list[Path]:
    # The social welfare office's case system runs Windows too: cp1252, CRLF.
    return [write_csv(out_dir / "sozialamt" / f"hilfe_zur_pflege_{year}.csv", sim.frame(year), seed, "cp1252",
                      "\r\n")]
