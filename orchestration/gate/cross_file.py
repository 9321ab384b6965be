"""Rules of a file against the previous period: rule 8 (volume), truncated school, day-care and
stock files, municipalities gone. They need the registry's history (FileStats), not the rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.findings import MAX_SAMPLES, Finding
from orchestration.gate.rules import (
    JUDGEMENT_RULES,
    KITA_TRUNCATION,
    MUNICIPALITIES_GONE_MIN,
    MUNICIPALITIES_GONE_SHARE,
    SCHOOL_TRUNCATION,
    SPARSE_STOCK_TYPES,
    VOLUME_LIMIT,
    FileStats,
    _num,
)
from orchestration.gate.suites import municipality_names

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile


def file_stats(p: ParsedFile) -> FileStats:
    """Row count and municipalities of a parsed file, as the registry should keep them."""
    import pyarrow.compute as pc

    ags: frozenset[str] = frozenset()
    if p.table is not None and "ags" in p.table.column_names:
        ags = frozenset(a for a in pc.unique(p.table.column("ags")).to_pylist() if a is not None)
    return FileStats(p.period, p.row_count, ags)


def _cross_file_rules(files: list[ParsedFile], history: list[FileStats], accepted: set[tuple[str, str]],
                      out: dict[Path, list[Finding]]) -> None:
    """R8 volume, X.municipality_missing, X.school_truncated, against the previous period.

    "Previous" is the latest earlier period among the loaded ones (history) and the files of
    this call that passed; files are taken in period order so a passing (or accepted) file is
    the previous period of the next one, and a rejected one (never loaded) cannot. The
    judgement rules (JUDGEMENT_RULES) are not raised for an accepted file.
    """
    known: dict[str, FileStats] = {s.period: s for s in history}
    names = municipality_names()
    for p in sorted(files, key=lambda p: (p.period, p.path.name)):
        if p.table is None:
            continue
        c = p.contract
        earlier = [s for per, s in known.items() if per < p.period]
        prev = max(earlier, key=lambda s: s.period) if earlier else None
        fs: list[Finding] = []
        cur = file_stats(p)
        if prev is not None and prev.row_count > 0 and p.row_count > 0:
            change = (p.row_count - prev.row_count) / prev.row_count
            # integer comparison: exactly 30 % must pass despite float rounding (13/10 - 1 > 0.3)
            too_big = abs(p.row_count - prev.row_count) * 100 > round(VOLUME_LIMIT * 100) * prev.row_count
            if c.stock and too_big:
                fs.append(Finding(
                    "R8.volume", "error",
                    f"Die Zeilenzahl ändert sich um {change * 100:+.0f} % gegenüber dem vorigen Zeitraum {prev.period} "
                    f"({_num(prev.row_count)} → {_num(p.row_count)} Zeilen); erlaubt sind ±30 %.",
                    None, abs(p.row_count - prev.row_count), [],
                    [f"{prev.period}: {prev.row_count}", f"{p.period}: {p.row_count}"]))
            # for school-year files rule 8 does not cover (a stock file such as esu has rule 8)
            if not c.stock and c.period_kind == "school_year" and p.row_count < SCHOOL_TRUNCATION * prev.row_count:
                fs.append(Finding(
                    "X.school_truncated", "error",
                    f"Nur {p.row_count / prev.row_count * 100:.0f} % der Zeilen des Vorjahres {prev.period} "
                    f"({prev.row_count} → {p.row_count} Zeilen); die Datei ist vermutlich abgeschnitten.",
                    None, prev.row_count - p.row_count, [],
                    [f"{prev.period}: {prev.row_count}", f"{p.period}: {p.row_count}"]))
        if c.file_type == "kita" and prev is not None and (p.path.name, p.sha256) not in accepted:
            fs.extend(_kita_truncated(p, prev, cur))
        # Stock files only: a flow file (naturalisations) lacks a municipality whenever nothing
        # happened there that month, which is no sign of a broken export.
        if c.stock and prev is not None and p.row_count > 0 and "ags" in c.column_names:
            gone = sorted(prev.ags - cur.ags)
            listed = [f"{a} {names.get(a, '')}".strip() for a in gone[:MAX_SAMPLES]]
            dense = c.file_type not in SPARSE_STOCK_TYPES
            if dense and len(gone) >= max(MUNICIPALITIES_GONE_MIN, MUNICIPALITIES_GONE_SHARE * len(prev.ags)):
                fs.append(Finding(
                    "X.municipality_missing", "error",
                    f"{len(gone)} von {len(prev.ags)} Gemeinden des vorigen Zeitraums {prev.period} fehlen auf einmal; "
                    "die Datei ist vermutlich abgeschnitten.",
                    "ags", len(gone), [], listed))
            elif gone:
                fs.append(Finding(
                    "W.municipality_missing", "warning",
                    f"{len(gone)} Gemeinde(n) des vorigen Zeitraums {prev.period} ohne Zeilen in diesem Zeitraum "
                    "(in kleinen Gemeinden möglich).",
                    "ags", len(gone), [], listed))
        if (p.path.name, p.sha256) in accepted:
            fs = [f for f in fs if f.rule not in JUDGEMENT_RULES]
        out[p.path].extend(fs)
        if not any(f.severity == "error" for f in p.findings + out[p.path]):
            known[p.period] = cur


def _kita_truncated(p: ParsedFile, prev: FileStats, cur: FileStats) -> list[Finding]:
    """Own rule for the aggregated day-care file (exempt from rule 8): block only what is very
    likely cut off: under half of last year's rows, or over a quarter of last year's
    municipalities gone (every municipality has day care; the file is sorted by nothing the
    contract fixes, so a cut shows in either). Year-to-year movement is far smaller."""
    if prev.row_count == 0 or p.row_count == 0:
        return []
    gone = sorted(prev.ags - cur.ags)
    if p.row_count >= KITA_TRUNCATION * prev.row_count and len(gone) * 4 <= len(prev.ags):
        return []
    names = municipality_names()
    return [Finding(
        "X.kita_truncated", "error",
        f"Nur {p.row_count / prev.row_count * 100:.0f} % der Zeilen des Vorjahres {prev.period} "
        f"({_num(prev.row_count)} → {_num(p.row_count)} Zeilen), {len(gone)} von {len(prev.ags)} Gemeinden "
        f"des Vorjahres {'fehlt' if len(gone) == 1 else 'fehlen'}; die Datei ist vermutlich abgeschnitten.",
        None, max(prev.row_count - p.row_count, len(gone)), [],
        [f"{prev.period}: {prev.row_count}", f"{p.period}: {p.row_count}"]
        + [f"{a} {names.get(a, '')}".strip() for a in gone[:MAX_SAMPLES - 2]])]
