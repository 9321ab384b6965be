"""Synthetic extracts in the exact delivery formats of shared/spec/sources.md.

`generate()` simulates the district month by month and writes what each provider
would deliver:

- foreign residents (Ausländerbehörde): a persistent population with arrivals from
  abroad, moves in from elsewhere in Germany, births, departures, moves between the
  municipalities, asylum decisions (GESTATTUNG -> protection or DULDUNG), status
  progressions (AE -> NE) and naturalisations (a naturalised person leaves
  `abh_bestand` and appears in `abh_einbuergerungen` the same month);
- people on SGB II (Jobcenter) in benefit households, with entries, exits, births,
  unemployment/employment spells, integration courses and job take-ups;
- refugee accommodation facilities (VU/AU) with occupancy, status mix and moves out;
- schools (pupils per school/grade/nationality/sex, leavers per municipality);
- the population on 31 December (foreigners from the simulated register).

Scale 1.0 is the real district; smaller scales shrink every count but keep
minimums (every municipality in every person file, >= 6 facilities, >= 8 schools,
a dense population table). The simulations start a year before the first written
month so that stocks and flows are in step. Everything is vectorised numpy; the same
arguments give the same bytes. Person identifiers are made-up pseudonyms: no real data.

Layout varies per file as real exports do (seeded by the file name): column order
shuffled on some files, header case varied a little, a trailing blank on a header
now and then, a BOM on some Jobcenter files, CRLF line ends in the foreigners
office's cp1252 files, Stichtag as a date cell or as text, an extra sheet before
`Belegung` in some workbooks.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"

# The real district, i.e. scale 1.0.
FOREIGN_RESIDENTS = 118_000
SGB2_PERSONS = 26_000
FACILITIES = 180
SCHOOLS = 170
# Population: sum of gemeinden.csv einwohner_ca (~542,000).

# Where the stock levels above hold (the simulations grow ~1.5 % a year around them).
FOREIGN_REF = "2021-12"
SGB2_REF = "2022-01"
# Every monthly simulation starts here (or a year before an earlier window), whatever
# window is written: a later window then continues the same district, so the files an
# earlier call wrote come out byte for byte again (`imon generate` for the next month).
SIM_ORIGIN = "2017-12"

MIN_FACILITIES = 6
MIN_SCHOOLS = 8
ABH_ANCHORS = 2  # per municipality: residents who never leave, so no municipality vanishes
SEXES = np.array(["m", "w", "d"])

# ----------------------------------------------------------------------------- calendar


def _mi(period: str) -> int:
    """'YYYY-MM' -> month index (year * 12 + month - 1)."""
    y, m = period.split("-")
    if not (len(y) == 4 and len(m) == 2 and 1 <= int(m) <= 12):
        raise ValueError(f"Monat im Format YYYY-MM erwartet, nicht {period!r}")
    return int(y) * 12 + int(m) - 1


def _ym(t: int) -> tuple[int, int]:
    return t // 12, t % 12 + 1


def _label(t: int) -> str:
    y, m = _ym(t)
    return f"{y:04d}-{m:02d}"


def _day(y: int, m: int = 1, d: int = 1) -> int:
    """Days since 1970-01-01."""
    return (dt.date(y, m, d) - dt.date(1970, 1, 1)).days


def _month_start(t: int) -> int:
    return _day(*_ym(t))


def _month_end(t: int) -> int:
    return _month_start(t + 1) - 1


def _fmt_days(days: np.ndarray) -> np.ndarray:
    """Days since epoch -> 'dd.mm.yyyy' strings, vectorised."""
    d = np.asarray(days, dtype="int64").astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]")
    mo = months.astype(np.int64) % 12 + 1
    dd = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    buf = np.empty((len(d), 10), dtype=np.uint8)
    buf[:, 0], buf[:, 1], buf[:, 2] = 48 + dd // 10, 48 + dd % 10, 46
    buf[:, 3], buf[:, 4], buf[:, 5] = 48 + mo // 10, 48 + mo % 10, 46
    for i, p in enumerate((1000, 100, 10, 1)):
        buf[:, 6 + i] = 48 + (y // p) % 10
    return buf.view("S10").ravel().astype("U10")


def _fmt_day(day: int) -> str:
    return str(_fmt_days(np.array([day]))[0])


# ----------------------------------------------------------------------------- pseudonyms

_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def _pseudonyms(uids: np.ndarray, salt: int, width: int = 16, prefix: str = "") -> np.ndarray:
    """Provider pseudonyms: a bijective 64-bit mix (splitmix64) of the person number, as hex.

    Bijective, so distinct persons never share a pseudonym at full width."""
    with np.errstate(over="ignore"):
        z = uids.astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    buf = np.empty((len(z), 16), dtype=np.uint8)
    for i in range(16):
        buf[:, 15 - i] = _HEX[((z >> np.uint64(4 * i)) & np.uint64(15)).astype(np.intp)]
    out = np.ascontiguousarray(buf[:, 16 - width:]).view(f"S{width}").ravel().astype(f"U{width}")
    return np.strings.add(prefix, out) if prefix else out


# ----------------------------------------------------------------------------- sampling helpers


def _draw(rng: np.random.Generator, probs, n: int | None = None, table: np.ndarray | None = None) -> np.ndarray:
    """Category index per row. `probs` (k,) with n rows, or (T, k) with each row's table in `table`."""
    probs = np.asarray(probs, dtype=float)
    cum = np.cumsum(probs, axis=-1)
    cum = cum / cum[..., -1:]
    k = probs.shape[-1]
    if probs.ndim == 1:
        return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), k - 1)
    u = rng.random(len(table))
    out = np.zeros(len(table), dtype=np.int64)
    for ti in np.unique(table):
        m = table == ti
        out[m] = np.searchsorted(cum[ti], u[m], side="right")
    return np.minimum(out, k - 1)


