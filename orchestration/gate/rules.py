"""The gate's rule table: thresholds, rule ids and their titles, what to do about a finding.

Rule ids follow docs/contract/sources.md, "What the gate must at least catch" (R1..R8), plus
X.* (own errors) and W.* (warnings). The lowest module of the gate: it imports none of the
others, so suites, validation and reports can all read the same table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile
    from sources.contracts import Contract


VOLUME_LIMIT = 0.30  # sources.md rule 8
SCHOOL_TRUNCATION = 0.50  # own rule: a school file below half of last year's rows is cut off
# Own rule: a stock file that lost this many of the previous period's municipalities at once is
# very likely cut off (an export sorted by municipality, stopped early, can lose a sixth of its
# rows: under rule 8's 30 %). One or a few gone is normal in small places: a warning only.
MUNICIPALITIES_GONE_MIN = 5
MUNICIPALITIES_GONE_SHARE = 0.10
# Stock files too sparse for the rule: a few thousand cases a year over 44 places (examined
# children, care assistance), so several small places with a case one year and none the next is
# normal: for them a municipality gone is always only a warning.
SPARSE_STOCK_TYPES = {"esu", "hilfe_zur_pflege"}
KITA_TRUNCATION = 0.50  # own rule: the same for the day-care file (plus municipalities gone)


@dataclass
class FileStats:
    """What the registry knows about an already loaded period of a file type."""
    period: str
    row_count: int
    ags: frozenset[str]


# rule id -> (rule number in sources.md or None, short German title, plain description)
RULES: dict[str, tuple[int | None, str, str]] = {
    "R1.encoding": (1, "Zeichenkodierung", "Die Datei enthält Bytes, die in der vereinbarten Zeichenkodierung nicht vorkommen dürfen."),
    "R1.format": (1, "Dateiformat", "Die Datei ist keine lesbare CSV-Datei (Semikolon-getrennt) bzw. keine XLSX-Arbeitsmappe."),
    "R1.sheet": (1, "Tabellenblatt fehlt", "Die Excel-Datei enthält das vereinbarte Tabellenblatt nicht."),
    "R2.missing_column": (2, "Pflichtspalte fehlt", "Eine vereinbarte Spalte fehlt in der Kopfzeile."),
    "R2.format": (2, "Falsches Format", "Ein Wert lässt sich nicht als der vereinbarte Typ lesen."),
    "R2.null": (2, "Leeres Pflichtfeld", "Ein Pflichtfeld ist leer."),
    "R2.range": (2, "Wert außerhalb des Bereichs", "Ein Wert liegt außerhalb des zulässigen Bereichs."),
    "R3.code": (3, "Unzulässiger Code", "Ein Code steht nicht in der Referenzliste bzw. nicht unter den vereinbarten Werten."),
    "R4.duplicate_key": (4, "Doppelter Schlüssel", "Ein Schlüssel kommt in der Datei mehrfach vor."),
    "R5.period": (5, "Zeitraum passt nicht", "Der Zeitraum im Inhalt passt nicht zum Zeitraum im Dateinamen."),
    "R6.cross_field": (6, "Widerspruch zwischen Feldern", "Felder einer Zeile widersprechen sich."),
    "R7.header_only": (7, "Nur Kopfzeile", "Die Datei enthält keine Datenzeilen, obwohl welche erwartet werden."),
    "R7.municipalities": (7, "Gemeinden unvollständig", "Die Umfrage muss jede der 44 Gemeinden genau einmal enthalten."),
    "R8.volume": (8, "Zeilenzahl springt", "Die Zeilenzahl weicht um mehr als 30 % vom vorigen Zeitraum ab."),
    "X.future_date": (None, "Datum in der Zukunft", "Ein Datum liegt nach dem Prüftag."),
    "X.municipality_missing": (None, "Viele Gemeinden fehlen", "Mindestens 5 Gemeinden (und mindestens 10 % der Gemeinden) des vorigen Zeitraums fehlen auf einmal; die Datei ist vermutlich abgeschnitten."),
    "X.kita_truncated": (None, "Kita-Datei unvollständig", "Die Kita-Datei hat weniger als die Hälfte der Zeilen des Vorjahres oder mehr als ein Viertel der Gemeinden fehlt; vermutlich abgeschnitten."),
    "X.school_truncated": (None, "Schuldatei unvollständig", "Die Schuldatei hat weniger als die Hälfte der Zeilen des Vorjahres; vermutlich abgeschnitten."),
    "W.over_occupancy": (None, "Überbelegung", "Mehr Bewohner als Plätze (erlaubt, nur Hinweis)."),
    "W.municipality_missing": (None, "Gemeinde ohne Zeilen", "Eine Gemeinde des vorigen Zeitraums hat diesmal keine Zeilen (erlaubt, nur Hinweis)."),
    "W.unknown_column": (None, "Unbekannte Spalte", "Eine nicht vereinbarte Spalte wird ignoriert."),
}

RULE_ORDER = {r: i for i, r in enumerate(RULES)}
# Rules about the whole file: their message carries the counts, "Anzahl" would only confuse.
FILE_LEVEL_RULES = {"R8.volume", "X.school_truncated", "X.kita_truncated"}
# Rules that block on a judgement, not on the contract: `imon accept` overrides them for the
# accepted file (its name and checksum), recorded with who and why (sources.md, rule 8 and below).
JUDGEMENT_RULES = {"R8.volume", "X.municipality_missing", "X.school_truncated", "X.kita_truncated"}


def rule_label(rule: str) -> str:
    number = RULES.get(rule, (None,))[0]
    if number is not None:
        return f"Regel {number} der Liefervereinbarung ({rule})"
    if rule.startswith("W."):
        return f"Hinweis ({rule})"
    return f"Zusatzprüfung ({rule})"


def next_step(rule: str, severity: str, p: ParsedFile) -> str:
    if severity == "warning":
        if rule == "W.over_occupancy":
            return "Blockiert die Lieferung nicht. Überbelegung fachlich prüfen."
        if rule == "W.municipality_missing":
            return "Blockiert die Lieferung nicht. Hat die Gemeinde wirklich keine Fälle, ist nichts zu tun."
        return "Blockiert die Lieferung nicht. Bei der nächsten Lieferung die Spalte weglassen oder Vereinbarung anpassen."
    if rule == "X.kita_truncated":
        return (f"Datei beim Lieferanten vollständig neu anfordern und erneut liefern. Ist sie doch vollständig "
                f"(z. B. Gemeinden zusammengelegt), nimmt eine berechtigte Person sie an mit: imon accept "
                f"{p.path.name} --reason \"<Begründung>\" (wird mit Name und Begründung protokolliert).")
    if rule in JUDGEMENT_RULES:
        return (f"Ist die Änderung echt (z. B. Zuzug, Umstellung beim Lieferanten), nimmt eine berechtigte Person "
                f"die Datei an mit: imon accept {p.path.name} --reason \"<Begründung>\" "
                f"(wird mit Name und Begründung protokolliert; danach erneut laden). "
                f"Sonst: Datei korrigieren und erneut liefern.")
    if rule == "R1.encoding":
        enc = {"cp1252": "Windows-1252 (ANSI)", "utf-8": "UTF-8", "utf-8-sig": "UTF-8"}.get(
            p.contract.encoding or "", p.contract.encoding or "")
        return f"Datei in der vereinbarten Kodierung {enc} speichern und erneut liefern (gleicher Dateiname)."
    return "Datei korrigieren und erneut liefern (gleicher Dateiname)."


# --------------------------------------------------------------------------- what a finding shows
# Here, the bottom of the gate, because validation (samples) and reports both need them.


def mask_ids(values: list) -> list:
    """Person ids never leave the internal layer (warehouse.md): a sample of a `pseudonym`
    column shows which lines share an id ("Kennung 1" twice), not the id."""
    alias: dict = {}
    return [v if v in (None, "") or str(v).endswith("(maskiert)")
            else f"Kennung {alias.setdefault(v, len(alias) + 1)} (maskiert)" for v in values]


def _pseudonym_columns(contract: Contract) -> set[str]:
    return {c.name for c in contract.columns if c.type == "pseudonym"}


def _num(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _de(d: dt.date) -> str:
    return d.strftime("%d.%m.%Y")
