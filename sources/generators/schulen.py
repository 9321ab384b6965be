"""Schulen (schulstatistik, schulabgaenger): a stable set of schools with pupils per
school, grade, nationality and sex, and leavers per municipality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import Reference, draw, write_csv

SCHOOLS = 170  # the real district, i.e. scale 1.0
MIN_SCHOOLS = 8

PATRONS = [
    "Schiller", "Mörike", "Uhland", "Hölderlin", "Kepler", "Eichendorff", "Lessing", "Schubart",
    "Hauff", "Kerner", "Silcher", "Brüder-Grimm", "Pestalozzi", "Käthe-Kollwitz", "Theodor-Heuss",
    "Geschwister-Scholl", "Albert-Schweitzer", "Anne-Frank", "Erich-Kästner", "Friedrich-Fröbel",
    "Robert-Bosch", "Gottlieb-Daimler", "Johannes-Kepler", "Ludwig-Uhland", "Justinus-Kerner",
    "Bismarck", "Goethe", "Sophie-Scholl", "Astrid-Lindgren", "Max-Eyth",
]

_SCHOOL_TYPES = {  # share of schools, label, grades, pupils per grade, foreign share, female share
    "GS": (0.50, "Grundschule", list(range(1, 5)), 50, 0.21, 0.49),
    "WRS": (0.04, "Werkrealschule", list(range(5, 11)), 30, 0.42, 0.42),
    "RS": (0.11, "Realschule", list(range(5, 11)), 90, 0.18, 0.50),
    "GMS": (0.12, "Gemeinschaftsschule", list(range(5, 11)), 60, 0.27, 0.47),
    "GY": (0.11, "Gymnasium", list(range(5, 13)), 105, 0.10, 0.53),
    "SBBZ": (0.07, "SBBZ", list(range(1, 10)), 11, 0.28, 0.36),
    "BS": (0.05, "Berufliche Schule", [11, 12, 13], 500, 0.20, 0.45),
}
# Leavers' certificates per school type and nationality group: ohne_hsa, hsa, msa, fhr, ahr.
_LEAVERS = {
    "WRS": ([0.10, 0.55, 0.35, 0, 0], [0.20, 0.55, 0.25, 0, 0]),
    "RS": ([0.01, 0.05, 0.94, 0, 0], [0.03, 0.10, 0.87, 0, 0]),
    "GMS": ([0.05, 0.30, 0.62, 0, 0.03], [0.10, 0.40, 0.48, 0, 0.02]),
    "GY": ([0.002, 0.003, 0.06, 0.015, 0.92], [0.01, 0.01, 0.12, 0.03, 0.83]),
    "SBBZ": ([0.75, 0.22, 0.03, 0, 0], [0.80, 0.18, 0.02, 0, 0]),
    "BS": ([0.05, 0.15, 0.35, 0.30, 0.15], [0.12, 0.25, 0.35, 0.18, 0.10]),
}
ABSCHLUESSE = np.array(["ohne_hsa", "hsa", "msa", "fhr", "ahr"])
GRADE_ORDER = [str(g) for g in range(1, 14)] + ["VKL", "VABO"]
BS_NAMES = ["Kaufmännische Schule", "Gewerbliche Schule", "Hauswirtschaftliche Schule", "Berufliches Schulzentrum"]


class Schools:
    """A stable set of schools; counts per school year drawn from the school's own sizes."""

    def __init__(self, seed: int, ref: Reference, scale: float):
        self.seed, self.ref = seed, ref
        rng = np.random.default_rng([seed, 4])
        n = max(MIN_SCHOOLS, round(SCHOOLS * scale))
        types = [k for k in _SCHOOL_TYPES if k != "GS"]
        counts = {k: max(1, round(n * _SCHOOL_TYPES[k][0])) for k in types}
        counts["GS"] = max(1, n - sum(counts.values()))
        rows = []
        nmuni = len(ref.ags)
        used: dict[tuple[str, int], int] = {}
        numbers = rng.choice(900_000, sum(counts.values()), replace=False) + 100_000
        for st in ["GS"] + types:
            k = counts[st]
            if st == "GS":
                base = np.arange(nmuni) if k >= nmuni else np.array([], dtype=np.int64)
                extra = draw(rng, ref.einwohner, k - len(base))
                ags = np.concatenate([base, extra]).astype(np.int64)
            elif st == "BS":
                w = np.where(ref.gks, ref.einwohner ** 2, 0.0)
                ags = draw(rng, w, k)
            else:
                ags = draw(rng, ref.einwohner ** 1.3, k)
            share, label, grades, size, fshare, wshare = _SCHOOL_TYPES[st]
            for g in ags:
                nth = used.get((st, int(g)), 0)
                used[(st, int(g))] = nth + 1
                place = ref.names[g]
                if st == "BS":
                    name = f"{BS_NAMES[nth % len(BS_NAMES)]} {place}"
                elif nth == 0:
                    name = f"{label} {place}"
                else:
                    name = f"{PATRONS[int(rng.integers(len(PATRONS)))]}-{label} {place}"
                    if st == "SBBZ":
                        name = f"SBBZ {PATRONS[int(rng.integers(len(PATRONS)))]}-Schule {place}"
                town = 1.25 if ref.gks[g] else (1.0 if ref.einwohner[g] >= 8000 else 0.75)
                rows.append({
                    "schulnummer": f"04{numbers[len(rows)]:06d}", "schulname": name, "ags": int(g), "schulart": st,
                    "pupils": size * rng.lognormal(0, 0.3), "fshare": min(0.8, fshare * town * rng.lognormal(0, 0.25)),
                    "wshare": wshare, "vkl": rng.random() < {"GS": 0.3, "WRS": 0.6, "RS": 0.3, "GMS": 0.4,
                                                             "GY": 0.1}.get(st, 0.0),
                    "vabo": st == "BS" and rng.random() < 0.7,
                })
        self.schools = pd.DataFrame(rows).sort_values("schulnummer").reset_index(drop=True)

    def _cohorts(self, year: int) -> pd.DataFrame:
        """Pupils per school and grade in school year year/year+1 (before the split by group)."""
        rng = np.random.default_rng([self.seed, 5, year])
        s = self.schools
        year_f = rng.normal(1.0, 0.03, len(s)) * (1 + 0.005 * (year - 2020))
        recs = []
        for i, row in s.iterrows():  # ~170 schools x ~8 grades: small
            grades = [str(g) for g in _SCHOOL_TYPES[row.schulart][2]]
            for g in grades:
                recs.append((i, g, row.pupils * year_f[i], row.fshare))
            if row.vkl:
                recs.append((i, "VKL", 13 * year_f[i], 0.97))
            if row.vabo:
                recs.append((i, "VABO", 45 * year_f[i], 0.95))
        c = pd.DataFrame(recs, columns=["school", "klassenstufe", "mean", "fshare"])
        c["n"] = rng.poisson(c["mean"].to_numpy() * rng.normal(1.0, 0.06, len(c)).clip(0.5))
        return c

    def statistik(self, year: int) -> pd.DataFrame:
        rng = np.random.default_rng([self.seed, 6, year])
        s = self.schools
        c = self._cohorts(year)
        foreign = rng.binomial(c["n"].to_numpy(), c["fshare"].to_numpy())
        parts = []
        wshare = s["wshare"].to_numpy()[c["school"].to_numpy()]
        for grp, k in (("deutsch", c["n"].to_numpy() - foreign), ("auslaendisch", foreign)):
            d = rng.binomial(k, 0.002)
            w = rng.binomial(k - d, wshare)
            for sex, cnt in (("m", k - d - w), ("w", w), ("d", d)):
                parts.append(pd.DataFrame({"school": c["school"], "klassenstufe": c["klassenstufe"],
                                           "staatsangehoerigkeit": grp, "geschlecht": sex, "schueler": cnt}))
        out = pd.concat(parts, ignore_index=True)
        out = out[out["schueler"] > 0]
        out["g_order"] = out["klassenstufe"].map({g: i for i, g in enumerate(GRADE_ORDER)})
        out = out.sort_values(["school", "g_order", "staatsangehoerigkeit", "geschlecht"], kind="stable")
        sch = s.iloc[out["school"].to_numpy()]
        return pd.DataFrame({
            "schuljahr": f"{year}/{(year + 1) % 100:02d}",
            "schulnummer": sch["schulnummer"].to_numpy(), "schulname": sch["schulname"].to_numpy(),
            "ags": self.ref.ags[sch["ags"].to_numpy()], "schulart": sch["schulart"].to_numpy(),
            "klassenstufe": out["klassenstufe"].to_numpy(), "staatsangehoerigkeit": out["staatsangehoerigkeit"].to_numpy(),
            "geschlecht": out["geschlecht"].to_numpy(), "schueler": out["schueler"].to_numpy(dtype=np.int64),
        })

    def abgaenger(self, year: int) -> pd.DataFrame:
        """Leavers at the end of school year year/year+1, summed per municipality and school type."""
        rng = np.random.default_rng([self.seed, 7, year])
        s = self.schools
        c = self._cohorts(year)
        # One leaving cohort per school (VABO leavers on top at vocational schools).
        sec = s[s["schulart"] != "GS"]
        recs = []
        for i, row in sec.iterrows():
            mult = {"GY": 0.95, "BS": 1.2}.get(row.schulart, 1.0)
            n = rng.poisson(row.pupils * mult)
            f = rng.binomial(n, row.fshare)
            for grp, k, gi in (("deutsch", n - f, 0), ("auslaendisch", f, 1)):
                w = rng.binomial(k, row.wshare)
                d = rng.binomial(k - w, 0.002)
                for sex, cnt in (("m", k - w - d), ("w", w), ("d", d)):
                    recs.append((i, row.schulart, grp, sex, rng.multinomial(cnt, _LEAVERS[row.schulart][gi])))
            if row.vabo:
                v = c[(c["school"] == i) & (c["klassenstufe"] == "VABO")]["n"].sum()
                k = rng.binomial(v, 0.8)
                w = rng.binomial(k, 0.35)
                for sex, cnt in (("m", k - w), ("w", w)):
                    recs.append((i, "BS", "auslaendisch", sex, rng.multinomial(cnt, [0.6, 0.4, 0, 0, 0])))
        rows = []
        for i, st, grp, sex, counts in recs:
            for a, cnt in zip(ABSCHLUESSE, counts):
                rows.append((int(s.loc[i, "ags"]), st, a, grp, sex, int(cnt)))
        df = pd.DataFrame(rows, columns=["ags", "schulart", "abschluss", "staatsangehoerigkeit", "geschlecht", "anzahl"])
        df = df.groupby(["ags", "schulart", "abschluss", "staatsangehoerigkeit", "geschlecht"], as_index=False)["anzahl"].sum()
        df = df[df["anzahl"] > 0]
        order = {"WRS": 0, "RS": 1, "GMS": 2, "GY": 3, "SBBZ": 4, "BS": 5}
        ab = {a: i for i, a in enumerate(ABSCHLUESSE)}
        df = df.assign(o1=df["schulart"].map(order), o2=df["abschluss"].map(ab)).sort_values(
            ["ags", "o1", "o2", "staatsangehoerigkeit", "geschlecht"])
        return pd.DataFrame({
            "schuljahr": f"{year}/{(year + 1) % 100:02d}", "ags": self.ref.ags[df["ags"].to_numpy()],
            "schulart": df["schulart"].to_numpy(), "abschluss": df["abschluss"].to_numpy(),
            "staatsangehoerigkeit": df["staatsangehoerigkeit"].to_numpy(),
            "geschlecht": df["geschlecht"].to_numpy(), "anzahl": df["anzahl"].to_numpy(dtype=np.int64),
        })


def write_statistik(out_dir: Path, schools: Schools, year: int, seed: int) -> list[Path]:
    return [write_csv(out_dir / "schulen" / f"schulstatistik_{year}.csv", schools.statistik(year), seed, "utf-8")]


def write_abgaenger(out_dir: Path, schools: Schools, year: int, seed: int) -> list[Path]:
    return [write_csv(out_dir / "schulen" / f"schulabgaenger_{year}.csv", schools.abgaenger(year), seed, "utf-8")]