def _tri(rng, lo, mode, hi, n):
    return rng.triangular(lo, mode, hi, n)


# ----------------------------------------------------------------------------- reference data

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

# Foreign nationalities among people on SGB II (%), and who counts as "Fluchtkontext".
_JC_NAT = {
    "166": 10.0, "475": 7.5, "163": 11.0, "423": 4.5, "438": 3.5, "154": 5.5, "125": 5.0,
    "137": 5.0, "134": 4.0, "130": 3.5, "150": 4.0, "170": 2.5, "122": 2.0, "144": 2.0,
    "152": 2.0, "439": 1.3, "232": 1.3, "224": 1.2, "273": 0.8, "461": 0.6, "237": 1.0,
    "430": 0.8, "121": 1.0, "160": 1.0, "252": 0.8, "285": 0.5, "998": 0.4, "997": 0.2,
    "436": 0.5, "165": 1.5, "153": 1.0, "161": 0.8, "287": 0.5, "146": 0.4,
}
_JC_NAT_REST = 0.02

_PROFILES = ["gast", "ost", "asyl", "ukr", "other", "west"]
_BORN_HERE = np.array([0.30, 0.10, 0.12, 0.03, 0.10, 0.10])  # share born in Germany, per profile

STREETS = [
    "Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Kirchstraße", "Mühlstraße", "Gartenstraße",
    "Industriestraße", "Lindenstraße", "Talstraße", "Schulstraße", "Neckarstraße", "Römerstraße",
    "Bühlstraße", "Gärtnerweg", "Brühlweg", "Schäferweg", "Weilstraße", "Uhlandstraße",
    "Friedrichstraße", "Stuttgarter Straße", "Plochinger Straße", "Jägerhausstraße", "Fabrikstraße",
    "Am Mühlbach", "Wiesenweg", "Rosenstraße", "Ulmer Straße", "Zeppelinstraße",
]
PATRONS = [
    "Schiller", "Mörike", "Uhland", "Hölderlin", "Kepler", "Eichendorff", "Lessing", "Schubart",
    "Hauff", "Kerner", "Silcher", "Brüder-Grimm", "Pestalozzi", "Käthe-Kollwitz", "Theodor-Heuss",
    "Geschwister-Scholl", "Albert-Schweitzer", "Anne-Frank", "Erich-Kästner", "Friedrich-Fröbel",
    "Robert-Bosch", "Gottlieb-Daimler", "Johannes-Kepler", "Ludwig-Uhland", "Justinus-Kerner",
    "Bismarck", "Goethe", "Sophie-Scholl", "Astrid-Lindgren", "Max-Eyth",
]


@dataclass
class _Ref:
    ags: np.ndarray           # 44 AGS codes
    names: np.ndarray         # municipality names
    einwohner: np.ndarray     # float
    gks: np.ndarray           # bool: Große Kreisstadt
    nat: np.ndarray           # valid (non-historic) nationality codes, '000' included
    nat_eu: np.ndarray        # EU/EEA/CH: free movement
    nat_asyl8: np.ndarray     # the eight main asylum countries of origin
    status: np.ndarray        # residence-status codes
    statusgruppe: np.ndarray

    @classmethod
    def load(cls, ref_dir: Path = REFERENCE_DIR) -> "_Ref":
        g = pd.read_csv(ref_dir / "gemeinden.csv", dtype=str)
        n = pd.read_csv(ref_dir / "staatsangehoerigkeit.csv", dtype=str, keep_default_na=False)
        n = n[n["historisch"] != "J"].reset_index(drop=True)
        s = pd.read_csv(ref_dir / "aufenthaltsstatus.csv", dtype=str)
        return cls(
            ags=g["ags"].to_numpy(dtype="U8"),
            names=g["name"].to_numpy(dtype=object),
            einwohner=g["einwohner_ca"].astype(float).to_numpy(),
            gks=(g["grosse_kreisstadt"] == "J").to_numpy(),
            nat=n["code"].to_numpy(dtype="U3"),
            nat_eu=((n["eu"] == "J") | (n["ewr_ch"] == "J")).to_numpy(),
            nat_asyl8=(n["asylherkunft"] == "J").to_numpy(),
            status=s["code"].to_numpy(dtype=object),
            statusgruppe=s["statusgruppe"].to_numpy(dtype=object),
        )

    def nat_index(self, code: str) -> int:
        return int(np.flatnonzero(self.nat == code)[0])

    def st(self, code: str) -> int:
        return int(np.flatnonzero(self.status == code)[0])


# ----------------------------------------------------------------------------- foreign residents


def _ukraine_surge(t: int) -> float:
    """Level shift of the foreign population from March 2022 (+3.5 % over ten months)."""
    return 1 + 0.035 * min(1.0, max(0.0, (t - _mi("2022-03") + 1) / 10))


