"""Synthetic extracts in the exact delivery formats of docs/contract/sources.md.

`generate()` simulates the district month by month and writes what each provider would
deliver. Each provider is its own module in `sources/generators/`, named like its folder in
sources/contracts.yml: its simulation and its `write_*` functions (folder, file name,
encoding). What stays here is the calendar: which file is due for which window, and what
one provider's simulation hands to another (a new source brings its module and the line
saying when its file is due):

- `auslaenderbehoerde`: foreign residents, a persistent register (abh_bestand,
  abh_einbuergerungen);
- `jobcenter`: people on SGB II in benefit households;
- `wohnen`: refugee accommodation facilities (VU/AU) with occupancy, status mix, moves out;
- `schulen`: pupils per school/grade/nationality/sex, leavers per municipality;
- `bevoelkerung`: the population on 31 December (foreigners from the simulated register);
- second edition: `gesundheitsamt` (school-entry examination), `jugendamt` (day care),
  `sozialamt` (long-term care assistance), `integration` (civic-engagement survey);
- `common`: calendar, pseudonyms, sampling, reference data, the file writers.

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

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sources.generators import (
    auslaenderbehoerde, bevoelkerung, gesundheitsamt, integration, jobcenter, jugendamt, schulen, sozialamt,
    wohnen,
)
from sources.generators.common import Reference, month_index, year_month

# Every monthly simulation starts here (or a year before an earlier window), whatever
# window is written: a later window then continues the same district, so the files an
# earlier call wrote come out byte for byte again (`imon generate` for the next month).
SIM_ORIGIN = "2017-12"


# ----------------------------------------------------------------------------- entry point


def _check_args(start: str, months, scale, seed) -> int:
    """The start month index; a ValueError with a German message for anything unusable."""
    try:
        t_start = month_index(start)
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
    ref = Reference.load()
    t_end = t_start + months - 1
    y_start = year_month(t_start)[0]
    t0 = (y_start - 1) * 12 + 11  # December before the start year: the first population file
    # The simulations run at least a year before anything is written, so that flows and
    # stocks are in step (no drift away from the initial draw in the first written months).
    burn = 12
    t_init = min(month_index(SIM_ORIGIN), t0 - burn)
    seq = np.random.SeedSequence(seed)
    r_abh, r_jc, r_fac = (np.random.default_rng(s) for s in seq.spawn(3))
    salts = np.random.default_rng([seed, 1]).integers(0, 2**63, 3)
    foreigners = auslaenderbehoerde.Foreigners(r_abh, ref, scale, t_init, int(salts[0]))
    jc = jobcenter.Jobcenter(r_jc, ref, scale, t_init, int(salts[1]))
    facilities = wohnen.Facilities(r_fac, ref, scale, seed)
    care = sozialamt.Care(seed, ref, scale, int(salts[2]))
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
        jc.step(t)
        y, m = year_month(t)
        if y >= year_month(t0)[0]:
            sgb2 = jc.foreign_counts(y)
            sgb2_peak[y] = np.maximum(sgb2_peak[y], sgb2) if y in sgb2_peak else sgb2
        if t > t_end:
            continue  # the Jobcenter only, for the last population file
        foreigners.step(t)
        facilities.step(t)
        if m == 12 and t >= t0:
            register[y] = foreigners.population_counts(y)
        if t < t_start:
            continue
        written += jobcenter.write_month(out_dir, jc, t, seed)
        written += auslaenderbehoerde.write_month(out_dir, foreigners, t, seed)
        frame = facilities.frame(t)
        written += wohnen.write_month(out_dir, frame, t, seed)
        if m == 12:
            au_dec[y] = wohnen.au_residents(frame, ref)
    for y, reg in register.items():
        foreign = bevoelkerung.at_least_sgb2(reg, np.maximum(sgb2_peak[y], sgb2_peak[y + 1]))
        pops[y] = bevoelkerung.population(seed, ref, scale, y, foreign)
        written += bevoelkerung.write_year(out_dir, pops[y], y, seed)

    schools = schulen.Schools(seed, ref, scale)
    for y in range(year_month(t_start)[0] - 1, year_month(t_end)[0] + 1):
        if t_start <= y * 12 + 9 <= t_end:  # statistics day in October y
            written += schulen.write_statistik(out_dir, schools, y, seed)
        if t_start <= (y + 1) * 12 + 6 <= t_end:  # school year y/y+1 ends 31 July y+1
            written += schulen.write_abgaenger(out_dir, schools, y, seed)
            written += gesundheitsamt.write_year(out_dir, seed, ref, scale, y, pops[y], int(salts[2]))
        if t_start <= y * 12 + 2 <= t_end:  # day-care count on 1 March y, by the population of 31.12.y-1
            written += jugendamt.write_year(out_dir, seed, ref, scale, y, pops[y - 1])
        if t_start <= y * 12 + 11 <= t_end:  # 31 December y
            written += sozialamt.write_year(out_dir, care, y, seed)
            written += integration.write_year(out_dir, seed, ref, scale, y, au_dec[y])
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
