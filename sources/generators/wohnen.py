"""Unterbringung (unterbringung, XLSX): refugee accommodation facilities, the district's
VU and the municipalities' AU, with occupancy, status mix and moves out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import Reference, draw, month_end, period_label, write_xlsx

FACILITIES = 180  # the real district, i.e. scale 1.0
MIN_FACILITIES = 6

STREETS = [
    "Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Kirchstraße", "Mühlstraße", "Gartenstraße",
    "Industriestraße", "Lindenstraße", "Talstraße", "Schulstraße", "Neckarstraße", "Römerstraße",
    "Bühlstraße", "Gärtnerweg", "Brühlweg", "Schäferweg", "Weilstraße", "Uhlandstraße",
    "Friedrichstraße", "Stuttgarter Straße", "Plochinger Straße", "Jägerhausstraße", "Fabrikstraße",
    "Am Mühlbach", "Wiesenweg", "Rosenstraße", "Ulmer Straße", "Zeppelinstraße",
]


class Facilities:
    """Refugee accommodation: the district's VU and the municipalities' AU."""

    MIX = {"VU": [0.55, 0.28, 0.10, 0.07], "AU": [0.10, 0.70, 0.12, 0.08]}  # Gestattung/Schutz/Duldung/Sonstige

    def __init__(self, rng: np.random.Generator, ref: Reference, scale: float, seed: int):
        self.rng, self.ref, self.seed = rng, ref, seed
        n = max(MIN_FACILITIES, round(FACILITIES * scale))
        self.n_vu_min = 2
        self.n_au_min = MIN_FACILITIES - self.n_vu_min
        n_vu = max(self.n_vu_min, round(0.18 * n))
        self.f: dict[str, np.ndarray] = {}
        self.counter = {"VU": 0, "AU": 0}
        self._open(np.array(["VU"] * n_vu + ["AU"] * (n - n_vu)), initial=True)

    def _open(self, art: np.ndarray, initial: bool = False) -> None:
        rng, ref = self.rng, self.ref
        n = len(art)
        vu = art == "VU"
        w_vu = ref.einwohner ** 1.5
        ags = np.where(vu, draw(rng, w_vu, n), draw(rng, ref.einwohner, n)).astype(np.int16)
        plaetze = np.where(vu, np.clip(rng.lognormal(np.log(110), 0.5, n), 30, 400),
                           np.clip(rng.lognormal(np.log(28), 0.6, n), 6, 150)).round().astype(np.int64)
        target = np.where(vu, rng.uniform(0.70, 0.98, n), rng.uniform(0.75, 1.0, n))
        occ = target + rng.normal(0, 0.05, n) if initial else rng.uniform(0.3, 0.6, n)
        ids, names = [], []
        for a, g in zip(art, ags):  # a handful per month at most
            self.counter[a] += 1
            ids.append(f"{a}-{self.counter[a]:04d}")
            street = STREETS[int(rng.integers(len(STREETS)))]
            label = "Gemeinschaftsunterkunft" if a == "VU" else "Anschlussunterbringung"
            names.append(f"{label} {ref.names[g]}, {street} {int(rng.integers(1, 120))}")
        alpha = np.array([self.MIX[a] for a in art]) * 40
        mix = np.array([rng.dirichlet(al) for al in alpha]).reshape(n, 4)
        new = {"id": np.array(ids, dtype=object), "name": np.array(names, dtype=object), "art": art.astype(object),
               "ags": ags, "plaetze": plaetze, "target": target, "occ": occ, "mix": mix,
               "active": np.ones(n, dtype=bool)}
        self.f = new if not self.f else {k: np.concatenate([self.f[k], new[k]]) for k in self.f}

    def step(self, t: int) -> None:
        rng, f = self.rng, self.f
        n = len(f["occ"])
        f["occ"] = np.clip(f["occ"] + 0.15 * (f["target"] - f["occ"]) + rng.normal(0, 0.03, n), 0.1, 1.25)
        resize = rng.random(n) < 0.01
        f["plaetze"] = np.where(resize, np.maximum(4, np.round(f["plaetze"] * rng.uniform(0.85, 1.2, n))),
                                f["plaetze"]).astype(np.int64)
        act = np.flatnonzero(f["active"])
        # Rarely a facility closes or a new one opens: the set stays mostly the same.
        if rng.random() < min(0.5, 0.006 * len(act)):
            n_art = {a: int((f["art"][act] == a).sum()) for a in ("VU", "AU")}
            floor = {"VU": self.n_vu_min, "AU": self.n_au_min}
            cand = [i for i in act if n_art[f["art"][i]] > floor[f["art"][i]]]
            if cand:
                f["active"][cand[int(rng.integers(len(cand)))]] = False
        if rng.random() < min(0.5, 0.008 * len(act)):
            self._open(np.array(["VU" if rng.random() < 0.2 else "AU"]))

    def frame(self, t: int) -> pd.DataFrame:
        # Its own generator per month: what is written must not depend on which months were.
        rng, f = np.random.default_rng([self.seed, 13, t]), self.f
        a = np.flatnonzero(f["active"])
        belegt = np.maximum(0, np.round(f["plaetze"][a] * f["occ"][a])).astype(np.int64)
        davon = rng.multinomial(belegt, f["mix"][a])
        vu = f["art"][a] == "VU"
        auszug = rng.binomial(belegt, np.where(vu, 0.008, 0.025))
        order = np.argsort(f["id"][a].astype(str), kind="stable")
        df = pd.DataFrame({
            "Stichtag": month_end(t), "Einrichtung_ID": f["id"][a], "Einrichtung": f["name"][a],
            "Art": f["art"][a], "AGS": self.ref.ags[f["ags"][a]], "Plaetze": f["plaetze"][a],
            "Belegt": belegt, "davon_Gestattung": davon[:, 0], "davon_Schutzstatus": davon[:, 1],
            "davon_Duldung": davon[:, 2], "davon_Sonstige": davon[:, 3], "Auszuege_privat": auszug,
        })
        return df.iloc[order].reset_index(drop=True)


def write_month(out_dir: Path, frame: pd.DataFrame, t: int, seed: int) -> list[Path]:
    return [write_xlsx(out_dir / "wohnen" / f"unterbringung_{period_label(t)}.xlsx", frame, seed, t)]


def au_residents(frame: pd.DataFrame, ref: Reference) -> np.ndarray:
    """Residents in follow-up accommodation (AU) per municipality, from a month's frame."""
    au = frame[frame["Art"] == "AU"]
    return np.bincount(np.searchsorted(ref.ags, au["AGS"].to_numpy(dtype="U8")),
                       weights=au["Belegt"].to_numpy(), minlength=len(ref.ags))