class _Foreigners:
    """The foreigners office's register, one row per person ever registered."""

    def __init__(self, rng: np.random.Generator, ref: _Ref, scale: float, t0: int, salt: int):
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
        at = _month_end(t0)
        n_anchor = ABH_ANCHORS * len(ref.ags)
        anchors = self._stock(n_anchor, at)
        anchors["ags"] = np.repeat(np.arange(len(ref.ags)), ABH_ANCHORS).astype(np.int16)
        anchors["anchor"][:] = True
        self._add(anchors)
        self._add(self._stock(self.n0 - n_anchor, at))
        self.naturalised: dict[int, pd.DataFrame] = {}

    def _target(self, t: int) -> float:
        """The stock the arrivals keep: ~1.5 % growth a year around FOREIGN_REF, plus Ukraine."""
        return self.n_ref * 1.015 ** ((t - _mi(FOREIGN_REF)) / 12) * _ukraine_surge(t)

    # --- creating people

    def _add(self, p: dict[str, np.ndarray]) -> None:
        n = len(p["nat"])
        uid = np.arange(self.next_uid, self.next_uid + n, dtype=np.int64)
        self.next_uid += n
        p["uid"] = uid
        p["pid"] = _pseudonyms(uid, self.salt)
        p["entry_str"] = _fmt_days(p["entry"])
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
        kind = _draw(self.rng, [0.22, 0.68, 0.10], n)
        age = np.where(kind == 0, self.rng.integers(0, 18, n),
                       np.where(kind == 1, _tri(self.rng, 18, 26, 46, n), self.rng.uniform(46, 70, n)))
        return age.astype(np.int64)

    def _stock(self, n: int, at: int) -> dict[str, np.ndarray]:
        """People already living here on day `at`, entered over the past decades."""
        rng = self.rng
        nat = _draw(rng, self.w_stock, n)
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
            "ags": _draw(rng, self.w_ags, n).astype(np.int16), "entry": entry.astype(np.int32),
            "status": status, "anchor": np.zeros(n, dtype=bool),
        }

    def _initial_status(self, nat: np.ndarray, entry: np.ndarray, at: int) -> np.ndarray:
        rng, ref = self.rng, self.ref
        n = len(nat)
        st = np.empty(n, dtype=np.int8)
        years = (at - entry) / 365.25
        eu = ref.nat_eu[nat]
        st[eu] = ref.st("EU_FREIZUEGIGKEIT")
        ukr_new = (nat == self.ukr) & (entry >= _day(2022, 2, 24))
        pick = _draw(rng, [0.95, 0.01, 0.04], int(ukr_new.sum()))
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
        st[m] = self._asylum_codes(a_codes, _draw(rng, a_tab, table=dur_bin[m]), nat[m])
        r_codes = ["AE_ERWERB", "AE_FAMILIE", "AE_BILDUNG", "FIKTION", "AE_BESONDERS", "NE", "DA_EU", "OHNE"]
        r_tab = np.array([
            [0.38, 0.38, 0.21, 0.01, 0.02, 0.00, 0.00, 0.000],
            [0.32, 0.37, 0.13, 0.01, 0.03, 0.11, 0.02, 0.003],
            [0.22, 0.27, 0.06, 0.01, 0.04, 0.35, 0.04, 0.003],
            [0.11, 0.16, 0.02, 0.01, 0.05, 0.57, 0.08, 0.003],
        ])
        m = rest & ~asyl_hist
        st[m] = np.array([ref.st(c) for c in r_codes])[_draw(rng, r_tab, table=dur_bin[m])]
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
        return np.where(granted, prot[_draw(rng, [0.50, 0.33, 0.13, 0.04], n)], ref.st("DULDUNG")).astype(np.int8)

    def _newcomers(self, n: int, t: int) -> dict[str, np.ndarray]:
        """Arrivals from abroad during month t."""
        rng, ref = self.rng, self.ref
        w = self.w_new
        if _mi("2022-03") <= t <= _mi("2023-06"):  # refugees from the war in Ukraine
            w = w.copy()
            w[self.ukr] *= 8 if t <= _mi("2022-12") else 3
        nat = _draw(rng, w, n)
        prof = self.profile[nat]
        entry = _month_start(t) + rng.integers(0, _month_end(t) - _month_start(t) + 1, n)
        y = _ym(t)[0]
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
        st[other] = codes[_draw(rng, [0.35, 0.40, 0.20, 0.05], int(other.sum()))]
        return {
            "nat": nat.astype(np.int16), "by": by.astype(np.int16), "sex": self._sex(prof),
            "ags": _draw(rng, self.w_ags, n).astype(np.int16), "entry": entry.astype(np.int32),
            "status": st, "anchor": np.zeros(n, dtype=bool),
        }

    def _births(self, n: int, t: int) -> dict[str, np.ndarray]:
        """Children born here to foreign parents: nationality, place and status follow a parent."""
        rng, ref, c = self.rng, self.ref, self.cols
        act = np.flatnonzero(c["active"])
        parent = act[rng.integers(0, len(act), n)]
        nat = c["nat"][parent]
        entry = _month_start(t) + rng.integers(0, _month_end(t) - _month_start(t) + 1, n)
        pst = c["status"][parent]
        keep = np.isin(pst, [ref.st(s) for s in ("EU_FREIZUEGIGKEIT", "GESTATTUNG", "DULDUNG", "AE_VORUEBERGEHEND")])
        st = np.where(keep, pst, ref.st("AE_FAMILIE")).astype(np.int8)
        sex = np.where(rng.random(n) < 0.51, 0, 1).astype(np.int8)
        return {
            "nat": nat, "by": np.full(n, _ym(t)[0], dtype=np.int16), "sex": sex,
            "ags": c["ags"][parent], "entry": entry.astype(np.int32), "status": st,
            "anchor": np.zeros(n, dtype=bool),
        }

    # --- one month

    def step(self, t: int) -> None:
        rng, ref, c = self.rng, self.ref, self.cols
        act = np.flatnonzero(c["active"])
        n = len(act)
        day = _month_end(t)
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
        reform = t >= _mi("2024-07")
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
        mult[(_ym(t)[0] - c["by"][act]) >= 80] *= 2.0
        dep_mask = (v >= p_nat) & (v < p_nat + 0.0075 * mult) & ~anchor
        idx = act[nat_mask]
        if len(idx):
            days = _month_start(t) + rng.integers(0, day - _month_start(t) + 1, len(idx))
            order = np.argsort(days, kind="stable")
            idx, days = idx[order], days[order]
            self.naturalised[t] = pd.DataFrame({
                "einbuergerungsdatum": _fmt_days(days), "person_id": c["pid"][idx],
                "geburtsjahr": c["by"][idx].astype(np.int64), "geschlecht": SEXES[c["sex"][idx]],
                "bisherige_staatsangehoerigkeit": ref.nat[c["nat"][idx]], "ags": ref.ags[c["ags"][idx]],
            })
        c["active"][act[nat_mask | dep_mask]] = False
        # Moves between the municipalities of the district.
        mv = act[(rng.random(n) < 0.002) & ~anchor & c["active"][act]]
        c["ags"][mv] = _draw(rng, self.w_ags, len(mv)).astype(np.int16)

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
            "stichtag": np.full(len(a), _fmt_day(_month_end(t))),
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


