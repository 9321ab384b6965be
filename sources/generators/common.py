"""What every provider's simulation shares: the calendar (months as integers), provider
pseudonyms, sampling helpers, the reference data (municipalities, nationalities, residence
statuses from the dbt seeds) and the writers that give each file its provider's layout."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent.parent.parent / "dbt_project" / "seeds"

SEXES = np.array(["m", "w", "d"])

# ----------------------------------------------------------------------------- calendar


def month_index(period: str) -> int:
    """'YYYY-MM' -> month index (year * 12 + month - 1)."""
    y, m = period.split("-")
    if not (len(y) == 4 and len(m) == 2 and 1 <= int(m) <= 12):
        raise ValueError(f"Monat im Format YYYY-MM erwartet, nicht {period!r}")
    return int(y) * 12 + int(m) - 1


def year_month(t: int) -> tuple[int, int]:
    return t // 12, t % 12 + 1


def period_label(t: int) -> str:
    y, m = year_month(t)
    return f"{y:04d}-{m:02d}"


def day_number(y: int, m: int = 1, d: int = 1) -> int:
    """Days since 1970-01-01."""
    return (dt.date(y, m, d) - dt.date(1970, 1, 1)).days


def month_start(t: int) -> int:
    return day_number(*year_month(t))


def month_end(t: int) -> int:
    return month_start(t + 1) - 1


def format_days(days: np.ndarray) -> np.ndarray:
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


def format_day(day: int) -> str:
    return str(format_days(np.array([day]))[0])


# ----------------------------------------------------------------------------- pseudonyms

_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def pseudonyms(uids: np.ndarray, salt: int, width: int = 16, prefix: str = "") -> np.ndarray:
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


def draw(rng: np.random.Generator, probs, n: int | None = None, table: np.ndarray | None = None) -> np.ndarray:
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


def triangular(rng, lo, mode, hi, n):
    return rng.triangular(lo, mode, hi, n)


# ----------------------------------------------------------------------------- reference data


@dataclass
class Reference:
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
    def load(cls, ref_dir: Path = REFERENCE_DIR) -> "Reference":
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


def residents(pop: pd.DataFrame, ref: Reference, altersgruppe: str) -> np.ndarray:
    """Residents of one age group on 31 December: array (municipality, deutsch/auslaendisch)."""
    p = pop[pop["altersgruppe"] == altersgruppe]
    out = np.zeros((len(ref.ags), 2))
    np.add.at(out, (np.searchsorted(ref.ags, p["ags"].to_numpy(dtype="U8")),
                    (p["staatsangehoerigkeit"] == "auslaendisch").to_numpy().astype(int)),
              p["anzahl"].to_numpy(dtype=float))
    return out


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


def write_csv(path: Path, df: pd.DataFrame, seed: int, encoding: str, eol: str = "\n") -> Path:
    rng = _layout_rng(seed, path.name)
    order, names = _headers(rng, list(df.columns))
    out = df[order]
    out.columns = names
    if encoding == "utf-8-sig" and rng.random() < 0.5:
        encoding = "utf-8"  # the Jobcenter sends a BOM on some files only
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.to_csv(sep=";", index=False, lineterminator=eol).encode(encoding))
    return path


def write_xlsx(path: Path, df: pd.DataFrame, seed: int, t: int) -> Path:
    import xlsxwriter

    rng = _layout_rng(seed, path.name)
    order, names = _headers(rng, list(df.columns))
    date_as_text = rng.random() < 0.25
    notes_first = rng.random() < 0.25
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True})
    y, m = year_month(t + 1)
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
    day = dt.date(1970, 1, 1) + dt.timedelta(days=month_end(t))
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
