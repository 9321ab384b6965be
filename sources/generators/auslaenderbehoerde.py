"""Ausländerbehörde (abh_bestand, abh_einbuergerungen): a persistent register of foreign
residents with arrivals from abroad, moves in from elsewhere in Germany, births, departures,
moves between the municipalities, asylum decisions (GESTATTUNG -> protection or DULDUNG),
status progressions (AE -> NE) and naturalisations (a naturalised person leaves
`abh_bestand` and appears in `abh_einbuergerungen` the same month)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators.common import (
    SEXES, Reference, day_number, draw, format_day, format_days, month_end, month_index, month_start,
    period_label, pseudonyms, triangular, write_csv, year_month,
)

FOREIGN_RESIDENTS = 118_000  # the real district, i.e. scale 1.0
FOREIGN_REF = "2021-12"  # where that stock holds (the simulation grows ~1.5 % a year around it)
ABH_ANCHORS = 2  # per municipality: residents who never leave, so no municipality vanishes

# Foreign nationalities: stock weight (%), newcomer weight (%), entry-year profile,
# share of asylum seekers among newcomers, protection rate of asylum decisions.
# Weights follow the Stuttgart-region pattern: guest-worker nations, EU-East, refugees.
_NAT = {
    "163": (14.0, 8.0, "gast", 0.35, 0.15),   # Türkei
    "130": (9.0, 4.5, "gast", 0, 0),          # Kroatien
    "137": (8.5, 3.0, "gast", 0, 0),          # Italien
    "134": (6.5, 2.5, "gast", 0, 0),          # Griechenland
    "154": (7.0, 8.0, "ost", 0, 0),           # Rumänien
    "166": (5.5, 8.0, "ukr", 0, 0),           # Ukraine
    "150": (4.0, 3.0, "gast", 0.05, 0.1),     # Kosovo
    "475": (3.5, 5.0, "asyl", 0.9, 0.95),     # Syrien
    "152": (3.0, 2.0, "ost", 0, 0),           # Polen
    "170": (2.5, 2.0, "gast", 0.02, 0.05),    # Serbien
    "122": (2.5, 1.5, "gast", 0.02, 0.05),    # Bosnien und Herzegowina
    "423": (2.2, 4.0, "asyl", 0.9, 0.8),      # Afghanistan
    "438": (2.0, 2.5, "asyl", 0.85, 0.4),     # Irak
    "125": (2.0, 3.0, "ost", 0, 0),           # Bulgarien
    "165": (1.5, 1.5, "ost", 0, 0),           # Ungarn
    "144": (1.5, 1.2, "gast", 0.02, 0.05),    # Nordmazedonien
    "153": (1.2, 0.8, "gast", 0, 0),          # Portugal
    "161": (1.1, 1.0, "gast", 0, 0),          # Spanien
    "436": (1.8, 4.0, "other", 0.01, 0.1),    # Indien
    "160": (1.0, 1.0, "other", 0.3, 0.2),     # Russische Föderation
    "479": (1.0, 1.0, "other", 0.0, 0.1),     # China
    "151": (1.0, 0.6, "west", 0, 0),          # Österreich
    "129": (0.7, 0.6, "west", 0, 0),          # Frankreich
    "121": (0.8, 1.0, "gast", 0.1, 0.05),     # Albanien
    "237": (0.7, 0.8, "asyl", 0.85, 0.15),    # Gambia
    "232": (0.7, 1.0, "asyl", 0.8, 0.15),     # Nigeria
    "439": (0.8, 1.2, "asyl", 0.8, 0.5),      # Iran
    "461": (0.6, 0.8, "asyl", 0.8, 0.05),     # Pakistan
    "224": (0.4, 0.4, "asyl", 0.9, 0.85),     # Eritrea
    "273": (0.3, 0.3, "asyl", 0.9, 0.6),      # Somalia
    "430": (0.5, 1.2, "asyl", 0.6, 0.02),     # Georgien
    "432": (0.5, 0.5, "other", 0.0, 0.1),     # Vietnam
    "368": (0.5, 0.5, "other", 0, 0),         # Vereinigte Staaten
    "168": (0.5, 0.4, "west", 0, 0),          # Vereinigtes Königreich
    "155": (0.5, 0.5, "ost", 0, 0),           # Slowakei
    "164": (0.4, 0.4, "ost", 0, 0),           # Tschechien
    "148": (0.3, 0.3, "west", 0, 0),          # Niederlande
    "252": (0.3, 0.4, "other", 0.3, 0.1),     # Marokko
    "285": (0.3, 0.4, "other", 0.2, 0.05),    # Tunesien
    "287": (0.3, 0.4, "other", 0.1, 0.1),     # Ägypten
    "431": (0.4, 0.3, "asyl", 0.5, 0.2),      # Sri Lanka
    "327": (0.3, 0.4, "other", 0, 0),         # Brasilien
    "467": (0.3, 0.3, "other", 0, 0),         # Korea, Republik
    "158": (0.3, 0.3, "west", 0, 0),          # Schweiz
    "140": (0.2, 0.2, "gast", 0, 0),          # Montenegro
    "146": (0.3, 0.3, "other", 0.1, 0.05),    # Moldau
    "997": (0.15, 0.1, "asyl", 0.5, 0.5),     # staatenlos
    "998": (0.2, 0.2, "asyl", 0.6, 0.4),      # ungeklärt
    "999": (0.05, 0.05, "other", 0, 0),       # ohne Angabe
}
_NAT_REST = (0.012, 0.012, "other", 0.1, 0.2)  # every other valid code: rare but present


_PROFILES = ["gast", "ost", "asyl", "ukr", "other", "west"]
_BORN_HERE = np.array([0.30, 0.10, 0.12, 0.03, 0.10, 0.10])  # share born in Germany, per profile


def _ukraine_surge(t: int) -> float:
    """Level shift of the foreign population from March 2022 (+3.5 % over ten months)."""
    return 1 + 0.035 * min(1.0, max(0.0, (t - month_index("2022-03") + 1) / 10))


class Foreigners:
    """The foreigners office's register, one row per person ever registered."""

    def __init__(self, rng: np.random.Generator, ref: Reference, scale: float, t0: int, salt: int):
        self.rng, self.ref, self.t0, self.salt = rng, ref, t0, salt
        nn = len(ref.nat)
        self.w_stock = np.full(nn, _NAT_REST[0])
        self.w_new = np.full(nn, _NAT_REST[1])
        self.profile = np.full(nn, _PROFILES.index("other"))
        self.p_asyl = np.full(nn, _NAT_REST[3])
        self.p_prot = np.full(nn, _NAT_REST[4])
        for code, (ws, wn, prof, pa, pp) in _NAT.items():
            i = ref.nat_index(code)
            self.w_stock[i], self.w_new[i], self.profile[i] = ws, wn, _PROFILES.index(prof)
            self.p_asyl[i], self.p_prot[i] = pa, pp
        self.p_asyl[ref.nat_asyl8] = np.maximum(self.p_asyl[ref.nat_asyl8], 0.8)
        self.p_asyl[ref.nat_eu] = 0.0
        i000 = ref.nat_index("000")
        self.w_stock[i000] = self.w_new[i000] = 0.0  # never German in the foreigners' register
        self.ukr = ref.nat_index("166")
        # Foreigners live more in the towns (Große Kreisstädte) than in the villages.
        f = np.where(ref.gks, 1.35, np.where(ref.einwohner >= 10_000, 1.0, np.where(ref.einwohner >= 5_000, 0.8, 0.6)))
        self.w_ags = ref.einwohner * f

        self.n_ref = max(round(FOREIGN_RESIDENTS * scale), 10 * len(ref.ags))
        self.n0 = max(round(self._target(t0)), 10 * len(ref.ags))
        self.cols: dict[str, np.ndarray] = {}
        self.next_uid = 0
        at = month_end(t0)
        n_anchor = ABH_ANCHORS * len(ref.ags)
        anchors = self._stock(n_anchor, at)
        anchors["ags"] = np.repeat(np.arange(len(ref.ags)), ABH_ANCHORS).astype(np.int16)
        anchors["anchor"][:] = True
        self._add(anchors)
        self._add(self._stock(self.n0 - n_anchor, at))
        self.naturalised: dict[int, pd.DataFrame] = {}

    def _target(self, t: int) -> float:
        """The stock the arrivals keep: ~1.5 % growth a year around FOREIGN_REF, plus Ukraine."""
        return self.n_ref * 1.015 ** ((t - month_index(FOREIGN_REF)) / 12) * _ukraine_surge(t)

    # --- creating people

    def _add(self, p: dict[str, np.ndarray]) -> None:
        n = len(p["nat"])
        uid = np.arange(self.next_uid, self.next_uid + n, dtype=np.int64)
        self.next_uid += n
        p["uid"] = uid
        p["pid"] = pseudonyms(uid, self.salt)
        p["entry_str"] = format_days(p["entry"])
        p["active"] = np.ones(n, dtype=bool)
        if not self.cols:
            self.cols = p
        else:
            self.cols = {k: np.concatenate([self.cols[k], p[k]]) for k in self.cols}

    def _entry_year_weights(self, years: np.ndarray) -> np.ndarray:
        y = years.astype(float)
        w = np.zeros((len(_PROFILES), len(years)))
        w[0] = np.select([y < 1973, y < 1988, y < 1996, y < 2011], [1.0, 0.6, 1.2, 0.6], 1.0 + 0.1 * (y - 2010))
        w[1] = np.select([y < 1990, y < 2007, y < 2014], [0.1, 0.3, 1.0], 1.6)
        w[2] = np.select([y < 1990, y < 2014, y == 2014, y < 2017, y == 2017, y < 2022, y == 2022],
                         [0.05, 0.2, 1.5, 4.0, 1.5, 1.0, 1.5], 2.0)
        w[3] = np.select([y < 2014, y < 2022, y == 2022], [0.1, 0.3, 30.0], 8.0)
        w[4] = np.where(y < 2000, 0.2, 0.5 + 0.1 * (y - 2000))
        w[5] = np.where(y < 1990, 0.5, 1.0)
        return w

    def _sex(self, prof: np.ndarray) -> np.ndarray:
        n = len(prof)
        p_m = np.where(prof == 2, 0.62, np.where(prof == 3, 0.38, 0.52))
        sex = np.where(self.rng.random(n) < p_m, 0, 1)
        sex[self.rng.random(n) < 0.0005] = 2
        return sex.astype(np.int8)

    def _age_at_entry(self, n: int) -> np.ndarray:
        kind = draw(self.rng, [0.22, 0.68, 0.10], n)
        age = np.where(kind == 0, self.rng.integers(0, 18, n),
                       np.where(kind == 1, triangular(self.rng, 18, 26, 46, n), self.rng.uniform(46, 70, n)))
        return age.astype(np.int64)

    def _stock(self, n: int, at: int) -> dict[str, np.ndarray]:
        """People already living here on day `at`, entered over the past decades."""
        rng = self.rng
        nat = draw(rng, self.w_stock, n)
        prof = self.profile[nat]
        y_at = int(np.datetime64(at, "D").astype("datetime64[Y]").astype(int)) + 1970
        years = np.arange(1960, y_at + 1)
        cum = np.cumsum(self._entry_year_weights(years), axis=1)
        cum /= cum[:, -1:]
        u = rng.random(n)
        ey = np.empty(n, dtype=np.int64)
        for p in range(len(_PROFILES)):
            m = prof == p
            ey[m] = years[np.minimum(np.searchsorted(cum[p], u[m], side="right"), len(years) - 1)]
        year_start = (ey - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        entry = np.minimum(year_start + rng.integers(0, 365, n), at)
        ey = (entry.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
        age_e = np.minimum(self._age_at_entry(n), np.maximum(0, 88 - (y_at - ey)))
        by = ey - age_e
        # Born in Germany: "first entry" is the birth date.
        born = rng.random(n) < _BORN_HERE[prof]
        bday = at - rng.integers(0, 36 * 365, n)
        entry = np.where(born, bday, entry)
        by = np.where(born, bday.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970, by)
        status = self._initial_status(nat, entry, at)
        return {
            "nat": nat.astype(np.int16), "by": by.astype(np.int16), "sex": self._sex(prof),
            "ags": draw(rng, self.w_ags, n).astype(np.int16), "entry": entry.astype(np.int32),
            "status": status, "anchor": np.zeros(n, dtype=bool),
        }

    def _initial_status(self, nat: np.ndarray, entry: np.ndarray, at: int) -> np.ndarray:
        rng, ref = self.rng, self.ref
        n = len(nat)
        st = np.empty(n, dtype=np.int8)
        years = (at - entry) / 365.25
        eu = ref.nat_eu[nat]
        st[eu] = ref.st("EU_FREIZUEGIGKEIT")
        ukr_new = (nat == self.ukr) & (entry >= day_number(2022, 2, 24))
        pick = draw(rng, [0.95, 0.01, 0.04], int(ukr_new.sum()))
        st[ukr_new] = np.array([ref.st(c) for c in ("AE_VORUEBERGEHEND", "FIKTION", "AE_ERWERB")])[pick]
        rest = ~eu & ~ukr_new
        asyl_hist = rng.random(n) < np.where(self.profile[nat] == 2, 0.85, self.p_asyl[nat] * 0.6)
        dur_bin = np.digitize(years, [1, 3, 6])
        # asylum history, by years since entry
        a_codes = ["GESTATTUNG", "_DECIDED", "NE_HUMANITAER", "NE", "AE_HUMANITAER", "AE_FAMILIE", "AE_ERWERB", "FIKTION"]
        a_tab = np.array([
            [0.85, 0.14, 0.00, 0.00, 0.00, 0.00, 0.00, 0.01],
            [0.45, 0.45, 0.00, 0.00, 0.04, 0.04, 0.01, 0.01],
            [0.06, 0.62, 0.10, 0.00, 0.09, 0.07, 0.05, 0.01],
            [0.01, 0.36, 0.27, 0.10, 0.10, 0.09, 0.06, 0.01],
        ])
        m = rest & asyl_hist
        st[m] = self._asylum_codes(a_codes, draw(rng, a_tab, table=dur_bin[m]), nat[m])
        r_codes = ["AE_ERWERB", "AE_FAMILIE", "AE_BILDUNG", "FIKTION", "AE_BESONDERS", "NE", "DA_EU", "OHNE"]
        r_tab = np.array([
            [0.38, 0.38, 0.21, 0.01, 0.02, 0.00, 0.00, 0.000],
            [0.32, 0.37, 0.13, 0.01, 0.03, 0.11, 0.02, 0.003],
            [0.22, 0.27, 0.06, 0.01, 0.04, 0.35, 0.04, 0.003],
            [0.11, 0.16, 0.02, 0.01, 0.05, 0.57, 0.08, 0.003],
        ])
        m = rest & ~asyl_hist
        st[m] = np.array([ref.st(c) for c in r_codes])[draw(rng, r_tab, table=dur_bin[m])]
        return st

    def _asylum_codes(self, codes: list[str], picked: np.ndarray, nat: np.ndarray) -> np.ndarray:
        """Map category picks to status codes; '_DECIDED' splits into protection or Duldung by nationality."""
        ref, rng = self.ref, self.rng
        out = np.empty(len(picked), dtype=np.int8)
        for i, c in enumerate(codes):
            if c != "_DECIDED":
                out[picked == i] = ref.st(c)
        dec = picked == codes.index("_DECIDED")
        out[dec] = self._decide(nat[dec])
        return out

    def _decide(self, nat: np.ndarray) -> np.ndarray:
        """Outcome of an asylum procedure: a protection status or Duldung (rejected, not deported)."""
        ref, rng = self.ref, self.rng
        n = len(nat)
        prot = np.array([ref.st(c) for c in ("AE_FLUECHTLING", "AE_SUBSIDIAER", "AE_ABSCHIEBUNGSVERBOT", "AE_ASYL")])
        granted = rng.random(n) < self.p_prot[nat]
        return np.where(granted, prot[draw(rng, [0.50, 0.33, 0.13, 0.04], n)], ref.st("DULDUNG")).astype(np.int8)

    def _newcomers(self, n: int, t: int) -> dict[str, np.ndarray]:
        """Arrivals from abroad during month t."""
        rng, ref = self.rng, self.ref
        w = self.w_new
        if month_index("2022-03") <= t <= month_index("2023-06"):  # refugees from the war in Ukraine
            w = w.copy()
            w[self.ukr] *= 8 if t <= month_index("2022-12") else 3
        nat = draw(rng, w, n)
        prof = self.profile[nat]
        entry = month_start(t) + rng.integers(0, month_end(t) - month_start(t) + 1, n)
        y = year_month(t)[0]
        by = y - self._age_at_entry(n)
        st = np.empty(n, dtype=np.int8)
        eu = ref.nat_eu[nat]
        st[eu] = ref.st("EU_FREIZUEGIGKEIT")
        ukr = nat == self.ukr
        st[ukr] = np.where(rng.random(int(ukr.sum())) < 0.85, ref.st("AE_VORUEBERGEHEND"), ref.st("FIKTION"))
        asyl = ~eu & ~ukr & (rng.random(n) < self.p_asyl[nat])
        st[asyl] = ref.st("GESTATTUNG")
        other = ~eu & ~ukr & ~asyl
        codes = np.array([ref.st(c) for c in ("AE_ERWERB", "AE_FAMILIE", "AE_BILDUNG", "FIKTION")])
        st[other] = codes[draw(rng, [0.35, 0.40, 0.20, 0.05], int(other.sum()))]
        return {
            "nat": nat.astype(np.int16), "by": by.astype(np.int16), "sex": self._sex(prof),
            "ags": draw(rng, self.w_ags, n).astype(np.int16), "entry": entry.astype(np.int32),
            "status": st, "anchor": np.zeros(n, dtype=bool),
        }

    def _births(self, n: int, t: int) -> dict[str, np.ndarray]:
        """Children born here to foreign parents: nationality, place and status follow a parent."""
        rng, ref, c = self.rng, self.ref, self.cols
        act = np.flatnonzero(c["active"])
        parent = act[rng.integers(0, len(act), n)]
        nat = c["nat"][parent]
        entry = month_start(t) + rng.integers(0, month_end(t) - month_start(t) + 1, n)
        pst = c["status"][parent]
        keep = np.isin(pst, [ref.st(s) for s in ("EU_FREIZUEGIGKEIT", "GESTATTUNG", "DULDUNG", "AE_VORUEBERGEHEND")])
        st = np.where(keep, pst, ref.st("AE_FAMILIE")).astype(np.int8)
        sex = np.where(rng.random(n) < 0.51, 0, 1).astype(np.int8)
        return {
            "nat": nat, "by": np.full(n, year_month(t)[0], dtype=np.int16), "sex": sex,
            "ags": c["ags"][parent], "entry": entry.astype(np.int32), "status": st,
            "anchor": np.zeros(n, dtype=bool),
        }

    # --- one month

    def step(self, t: int) -> None:
        rng, ref, c = self.rng, self.ref, self.cols
        act = np.flatnonzero(c["active"])
        n = len(act)
        day = month_end(t)
        st = c["status"][act]
        years = (day - c["entry"][act]) / 365.25
        S = ref.st
        u = rng.random(n)
        new = st.copy()
        # Asylum procedures end: protection or Duldung.
        m = (st == S("GESTATTUNG")) & (u < 0.05)
        new[m] = self._decide(c["nat"][act[m]])
        new[(st == S("DULDUNG")) & (u < 0.008)] = S("AE_HUMANITAER")
        prot = np.isin(st, [S("AE_FLUECHTLING"), S("AE_SUBSIDIAER"), S("AE_ASYL"), S("AE_ABSCHIEBUNGSVERBOT")])
        new[prot & (years >= 5) & (u < 0.012)] = S("NE_HUMANITAER")
        temp = np.isin(st, [S("AE_ERWERB"), S("AE_FAMILIE"), S("AE_BESONDERS"), S("AE_HUMANITAER")])
        new[temp & (years >= 5) & (u < 0.007)] = S("NE")
        new[temp & (years >= 5) & (u >= 0.007) & (u < 0.008)] = S("DA_EU")
        new[(st == S("AE_BILDUNG")) & (u < 0.015)] = S("AE_ERWERB")
        m = (st == S("FIKTION")) & (u < 0.2)
        new[m] = np.where(u[m] < 0.1, S("AE_ERWERB"), S("AE_FAMILIE"))
        new[np.isin(st, [S("AE_ERWERB"), S("AE_FAMILIE")]) & (u > 0.997)] = S("FIKTION")
        m = (st == S("OHNE")) & (u < 0.05)
        new[m] = np.where(u[m] < 0.025, S("DULDUNG"), S("AE_FAMILIE"))
        new[(st == S("AE_VORUEBERGEHEND")) & (u < 0.002)] = S("AE_ERWERB")
        c["status"][act] = new

        # Naturalisations: long residence, a secure title; the 2024 reform (27.06.2024)
        # cut the residence requirement from 8 to 5 years and numbers jumped.
        reform = t >= month_index("2024-07")
        min_years = 5 if reform else 8
        rate = 0.0036 if reform else 0.0026
        grp = ref.statusgruppe[new]
        ok_title = np.isin(grp, ["unbefristet", "befristet", "schutz_anerkannt"]) & ~np.isin(
            new, [S("AE_BILDUNG"), S("AE_VORUEBERGEHEND")])
        eu = ref.nat_eu[c["nat"][act]]
        p_nat = np.where(eu, 0.0004, np.where(ok_title & (years >= min_years), rate, 0.0))
        anchor = c["anchor"][act]
        v = rng.random(n)
        nat_mask = (v < p_nat) & ~anchor
        # Departures: abroad, elsewhere in Germany, deaths; more among recent and insecure stays.
        mult = np.ones(n)
        mult[np.isin(new, [S("DULDUNG")])] = 1.8
        mult[np.isin(new, [S("GESTATTUNG")])] = 1.2
        mult[years < 2] *= 1.5
        mult[self.profile[c["nat"][act]] == 1] *= 1.4
        mult[(year_month(t)[0] - c["by"][act]) >= 80] *= 2.0
        dep_mask = (v >= p_nat) & (v < p_nat + 0.0075 * mult) & ~anchor
        idx = act[nat_mask]
        if len(idx):
            days = month_start(t) + rng.integers(0, day - month_start(t) + 1, len(idx))
            order = np.argsort(days, kind="stable")
            idx, days = idx[order], days[order]
            self.naturalised[t] = pd.DataFrame({
                "einbuergerungsdatum": format_days(days), "person_id": c["pid"][idx],
                "geburtsjahr": c["by"][idx].astype(np.int64), "geschlecht": SEXES[c["sex"][idx]],
                "bisherige_staatsangehoerigkeit": ref.nat[c["nat"][idx]], "ags": ref.ags[c["ags"][idx]],
            })
        c["active"][act[nat_mask | dep_mask]] = False
        # Moves between the municipalities of the district.
        mv = act[(rng.random(n) < 0.002) & ~anchor & c["active"][act]]
        c["ags"][mv] = draw(rng, self.w_ags, len(mv)).astype(np.int16)

        # Arrivals keep the stock on a growth path of ~1.5 % a year (with noise).
        target = self._target(t)
        n_now = int(c["active"].sum())
        n_arr = max(0, round(target - n_now + rng.normal(0, 0.002 * target)))
        n_birth = round(n_arr * 0.10)
        n_move = round(n_arr * 0.35)
        n_abroad = n_arr - n_birth - n_move
        parts = [self._births(n_birth, t), self._stock(n_move, day), self._newcomers(n_abroad, t)]
        for p in parts:
            if len(p["nat"]):
                self._add(p)

    def snapshot(self, t: int) -> pd.DataFrame:
        c, ref = self.cols, self.ref
        a = np.flatnonzero(c["active"])
        a = a[np.argsort(c["pid"][a], kind="stable")]  # the register is dumped in key order
        return pd.DataFrame({
            "stichtag": np.full(len(a), format_day(month_end(t))),
            "person_id": c["pid"][a],
            "geburtsjahr": c["by"][a].astype(np.int64),
            "geschlecht": SEXES[c["sex"][a]],
            "staatsangehoerigkeit": ref.nat[c["nat"][a]],
            "ags": ref.ags[c["ags"][a]],
            "einreisedatum": c["entry_str"][a],
            "aufenthaltsstatus": ref.status[c["status"][a]],
        })

    def naturalisations(self, t: int) -> pd.DataFrame:
        cols = ["einbuergerungsdatum", "person_id", "geburtsjahr", "geschlecht",
                "bisherige_staatsangehoerigkeit", "ags"]
        return self.naturalised.get(t, pd.DataFrame({k: pd.Series(dtype=object) for k in cols}))

    def population_counts(self, year: int) -> np.ndarray:
        """Foreign residents now (run at December of `year`): array (ags, sex m/w, age group)."""
        c = self.cols
        a = np.flatnonzero(c["active"])
        sex = c["sex"][a].astype(np.int64)
        sex = np.where(sex == 2, c["uid"][a] % 2, sex)  # 'd' is counted as m or w by the statistical office
        ag = np.digitize(year - c["by"][a].astype(np.int64), [6, 15, 18, 25, 65])
        out = np.zeros((len(self.ref.ags), 2, 6), dtype=np.int64)
        np.add.at(out, (c["ags"][a].astype(np.int64), sex, ag), 1)
        return out


def write_month(out_dir: Path, sim: Foreigners, t: int, seed: int) -> list[Path]:
    # The foreigners office runs Windows: cp1252 and CRLF line ends.
    folder, lab = out_dir / "auslaenderbehoerde", period_label(t)
    return [write_csv(folder / f"abh_bestand_{lab}.csv", sim.snapshot(t), seed, "cp1252", "\r\n"),
            write_csv(folder / f"abh_einbuergerungen_{lab}.csv", sim.naturalisations(t), seed, "cp1252", "\r\n")]