# ----------------------------------------------------------------------------- SGB II


IK_VALUES = np.array(["", "kein", "laufend", "abgeschlossen_b1", "abgeschlossen_unter_b1", "abgebrochen"])


class _Jobcenter:
    """People in benefit households (Bedarfsgemeinschaften)."""

    def __init__(self, rng: np.random.Generator, ref: _Ref, scale: float, t_start: int, salt: int):
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
        return self.n_ref * 1.015 ** ((t - _mi(SGB2_REF)) / 12)

    def _households(self, n: int, t: int, single: bool = False) -> dict[str, np.ndarray]:
        rng = self.rng
        kind = np.zeros(n, dtype=np.int64) if single else _draw(rng, [0.50, 0.17, 0.08, 0.19, 0.06], n)
        german = rng.random(n) < 0.50
        nat = np.where(german, self.i000, _draw(rng, self.w_nat, n))
        flucht = rng.random(n) < self.p_flucht[nat]
        extra = np.where(flucht | ~german, 1, 0)  # foreign households are somewhat larger
        kids = np.select([kind == 1, kind == 3, kind == 4],
                         [1 + np.minimum(rng.geometric(0.55, n) - 1 + (rng.random(n) < 0.2 * extra), 4),
                          1 + np.minimum(rng.geometric(0.45, n) - 1 + extra * (rng.random(n) < 0.4), 5),
                          rng.integers(0, 2, n)], 0)
        adults = np.select([kind <= 1, kind == 4], [1, 2 + (rng.random(n) < 0.3)], 2)
        return {"kind": kind, "nat": nat.astype(np.int16), "flucht": flucht, "adults": adults,
                "kids": kids, "ags": _draw(rng, self.w_ags, n).astype(np.int16),
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
        head_age = np.where(rng.random(nb) < 0.04, rng.integers(65, 81, nb), _tri(rng, 18, 34, 64, nb)).astype(np.int64)
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
        y = _ym(t)[0]
        p = {
            "bg": owner.astype(np.int64), "by": (y - age).astype(np.int16), "sex": sex.astype(np.int8),
            "nat": nat, "disabled": adult & (rng.random(n) < 0.05),
            "ik": self._ik_initial(german, flucht, age >= 16),
        }
        elb_like = (age >= 18) & ~p["disabled"]
        state = _draw(rng, [0.42, 0.24, 0.34], n)  # arbeitslos / erwerbstätig / neither
        p["al"] = elb_like & (state == 0)
        p["emp"] = elb_like & (state == 1)
        p["int"] = np.zeros(n, dtype=bool)
        self._append_people(p)
        bg = {"flucht": h["flucht"], "ags": h["ags"], "anchor": h["anchor"],
              "active": np.ones(nb, dtype=bool), "boost": np.zeros(nb, dtype=np.int8),
              "nat": h["nat"], "bgid": _pseudonyms(bgi, self.salt ^ 0x5A5A, 12, "BG")}
        self.bg = bg if not self.bg else {k: np.concatenate([self.bg[k], bg[k]]) for k in self.bg}

    def _append_people(self, p: dict[str, np.ndarray]) -> None:
        n = len(p["bg"])
        uid = np.arange(self.next_uid, self.next_uid + n, dtype=np.int64)
        self.next_uid += n
        p["pid"] = _pseudonyms(uid, self.salt)
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
        ik = _draw(rng, tab, table=which)
        return np.where(adult, ik, 0).astype(np.int8)

    def step(self, t: int) -> None:
        rng, p, bg = self.rng, self.p, self.bg
        y = _ym(t)[0]
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
        bg["ags"][mv] = _draw(rng, self.w_ags, len(mv)).astype(np.int16)
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
        y = _ym(t)[0]
        age = y - p["by"][a].astype(np.int64)
        elb = (age >= 15) & (age <= 66) & ~p["disabled"][a]
        b = p["bg"][a]
        yn = np.array(["N", "J"])
        return pd.DataFrame({
            "berichtsmonat": np.full(len(a), _label(t)),
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


# ----------------------------------------------------------------------------- accommodation


class _Facilities:
    """Refugee accommodation: the district's VU and the municipalities' AU."""

    MIX = {"VU": [0.55, 0.28, 0.10, 0.07], "AU": [0.10, 0.70, 0.12, 0.08]}  # Gestattung/Schutz/Duldung/Sonstige

    def __init__(self, rng: np.random.Generator, ref: _Ref, scale: float, seed: int):
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
        ags = np.where(vu, _draw(rng, w_vu, n), _draw(rng, ref.einwohner, n)).astype(np.int16)
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
            "Stichtag": _month_end(t), "Einrichtung_ID": f["id"][a], "Einrichtung": f["name"][a],
            "Art": f["art"][a], "AGS": self.ref.ags[f["ags"][a]], "Plaetze": f["plaetze"][a],
            "Belegt": belegt, "davon_Gestattung": davon[:, 0], "davon_Schutzstatus": davon[:, 1],
            "davon_Duldung": davon[:, 2], "davon_Sonstige": davon[:, 3], "Auszuege_privat": auszug,
        })
        return df.iloc[order].reset_index(drop=True)


# ----------------------------------------------------------------------------- schools

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


class _Schools:
    """A stable set of schools; counts per school year drawn from the school's own sizes."""

    def __init__(self, seed: int, ref: _Ref, scale: float):
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
                extra = _draw(rng, ref.einwohner, k - len(base))
                ags = np.concatenate([base, extra]).astype(np.int64)
            elif st == "BS":
                w = np.where(ref.gks, ref.einwohner ** 2, 0.0)
                ags = _draw(rng, w, k)
            else:
                ags = _draw(rng, ref.einwohner ** 1.3, k)
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


# ----------------------------------------------------------------------------- population

AGE_GROUPS = np.array(["00-05", "06-14", "15-17", "18-24", "25-64", "65+"])
# German residents by sex (m, w) x age group, shares of all Germans.
_GERMAN_SHARES = np.array([
    [0.028, 0.042, 0.014, 0.036, 0.262, 0.110],
    [0.027, 0.040, 0.013, 0.034, 0.254, 0.140],
])


def _at_least_sgb2(register: np.ndarray, sgb2: np.ndarray) -> np.ndarray:
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


def _population(seed: int, ref: _Ref, scale: float, year: int, foreign: np.ndarray) -> pd.DataFrame:
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


# ----------------------------------------------------------------------------- second edition
#
# The four sources of the second edition draw from the simulated population where that is
# natural (children examined and in day care from the residents aged 0-5, long-term care
# recipients placed like the residents aged 65+, volunteers beside the follow-up
# accommodation). Each yearly file has its own generator seeded by (seed, source, year),
# so it does not depend on the window it was written in.

ESU_CHILDREN = 5_200  # examined children a year at scale 1.0
ESU_PER_RESIDENT_0_5 = ESU_CHILDREN / 30_000  # ~ one of the six birth cohorts of the 0-5 group (~30,000 at 1.0)
KITA_CHILDREN = 19_000  # children under 6 in day care on 1 March
CARE_PERSONS = 1_400  # people on long-term care assistance (Hilfe zur Pflege) on 31 December
CARE_ORIGIN = 2010  # the care register is simulated year by year from here

ESU_SPRACHE = np.array(["deutsch", "deutsch_und_andere", "andere", ""])
SPRACHBEFUND = np.array(["unauffaellig", "foerderbedarf", "intensiv", "nicht_getestet"])
GREMIEN = np.array(["rat", "ausschuss", "beauftragte", "keins"])


def _residents(pop: pd.DataFrame, ref: _Ref, altersgruppe: str) -> np.ndarray:
    """Residents of one age group on 31 December: array (municipality, deutsch/auslaendisch)."""
    p = pop[pop["altersgruppe"] == altersgruppe]
    out = np.zeros((len(ref.ags), 2))
    np.add.at(out, (np.searchsorted(ref.ags, p["ags"].to_numpy(dtype="U8")),
                    (p["staatsangehoerigkeit"] == "auslaendisch").to_numpy().astype(int)),
              p["anzahl"].to_numpy(dtype=float))
    return out


def _weekdays(first: int, last: int) -> np.ndarray:
    days = np.arange(first, last + 1)
    return days[(days + 3) % 7 < 5]  # 1970-01-01 was a Thursday: (day + 3) % 7 = weekday, Monday 0


def _esu(seed: int, ref: _Ref, scale: float, year: int, pop: pd.DataFrame, salt: int) -> pd.DataFrame:
    """School-entry examination of the school year year/year+1: one row per examined child.

    About one birth cohort of the residents aged 0-5 (31.12.year), examined 15 to 24 months
    before school entry, i.e. mostly born from October year-5 to September year-4."""
    rng = np.random.default_rng([seed, 31, year])
    u6 = _residents(pop, ref, "00-05")
    total = max(30, round(u6.sum() * ESU_PER_RESIDENT_0_5 * rng.normal(1.0, 0.01)))
    n_ags = rng.multinomial(total, u6.sum(axis=1) / u6.sum())
    ags = np.repeat(np.arange(len(ref.ags)), n_ags)
    n = len(ags)
    # "auslaendisch" here: at least one foreign nationality, so more than the residents' share.
    f_share = np.clip(1.3 * u6[:, 1] / np.maximum(1, u6.sum(axis=1)), 0.02, 0.9)
    aus = rng.random(n) < f_share[ags]
    sex = SEXES[_draw(rng, [0.51, 0.488, 0.002], n)]
    # Birth: the main cohort (Oct year-5 .. Sep year-4), some deferred a year, a few early.
    shift = np.select([rng.random(n) < 0.03, rng.random(n) < 0.005], [-365, 365], 0)
    birth = _day(year - 5, 10, 1) + rng.integers(0, 365, n) + shift
    exam_days = _weekdays(_day(year, 8, 1), _day(year + 1, 7, 31))
    w = np.where((exam_days >= _day(year, 8, 1)) & (exam_days < _day(year, 9, 10)), 0.15, 1.0)  # summer holidays
    exam = exam_days[_draw(rng, w, n)]
    # Family language by nationality group; empty = not asked or not answered.
    sprache = _draw(rng, np.array([[0.86, 0.08, 0.03, 0.03], [0.10, 0.38, 0.47, 0.05]]), table=aus.astype(int))
    # Months in day care: the start age differs (under-3 care is used less by immigrant families).
    grp = np.where(aus | (sprache == 2), 1, 0)
    kind = _draw(rng, np.array([[0.45, 0.50, 0.05], [0.20, 0.50, 0.30]]), table=grp)
    start_age = np.select([kind == 0, kind == 1], [rng.uniform(10, 30, n), rng.uniform(28, 37, n)],
                          rng.uniform(38, 60, n))
    age_m = (exam - birth) / 30.44
    kita = np.clip(np.round(age_m - start_age), 0, 72).astype(np.int64)
    kita_known = rng.random(n) >= 0.04
    # Check-up booklet and U8, vaccination record and measles doses.
    heft = rng.random(n) < np.where(aus, 0.86, 0.95)
    u8 = rng.random(n) < np.where(aus, 0.82, 0.93)
    impf = rng.random(n) < np.where(aus, 0.85, 0.93)
    masern = _draw(rng, np.array([[0.03, 0.05, 0.92], [0.06, 0.09, 0.85]]), table=aus.astype(int))
    # Language screening by family language (not screened: absent, ill, refused).
    befund = _draw(rng, np.array([[0.80, 0.13, 0.03, 0.04], [0.55, 0.27, 0.13, 0.05],
                                  [0.25, 0.36, 0.32, 0.07], [0.50, 0.25, 0.15, 0.10]]), table=sprache)
    yn = np.array(["N", "J"])
    df = pd.DataFrame({
        "untersuchungsjahr": f"{year}/{(year + 1) % 100:02d}",
        "kind_id": _pseudonyms(np.arange(n, dtype=np.int64) + year * 1_000_000, salt ^ 0xE5E5, 14, "K"),
        "untersuchungsdatum": _fmt_days(exam),
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


def _kita(seed: int, ref: _Ref, scale: float, year: int, pop_before: pd.DataFrame) -> pd.DataFrame:
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
    u6 = _residents(pop_before, ref, "00-05")
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
        counts = here + np.bincount(_draw(rng, dest_w, int(away.sum())), minlength=nm)
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


# Foreign nationalities among care recipients: the first guest-worker generation, and others.
_CARE_NAT = {"163": 25.0, "137": 14.0, "134": 12.0, "130": 10.0, "122": 6.0, "170": 6.0, "150": 3.0,
             "144": 3.0, "160": 4.0, "166": 5.0, "154": 2.0, "152": 3.0, "151": 2.0, "475": 1.5}


class _Care:
    """The social welfare office's register of long-term care assistance, year by year.

    Simulated from CARE_ORIGIN with its own generator, so the file of a year is the same
    whichever window asks for it."""

    P_STATIONAER = np.array([0.15, 0.40, 0.62, 0.78, 0.88])  # by care grade 1..5

    def __init__(self, seed: int, ref: _Ref, scale: float, salt: int):
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
        nat = np.where(foreign, _draw(rng, self.w_nat, n), self.ref.nat_index("000"))
        grade = _draw(rng, [0.04, 0.27, 0.36, 0.22, 0.11], n)
        new = {
            "uid": np.arange(self.next_uid, self.next_uid + n, dtype=np.int64),
            "by": (y - age).astype(np.int64),
            "sex": _draw(rng, [0.37, 0.629, 0.001], n),
            "nat": nat.astype(np.int64),
            "ags": _draw(rng, self.w_ags, n),
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
        pid = _pseudonyms(c["uid"][a], self.salt ^ 0xCA5E, 12, "HP")
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


def _engagement(seed: int, ref: _Ref, scale: float, year: int, au_residents: np.ndarray) -> pd.DataFrame:
    """The integration management's survey of 31 December year: every municipality once.

    The strongest integration body is a stable property of a municipality that can grow
    (a council or committee set up in some year); volunteers follow the size of the place
    and, a little, the number of refugees in its follow-up accommodation. Some
    municipalities do not answer (counts empty)."""
    prof = np.random.default_rng([seed, 36])  # the same every year
    rng = np.random.default_rng([seed, 37, year])
    nm = len(ref.ags)
    size = np.where(ref.gks, 0, np.where(ref.einwohner >= 10_000, 1, 2))
    base = _draw(prof, np.array([[0.45, 0.30, 0.25, 0.0], [0.15, 0.30, 0.40, 0.15], [0.02, 0.06, 0.32, 0.60]]),
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


# ----------------------------------------------------------------------------- writing


def _layout_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, 77, zlib.crc32(name.encode())])


def _headers(rng: np.random.Generator, cols: list[str]) -> tuple[list[str], list[str]]:
    """Per-file column order and header spelling, as different provider exports produce them."""
    order = list(cols)
    if rng.random() < 0.2:
        order = [cols[i] for i in rng.permutation(len(cols))]
    names = []
    for c in order:
        r = rng.random()
        names.append(c.upper() if r < 0.04 else (c[:1].upper() + c[1:]) if r < 0.08 else c.lower() if r < 0.1 else c)
    if rng.random() < 0.1:  # surrounding blanks are ignored by contract
        i = int(rng.integers(len(names)))
        names[i] = names[i] + " "
    return order, names


def _write_csv(path: Path, df: pd.DataFrame, seed: int, encoding: str, eol: str = "\n") -> Path:
    rng = _layout_rng(seed, path.name)
    order, names = _headers(rng, list(df.columns))
    out = df[order]
    out.columns = names
    if encoding == "utf-8-sig" and rng.random() < 0.5:
        encoding = "utf-8"  # the Jobcenter sends a BOM on some files only
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.to_csv(sep=";", index=False, lineterminator=eol).encode(encoding))
    return path


def _write_xlsx(path: Path, df: pd.DataFrame, seed: int, t: int) -> Path:
    import xlsxwriter

    rng = _layout_rng(seed, path.name)
    order, names = _headers(rng, list(df.columns))
    date_as_text = rng.random() < 0.25
    notes_first = rng.random() < 0.25
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True})
    y, m = _ym(t + 1)
    created = dt.datetime(y, m, 3, 9, 0, 0)
    wb.set_properties({"title": "Belegung Flüchtlingsunterbringung", "author": "Landratsamt Esslingen",
                       "created": created})
    datefmt = wb.add_format({"num_format": "dd.mm.yyyy"})
    bold = wb.add_format({"bold": True})
    if notes_first:  # some months an explanatory sheet comes first: the sheet is found by name
        notes = wb.add_worksheet("Hinweise")
        notes.write_string(0, 0, "Belegung der Unterkünfte zum Monatsende; VU = vorläufige Unterbringung, "
                                 "AU = Anschlussunterbringung.")
    ws = wb.add_worksheet("Belegung")
    for j, h in enumerate(names):
        ws.write_string(0, j, h, bold)
    day = dt.date(1970, 1, 1) + dt.timedelta(days=_month_end(t))
    for j, col in enumerate(order):
        values = df[col].tolist()
        for i, v in enumerate(values, start=1):  # ~200 rows a month
            if col == "Stichtag":
                if date_as_text:
                    ws.write_string(i, j, day.strftime("%d.%m.%Y"))
                else:
                    ws.write_datetime(i, j, day, datefmt)
            elif isinstance(v, str):
                ws.write_string(i, j, v)
            else:
                ws.write_number(i, j, int(v))
    ws.set_column(0, len(order) - 1, 16)
    wb.close()
    return path


