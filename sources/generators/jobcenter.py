"""Jobcenter (jobcenter): people on SGB II in benefit households, with entries, exits,
births, unemployment/employment spells, integration courses and job take-ups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import (
    SEXES, Reference, draw, month_index, period_label, pseudonyms, triangular, write_csv, year_month,
)

SGB2_PERSONS = 26_000  # the real district, i.e. scale 1.0
SGB2_REF = "2022-01"  # where that caseload holds (the simulation grows ~1.5 % a year around it)

# Foreign nationalities among people on SGB II (%), and who counts as "Fluchtkontext".
_JC_NAT = {
    "166": 10.0, "475": 7.5, "163": 11.0, "423": 4.5, "438": 3.5, "154": 5.5, "125": 5.0,
    "137": 5.0, "134": 4.0, "130": 3.5, "150": 4.0, "170": 2.5, "122": 2.0, "144": 2.0,
    "152": 2.0, "439": 1.3, "232": 1.3, "224": 1.2, "273": 0.8, "461": 0.6, "237": 1.0,
    "430": 0.8, "121": 1.0, "160": 1.0, "252": 0.8, "285": 0.5, "998": 0.4, "997": 0.2,
    "436": 0.5, "165": 1.5, "153": 1.0, "161": 0.8, "287": 0.5, "146": 0.4,
}
_JC_NAT_REST = 0.02


IK_VALUES = np.array(["", "kein", "laufend", "abgeschlossen_b1", "abgeschlossen_unter_b1", "abgebrochen"])


class Jobcenter:
    """People in benefit households (Bedarfsgemeinschaften)."""

    def __init__(self, rng: np.random.Generator, ref: Reference, scale: float, t_start: int, salt: int):
        self.rng, self.ref, self.salt, self.t_start = rng, ref, salt, t_start
        nn = len(ref.nat)
        self.w_nat = np.full(nn, _JC_NAT_REST)
        for code, w in _JC_NAT.items():
            self.w_nat[ref.nat_index(code)] = w
        self.i000 = ref.nat_index("000")
        self.w_nat[self.i000] = 0.0
        # BA "Kontext von Fluchtmigration": asylum countries, Ukrainians (§ 24), some others.
        self.p_flucht = np.where(ref.nat_eu, 0.0, 0.03)
        self.p_flucht[ref.nat_asyl8] = 0.9
        for code, p in {"166": 0.95, "163": 0.15, "237": 0.8, "430": 0.4, "160": 0.2, "997": 0.7,
                        "998": 0.7, "431": 0.4, "252": 0.2}.items():
            self.p_flucht[ref.nat_index(code)] = p
        self.p_flucht[self.i000] = 0.0
        f = np.where(ref.ags == "08116019", 1.8, np.where(ref.gks, 1.4, np.where(
            ref.einwohner >= 10_000, 0.9, np.where(ref.einwohner >= 5_000, 0.7, 0.5))))
        self.w_ags = ref.einwohner * f

        self.n_ref = max(round(SGB2_PERSONS * scale), 3 * len(ref.ags))
        self.n0 = max(round(self._target(t_start)), 3 * len(ref.ags))
        self.p: dict[str, np.ndarray] = {}
        self.bg: dict[str, np.ndarray] = {}
        self.next_uid = self.next_bg = 0
        anchors = self._households(len(ref.ags), t_start, single=True)
        anchors["ags"] = np.arange(len(ref.ags), dtype=np.int16)
        anchors["anchor"][:] = True
        self._add(anchors, t_start)
        # Draw more households than needed and keep those that reach the caseload.
        h = self._households(round(self.n0 / 1.2) + 10, t_start)
        size = h["adults"] + h["kids"]
        self.mean_size = float(size.mean())
        keep = int(np.searchsorted(np.cumsum(size), self.n0 - int(self.p["active"].sum()))) + 1
        self._add({k: v[:keep] for k, v in h.items()}, t_start)

    def _target(self, t: int) -> float:
        """The caseload new households keep: ~1.5 % growth a year around SGB2_REF."""
        return self.n_ref * 1.015 ** ((t - month_index(SGB2_REF)) / 12)

    def _households(self, n: int, t: int, single: bool = False) -> dict[str, np.ndarray]:
        rng = self.rng
        kind = np.zeros(n, dtype=np.int64) if single else draw(rng, [0.50, 0.17, 0.08, 0.19, 0.06], n)
        german = rng.random(n) < 0.50
        nat = np.where(german, self.i000, draw(rng, self.w_nat, n))
        flucht = rng.random(n) < self.p_flucht[nat]
        extra = np.where(flucht | ~german, 1, 0)  # foreign households are somewhat larger
        kids = np.select([kind == 1, kind == 3, kind == 4],
                         [1 + np.minimum(rng.geometric(0.55, n) - 1 + (rng.random(n) < 0.2 * extra), 4),
                          1 + np.minimum(rng.geometric(0.45, n) - 1 + extra * (rng.random(n) < 0.4), 5),
                          rng.integers(0, 2, n)], 0)
        adults = np.select([kind <= 1, kind == 4], [1, 2 + (rng.random(n) < 0.3)], 2)
        return {"kind": kind, "nat": nat.astype(np.int16), "flucht": flucht, "adults": adults,
                "kids": kids, "ags": draw(rng, self.w_ags, n).astype(np.int16),
                "anchor": np.zeros(n, dtype=bool)}

    def _add(self, h: dict[str, np.ndarray], t: int) -> None:
        rng = self.rng
        nb = len(h["kind"])
        bgi = np.arange(self.next_bg, self.next_bg + nb)
        self.next_bg += nb
        size = h["adults"] + h["kids"]
        owner = np.repeat(bgi, size)
        local = np.repeat(np.arange(nb), size)
        pos = np.arange(len(owner)) - np.repeat(np.cumsum(size) - size, size)
        n = len(owner)
        kind = h["kind"][local]
        adult = pos < h["adults"][local]
        # Household head's age; partners near it; a third adult is a grown child or a grandparent.
        head_age = np.where(rng.random(nb) < 0.04, rng.integers(65, 81, nb), triangular(rng, 18, 34, 64, nb)).astype(np.int64)
        head_age = np.where(h["kind"] == 1, np.minimum(head_age, 55), head_age)
        ha = head_age[local]
        age = np.where(pos == 0, ha, 0)
        partner = adult & (pos == 1)
        age = np.where(partner, np.clip(ha + np.round(rng.normal(0, 4, n)), 18, 80), age)
        third = adult & (pos >= 2)
        age = np.where(third, np.where(rng.random(n) < 0.5, rng.integers(18, 25, n), rng.integers(58, 81, n)), age)
        child = ~adult
        age = np.where(child, rng.integers(0, 18, n) % np.maximum(1, np.minimum(18, ha - 16)), age).astype(np.int64)
        sex = np.where(rng.random(n) < 0.51, 0, 1)
        head_m = np.where(kind == 1, rng.random(n) < 0.1, np.where(kind == 0, rng.random(n) < 0.55, rng.random(n) < 0.9))
        sex = np.where(pos == 0, np.where(head_m, 0, 1), sex)
        sex = np.where(partner & (kind >= 2), np.where(head_m, 1, 0), sex)
        sex = np.where(adult & (rng.random(n) < 0.0005), 2, sex)
        nat = h["nat"][local]
        flucht = h["flucht"][local]
        german = nat == self.i000
        y = year_month(t)[0]
        p = {
            "bg": owner.astype(np.int64), "by": (y - age).astype(np.int16), "sex": sex.astype(np.int8),
            "nat": nat, "disabled": adult & (rng.random(n) < 0.05),
            "ik": self._ik_initial(german, flucht, age >= 16),
        }
        elb_like = (age >= 18) & ~p["disabled"]
        state = draw(rng, [0.42, 0.24, 0.34], n)  # arbeitslos / erwerbstätig / neither
        p["al"] = elb_like & (state == 0)
        p["emp"] = elb_like & (state == 1)
        p["int"] = np.zeros(n, dtype=bool)
        self._append_people(p)
        bg = {"flucht": h["flucht"], "ags": h["ags"], "anchor": h["anchor"],
              "active": np.ones(nb, dtype=bool), "boost": np.zeros(nb, dtype=np.int8),
              "nat": h["nat"], "bgid": pseudonyms(bgi, self.salt ^ 0x5A5A, 12, "BG")}
        self.bg = bg if not self.bg else {k: np.concatenate([self.bg[k], bg[k]]) for k in self.bg}

    def _append_people(self, p: dict[str, np.ndarray]) -> None:
        n = len(p["bg"])
        uid = np.arange(self.next_uid, self.next_uid + n, dtype=np.int64)
        self.next_uid += n
        p["pid"] = pseudonyms(uid, self.salt)
        p["active"] = np.ones(n, dtype=bool)
        self.p = p if not self.p else {k: np.concatenate([self.p[k], p[k]]) for k in self.p}

    def _ik_initial(self, german, flucht, adult) -> np.ndarray:
        rng = self.rng
        n = len(german)
        tab = np.array([
            [0.85, 0.15, 0, 0, 0, 0],                  # German
            [0.25, 0.50, 0.07, 0.09, 0.06, 0.03],      # other foreigners
            [0.12, 0.18, 0.28, 0.20, 0.17, 0.05],      # Fluchtkontext
        ])
        which = np.where(german, 0, np.where(flucht, 2, 1))
        ik = draw(rng, tab, table=which)
        return np.where(adult, ik, 0).astype(np.int8)

    def step(self, t: int) -> None:
        rng, p, bg = self.rng, self.p, self.bg
        y = year_month(t)[0]
        # Household exits (more right after a job take-up); anchors stay.
        ab = np.flatnonzero(bg["active"])
        p_exit = np.where(bg["boost"][ab] > 0, 0.35, 0.026)
        leave = ab[(rng.random(len(ab)) < p_exit) & ~bg["anchor"][ab]]
        bg["active"][leave] = False
        bg["boost"][ab] = np.maximum(bg["boost"][ab] - 1, 0)
        p["active"] &= bg["active"][p["bg"]]
        # Moves within the district.
        ab = np.flatnonzero(bg["active"] & ~bg["anchor"])
        mv = ab[rng.random(len(ab)) < 0.002]
        bg["ags"][mv] = draw(rng, self.w_ags, len(mv)).astype(np.int16)
        # Births into households with a woman of child-bearing age.
        act = np.flatnonzero(p["active"])
        age = y - p["by"][act].astype(np.int64)
        mothers = act[(p["sex"][act] == 1) & (age >= 18) & (age <= 42)]
        mothers = mothers[rng.random(len(mothers)) < 0.003]
        if len(mothers):
            k = len(mothers)
            self._append_people({
                "bg": p["bg"][mothers], "by": np.full(k, y, dtype=np.int16),
                "sex": np.where(rng.random(k) < 0.51, 0, 1).astype(np.int8), "nat": p["nat"][mothers],
                "disabled": np.zeros(k, dtype=bool), "ik": np.zeros(k, dtype=np.int8),
                "al": np.zeros(k, dtype=bool), "emp": np.zeros(k, dtype=bool), "int": np.zeros(k, dtype=bool),
            })
            p = self.p
        # Labour market and integration course careers.
        act = np.flatnonzero(p["active"])
        n = len(act)
        age = y - p["by"][act].astype(np.int64)
        elb = (age >= 15) & (age <= 66) & ~p["disabled"][act]
        grown = elb & (age >= 18)
        al, emp = p["al"][act] & grown, p["emp"][act] & grown
        u, v = rng.random(n), rng.random(n)
        al = np.where(al, u >= 0.07, grown & ~emp & (u < 0.075))
        emp = np.where(emp, v >= 0.08, grown & (v < 0.006))
        german = p["nat"][act] == self.i000
        flucht = bg["flucht"][p["bg"][act]]
        p_int = np.where(german, 0.024, np.where(flucht, 0.020, 0.026))
        integ = grown & (age <= 64) & (rng.random(n) < p_int)
        emp |= integ
        al &= ~integ
        al &= ~(emp & (rng.random(n) < 0.8))  # most working claimants are not registered unemployed
        p["al"][act], p["emp"][act], p["int"][act] = al, emp, integ
        bg["boost"][p["bg"][act[integ]]] = 2
        ik = p["ik"][act]
        u = rng.random(n)
        course_age = (age >= 16) & ~german
        new = ik.copy()
        new[course_age & (ik == 0) & (u < 0.01)] = 1
        new[course_age & (ik == 1) & (u < np.where(flucht, 0.03, 0.01))] = 2
        lauf = course_age & (ik == 2)
        new[lauf & (u < 0.035)] = 3
        new[lauf & (u >= 0.035) & (u < 0.06)] = 4
        new[lauf & (u >= 0.06) & (u < 0.068)] = 5
        new[course_age & np.isin(ik, [4, 5]) & (u < 0.01)] = 2
        p["ik"][act] = new
        # New households keep the caseload on a slowly rising path.
        target = self._target(t)
        deficit = target - int(p["active"].sum()) + rng.normal(0, 0.003 * target)
        n_new = max(0, round(deficit / self.mean_size))
        if n_new:
            self._add(self._households(n_new, t), t)

    def foreign_counts(self, year: int) -> np.ndarray:
        """Foreigners on SGB II now (run at December of `year`): array (ags, sex m/w, age group)."""
        p, bg = self.p, self.bg
        a = np.flatnonzero(p["active"] & (p["nat"] != self.i000))
        sex = p["sex"][a].astype(np.int64)
        sex = np.where(sex == 2, a % 2, sex)  # 'd' counted as m or w, as the statistical office does
        ag = np.digitize(year - p["by"][a].astype(np.int64), [6, 15, 18, 25, 65])
        out = np.zeros((len(self.ref.ags), 2, 6), dtype=np.int64)
        np.add.at(out, (bg["ags"][p["bg"][a]].astype(np.int64), sex, ag), 1)
        return out

    def snapshot(self, t: int) -> pd.DataFrame:
        p, bg, ref = self.p, self.bg, self.ref
        a = np.flatnonzero(p["active"])
        a = a[np.lexsort((a, bg["bgid"][p["bg"][a]]))]  # by household, members in order
        y = year_month(t)[0]
        age = y - p["by"][a].astype(np.int64)
        elb = (age >= 15) & (age <= 66) & ~p["disabled"][a]
        b = p["bg"][a]
        yn = np.array(["N", "J"])
        return pd.DataFrame({
            "berichtsmonat": np.full(len(a), period_label(t)),
            "person_id": p["pid"][a],
            "bg_id": bg["bgid"][b],
            "geburtsjahr": p["by"][a].astype(np.int64),
            "geschlecht": SEXES[p["sex"][a]],
            "staatsangehoerigkeit": ref.nat[p["nat"][a]],
            "fluchtkontext": yn[bg["flucht"][b].astype(int)],
            "ags": ref.ags[bg["ags"][b]],
            "elb": yn[elb.astype(int)],
            "arbeitslos": yn[(p["al"][a] & elb).astype(int)],
            "erwerbstaetig": yn[(p["emp"][a] & elb).astype(int)],
            "integrationskurs": IK_VALUES[p["ik"][a]],
            "integration_beschaeftigung": yn[(p["int"][a] & elb).astype(int)],
        })


def write_month(out_dir: Path, sim: Jobcenter, t: int, seed: int) -> list[Path]:
    return [write_csv(out_dir / "jobcenter" / f"jobcenter_{period_label(t)}.csv", sim.snapshot(t), seed, "utf-8-sig")]
