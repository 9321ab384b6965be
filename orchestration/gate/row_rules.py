"""Row rules of one file that GX cannot state vectorised: plain code over the typed table.

Future dates (against the check day), header-only files, Belegt = sum of the davon_ columns,
"empty exactly when flag = N" and "every municipality exactly once" (the engagement survey).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from orchestration.findings import MAX_SAMPLES, Finding
from orchestration.gate.rules import _de
from orchestration.gate.suites import municipality_names

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile


def _plain_row_rules(p: ParsedFile, today: dt.date) -> list[Finding]:
    """Row rules outside GX: future dates, Belegt = sum of davon_, header-only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: list[Finding] = []
    if p.row_count == 0:
        if not p.contract.may_be_empty:
            out.append(Finding("R7.header_only", "error",
                               "Die Datei enthält nur die Kopfzeile, aber keine Datenzeilen.", None, 0, [1], []))
        return out
    lines = p.table.column("_line")
    for col in p.contract.columns:
        if col.type != "date":
            continue
        bad = pc.indices_nonzero(pc.fill_null(pc.greater(p.table.column(col.name), pa.scalar(today, pa.date32())), False))
        if len(bad):
            first = bad[:MAX_SAMPLES]
            out.append(Finding("X.future_date", "error", f"Datum liegt in der Zukunft (nach dem Prüftag {_de(today)})",
                               col.name, len(bad), lines.take(first).to_pylist(),
                               p.raw_text.column(col.name).take(first).to_pylist()))
    if p.contract.file_type == "unterbringung":
        out.extend(_belegt_sum(p))
    for col, flag in _EMPTY_EXACTLY_WHEN_NO.get(p.contract.file_type, ()):
        out.extend(_empty_exactly_when_no(p, col, flag))
    if p.contract.every_municipality_once:
        out.extend(_every_municipality_once(p))
    return out


# Cross-field rules "<column> empty exactly when <flag> = N" (sources.md, esu): GX has no
# vectorised "null iff" expectation, and the emptiness must be that of the delivered text.
_EMPTY_EXACTLY_WHEN_NO: dict[str, tuple[tuple[str, str], ...]] = {
    "esu": (("u8", "vorsorgeheft"), ("masern_impfungen", "impfpass")),
}


def _empty_exactly_when_no(p: ParsedFile, column: str, flag: str) -> list[Finding]:
    import pyarrow.compute as pc

    filled = pc.is_valid(p.raw_text.column(column))
    flag_v = p.table.column(flag)  # NULL where empty or not J/N: reported as R2.null / R2.format
    lines = p.table.column("_line")
    out = []
    for bad, text in (
        (pc.and_(filled, pc.equal(flag_v, False)), f"{column} ist ausgefüllt, obwohl {flag} = N "
                                                   f"(leer genau dann, wenn {flag} = N)"),
        (pc.and_(pc.invert(filled), pc.equal(flag_v, True)), f"{column} ist leer, obwohl {flag} = J "
                                                             f"(leer genau dann, wenn {flag} = N)"),
    ):
        idx = pc.indices_nonzero(pc.fill_null(bad, False))
        if not len(idx):
            continue
        first = idx[:MAX_SAMPLES]
        raw_c = p.raw_text.column(column).take(first).to_pylist()
        raw_f = p.raw_text.column(flag).take(first).to_pylist()
        out.append(Finding("R6.cross_field", "error", text, column, len(idx), lines.take(first).to_pylist(),
                           [f"{flag}={f}; {column}={'' if c is None else c}" for f, c in zip(raw_f, raw_c)]))
    return out


def _every_municipality_once(p: ParsedFile) -> list[Finding]:
    """Rule 7 for the engagement survey: each of the 44 municipalities exactly once."""
    if any(f.rule == "R2.missing_column" and f.column == "ags" for f in p.findings):
        return []  # no municipality column: reported as such, not as 44 missing answers
    names = municipality_names()
    ags = p.table.column("ags").to_pylist()  # typed: NULL where not 8 digits (R2.format / R2.null)
    line_of = p.table.column("_line").to_pylist()
    seen: dict[str, list[int]] = {}
    for a, ln in zip(ags, line_of):
        if a is not None:
            seen.setdefault(a, []).append(ln)
    out = []
    missing = [a for a in names if a not in seen]
    if missing:
        out.append(Finding(
            "R7.municipalities", "error",
            f"{len(missing)} der 44 Gemeinden {'fehlt' if len(missing) == 1 else 'fehlen'} in der Umfrage: "
            + ", ".join(f"{a} {names[a]}" for a in missing[:MAX_SAMPLES]) + (" …" if len(missing) > MAX_SAMPLES else ""),
            "ags", len(missing), [], [f"{a} {names[a]}" for a in missing[:MAX_SAMPLES]]))
    repeated = [(a, lns) for a, lns in seen.items() if a in names and len(lns) > 1]
    if repeated:
        first_lines = sorted(ln for _, lns in repeated for ln in lns)[:MAX_SAMPLES]
        by_line = {ln: a for a, lns in repeated for ln in lns}
        out.append(Finding(
            "R7.municipalities", "error",
            f"{len(repeated)} Gemeinde(n) mehrfach in der Umfrage: "
            + ", ".join(f"{a} {names[a]} (Zeilen {', '.join(map(str, lns))})" for a, lns in repeated[:MAX_SAMPLES]),
            "ags", sum(len(lns) for _, lns in repeated), first_lines,
            [f"{by_line[ln]} {names[by_line[ln]]}" for ln in first_lines]))
    return out


def _belegt_sum(p: ParsedFile) -> list[Finding]:
    import pyarrow.compute as pc

    t = p.table
    parts = ["davon_gestattung", "davon_schutzstatus", "davon_duldung", "davon_sonstige"]
    total = t.column(parts[0])
    for c in parts[1:]:
        total = pc.add(total, t.column(c))
    bad = pc.indices_nonzero(pc.fill_null(pc.not_equal(t.column("belegt"), total), False))
    if not len(bad):
        return []
    first = bad[:MAX_SAMPLES]
    cols = ["belegt", *parts]
    raw = {c: p.raw_text.column(c).take(first).to_pylist() for c in cols}
    values = [f"belegt={raw['belegt'][i]}; Summe davon_={'+'.join(str(raw[c][i]) for c in parts)}"
              f"={total.take([int(first[i].as_py())])[0].as_py()}" for i in range(len(first))]
    return [Finding("R6.cross_field", "error",
                    "Belegt ist nicht die Summe der vier davon_-Spalten (Gestattung, Schutzstatus, Duldung, Sonstige)",
                    "belegt", len(bad), t.column("_line").take(first).to_pylist(), values)]