# ----------------------------------------------------------------------------- entry point


def _check_args(start: str, months, scale, seed) -> int:
    """The start month index; a ValueError with a German message for anything unusable."""
    try:
        t_start = _mi(start)
    except (ValueError, AttributeError):
        raise ValueError(f"--start: Monat im Format JJJJ-MM erwartet (z. B. 2024-01), nicht {start!r}") from None
    if not 1900 <= t_start // 12 <= 2200:
        raise ValueError(f"--start: Jahr {t_start // 12} liegt außerhalb von 1900 bis 2200")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise ValueError(f"--months: eine ganze Zahl ab 1 erwartet, nicht {months!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or not scale > 0:
        raise ValueError(f"--scale: eine Zahl größer als 0 erwartet (1.0 = der ganze Landkreis), nicht {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed: eine ganze Zahl ab 0 erwartet, nicht {seed!r}")
    return t_start


def generate(out_dir: Path, start: str = "2023-01", months: int = 24, scale: float = 0.05,
             seed: int = 1) -> list[Path]:
    """Write synthetic extracts for the months [start, start + months) into out_dir/<provider>/.

    Monthly: jobcenter, abh_bestand, abh_einbuergerungen (header-only in a month
    without naturalisations), unterbringung. Yearly: bevoelkerung for every
    31 December from the year before `start` to the last December in the window;
    schulstatistik_Y when October Y is in the window; schulabgaenger_Y and esu_Y when
    31 July Y+1 is (both delivered after the school year ends); kita_Y when 1 March Y
    is; hilfe_zur_pflege_Y and engagement_Y when 31 December Y is. Existing files of
    the same name are overwritten. Returns the written paths, sorted.

    A file depends only on (seed, scale) and its own period, not on the window: the
    simulations always start at SIM_ORIGIN (for windows from 2019-01 on) and every
    yearly file draws from its own generator. So a later window (`--start 2025-01
    --months 1` after `--start 2023-01 --months 24`) writes the next month of the same
    district and writes the files it shares with the earlier call (here
    bevoelkerung_2024.csv) byte for byte as they were: a refresh sees an unchanged
    re-delivery, not new numbers.

    The output does not depend on the wall clock. A window reaching into the current
    or a future month therefore holds dates after today (the gate's X.future_date):
    use past windows for a clean corpus.
    """
    t_start = _check_args(start, months, scale, seed)
    out_dir = Path(out_dir)
    ref = _Ref.load()
    t_end = t_start + months - 1
    y_start = _ym(t_start)[0]
    t0 = (y_start - 1) * 12 + 11  # December before the start year: the first population file
    # The simulations run at least a year before anything is written, so that flows and
    # stocks are in step (no drift away from the initial draw in the first written months).
    burn = 12
    t_init = min(_mi(SIM_ORIGIN), t0 - burn)
    seq = np.random.SeedSequence(seed)
    r_abh, r_jc, r_fac = (np.random.default_rng(s) for s in seq.spawn(3))
    salts = np.random.default_rng([seed, 1]).integers(0, 2**63, 3)
    foreigners = _Foreigners(r_abh, ref, scale, t_init, int(salts[0]))
    jobcenter = _Jobcenter(r_jc, ref, scale, t_init, int(salts[1]))
    facilities = _Facilities(r_fac, ref, scale, seed)
    care = _Care(seed, ref, scale, int(salts[2]))
    pops: dict[int, pd.DataFrame] = {}  # population on 31 December, by year
    register: dict[int, np.ndarray] = {}  # the foreigners office's register in December, by year
    sgb2_peak: dict[int, np.ndarray] = {}  # per year: most foreigners under 65 on SGB II in a month, per cell
    au_dec: dict[int, np.ndarray] = {}  # residents in follow-up accommodation (AU) in December, per municipality
    written: list[Path] = []
    # The population of 31.12.Y is the denominator of ARB-01 for the months of Y+1: the
    # Jobcenter runs on to December Y+1 so that the file can take those months into account.
    last_pop = (t_end - 11) // 12  # year of the last December in the window
    t_sim = max(t_end, (last_pop + 1) * 12 + 11)
    for t in range(t_init + 1, t_sim + 1):
        jobcenter.step(t)
        y, m = _ym(t)
        if y >= _ym(t0)[0]:
            sgb2 = jobcenter.foreign_counts(y)
            sgb2_peak[y] = np.maximum(sgb2_peak[y], sgb2) if y in sgb2_peak else sgb2
        if t > t_end:
            continue  # the Jobcenter only, for the last population file
        foreigners.step(t)
        facilities.step(t)
        if m == 12 and t >= t0:
            register[y] = foreigners.population_counts(y)
        if t < t_start:
            continue
        lab = _label(t)
        written.append(_write_csv(out_dir / "jobcenter" / f"jobcenter_{lab}.csv", jobcenter.snapshot(t),
                                  seed, "utf-8-sig"))
        # The foreigners office runs Windows: cp1252 and CRLF line ends.
        abh = out_dir / "auslaenderbehoerde"
        written.append(_write_csv(abh / f"abh_bestand_{lab}.csv", foreigners.snapshot(t), seed, "cp1252", "\r\n"))
        written.append(_write_csv(abh / f"abh_einbuergerungen_{lab}.csv", foreigners.naturalisations(t), seed,
                                  "cp1252", "\r\n"))
        frame = facilities.frame(t)
        written.append(_write_xlsx(out_dir / "wohnen" / f"unterbringung_{lab}.xlsx", frame, seed, t))
        if m == 12:
            au = frame[frame["Art"] == "AU"]
            au_dec[y] = np.bincount(np.searchsorted(ref.ags, au["AGS"].to_numpy(dtype="U8")),
                                    weights=au["Belegt"].to_numpy(), minlength=len(ref.ags))
    for y, reg in register.items():
        foreign = _at_least_sgb2(reg, np.maximum(sgb2_peak[y], sgb2_peak[y + 1]))
        pops[y] = _population(seed, ref, scale, y, foreign)
        written.append(_write_csv(out_dir / "bevoelkerung" / f"bevoelkerung_{y}.csv", pops[y], seed, "utf-8"))

    schools = _Schools(seed, ref, scale)
    for y in range(_ym(t_start)[0] - 1, _ym(t_end)[0] + 1):
        if t_start <= y * 12 + 9 <= t_end:  # statistics day in October y
            written.append(_write_csv(out_dir / "schulen" / f"schulstatistik_{y}.csv", schools.statistik(y), seed, "utf-8"))
        if t_start <= (y + 1) * 12 + 6 <= t_end:  # school year y/y+1 ends 31 July y+1
            written.append(_write_csv(out_dir / "schulen" / f"schulabgaenger_{y}.csv", schools.abgaenger(y), seed, "utf-8"))
            written.append(_write_csv(out_dir / "gesundheitsamt" / f"esu_{y}.csv",
                                      _esu(seed, ref, scale, y, pops[y], int(salts[2])), seed, "utf-8"))
        if t_start <= y * 12 + 2 <= t_end:  # day-care count on 1 March y, by the population of 31.12.y-1
            written.append(_write_csv(out_dir / "jugendamt" / f"kita_{y}.csv",
                                      _kita(seed, ref, scale, y, pops[y - 1]), seed, "utf-8"))
        if t_start <= y * 12 + 11 <= t_end:  # 31 December y
            # The social welfare office's case system runs Windows too: cp1252, CRLF.
            written.append(_write_csv(out_dir / "sozialamt" / f"hilfe_zur_pflege_{y}.csv",
                                      care.frame(y), seed, "cp1252", "\r\n"))
            written.append(_write_csv(out_dir / "integration" / f"engagement_{y}.csv",
                                      _engagement(seed, ref, scale, y, au_dec[y]), seed, "utf-8"))
    return sorted(written)


if __name__ == "__main__":  # convenience for development; the project CLI is `imon generate`
    import argparse
    import time

    ap = argparse.ArgumentParser(description="Synthetische Lieferdateien erzeugen")
    ap.add_argument("out", type=Path)
    ap.add_argument("--start", default="2023-01")
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t = time.perf_counter()
    paths = generate(args.out, args.start, args.months, args.scale, args.seed)
    print(f"{len(paths)} Dateien, {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB, "
          f"{time.perf_counter() - t:.1f} s")
