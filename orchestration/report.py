"""Static HTML report for the district's Sozialausschuss, built from the published warehouse.

`build_report(settings) -> Path` reads `settings.published_db` (read-only) and writes into
`settings.reports_dir`:

    index.html                  overview: targets and their status, latest district values per field
    <feld>.html                 one page per field of action (sprache, bildung, arbeit, wohnen,
                                rechtsstatus, demografie): latest values of district and municipalities
    indikator-<id>.html         one page per indicator: time-series chart (district + selectable
                                municipalities), sorted municipality comparison, table with evaluation,
                                definition/source/caveats from the catalogue
    downloads/                  CSV (semicolon, decimal comma, UTF-8 with BOM, for German Excel) and
                                XLSX of what the pages show

Pages open from disk without any network: CSS and the chart code (report_assets/report.js, own
vanilla-JS SVG code, no third-party library) are inlined in every page; the data of an indicator
is embedded as JSON in its own page only (no fetch(), which file:// would block).

Display rules: German labels and number format (1.234,5; rates with one decimal, counts without);
suppressed values as "·", undefined values (denominator 0) and impossible comparisons as "–",
each explained in a footnote on every page. Never is a missing value shown as 0.

The evaluation (changes, district comparison, targets) comes from `main.indicator_evaluation`
(orchestration/evaluation.py). A published file without that table is evaluated on the fly in
memory with orchestration/zielwerte.yml, so the report also works on an older published file.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
import shutil
import string
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import duckdb

from orchestration.settings import DISTRICT_CODE, TARGETS_FILE

ASSETS_DIR = Path(__file__).resolve().parent / "report_assets"

# Fields of action in the order of the district's integration concept: language, education,
# work, housing, then legal status and demography as context.
FIELDS: list[tuple[str, str, str]] = [
    ("Sprache", "sprache",
     "Deutschkenntnisse als Schlüssel für Arbeit, Bildung und Teilhabe: Integrationskurse der "
     "erwerbsfähigen Leistungsberechtigten im Fluchtkontext."),
    ("Bildung", "bildung",
     "Bildungsbeteiligung und Schulabschlüsse an den Schulen im Landkreis (Gebiet = Schulort)."),
    ("Arbeit", "arbeit",
     "Grundsicherung für Arbeitsuchende (SGB II) und Integration in Beschäftigung."),
    ("Wohnen", "wohnen",
     "Unterbringung Geflüchteter in der vorläufigen Unterbringung (VU) und der Anschlussunterbringung "
     "(AU) sowie Auszüge in privaten Wohnraum."),
    ("Rechtsstatus", "rechtsstatus",
     "Aufenthaltsrechtliche Situation der ausländischen Bevölkerung und Einbürgerungen."),
    ("Demografie", "demografie",
     "Bevölkerungsstruktur als Bezugsgröße für die übrigen Handlungsfelder."),
]

GROUP_LABELS = {
    "insgesamt": "Insgesamt",
    "deutsch": "Deutsche",
    "auslaendisch": "Ausländer/-innen",
    "fluchtkontext": "Personen im Fluchtkontext",
    "VU": "Vorläufige Unterbringung (VU)",
    "AU": "Anschlussunterbringung (AU)",
    "eu": "EU-/EWR-Bürger/-innen (Freizügigkeit)",
    "unbefristet": "Unbefristetes Aufenthaltsrecht",
    "befristet": "Befristete Aufenthaltserlaubnis",
    "schutz_anerkannt": "Schutzberechtigte (anerkannt)",
    "schutz_offen": "Schutzsuchende (Verfahren offen)",
    "schutz_abgelehnt": "Schutzsuchende (abgelehnt, Duldung)",
    "sonstige": "Sonstiger Status",
}
GROUP_ORDER = list(GROUP_LABELS)
UNIT_LABELS = {"prozent": "Prozent (%)", "anzahl": "Anzahl"}
PERIODICITY_LABELS = {"monat": "monatlich", "jahr": "jährlich (Kalenderjahr)",
                      "schuljahr": "jährlich (Schuljahr)"}
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember"]
MONTHS_SHORT = ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"]
STATUS_CLASS = {"auf Kurs": "ok", "beobachten": "warn", "nicht auf Kurs": "bad"}
POSITION_HTML = {"über Kreiswert": ("up", "über"), "unter Kreiswert": ("down", "unter"),
                 "gleich": ("eq", "gleich")}

SUPPRESSED = "s"  # marker for suppressed numbers inside this module and in the embedded JSON
SYM_SUPPRESSED = "·"
SYM_NA = "–"
NOTE_SUPPRESSED = ("· = aus Datenschutzgründen nicht ausgewiesen (Fallzahl 1 oder 2 bzw. daraus "
                   "ableitbar; Regel der Statistik der Bundesagentur für Arbeit)")
NOTE_NA = "– = nicht definiert (Nenner 0) bzw. kein Vergleichswert vorhanden"
NOTE_PP = "Pp. = Prozentpunkte (Veränderungen und Abweichungen von Prozentwerten)"
NOTE_POSITION = ("Lage zum Kreiswert (nur Quoten der Gemeinden): „gleich“, wenn die Abweichung höchstens "
                 "5 % des Kreiswerts beträgt (mindestens 0,1 Pp.), sonst „über“/„unter“. "
                 "Über oder unter dem Kreiswert ist für sich weder gut noch schlecht.")
NOTE_STATUS = ("Zielstatus: „auf Kurs“ = Ziel erreicht oder die Entwicklung des letzten Jahres erreicht es im "
               "gleichen Tempo bis zum Zieljahr; „beobachten“ = Entwicklung in Zielrichtung, aber zu langsam, "
               "knapp am Ziel oder ohne Vorjahreswert; „nicht auf Kurs“ = Stillstand, Gegenrichtung oder "
               "Zieljahr abgelaufen. Zielwerte: orchestration/zielwerte.yml.")

EVAL_COLUMNS = (
    "indicator_id, period, period_end, region_code, region_name, group_code, unit, is_suppressed, value, "
    "previous_period, value_previous, change_previous, period_year_before, value_year_before, "
    "change_year_before, district_value, diff_to_district, position, target_value, target_direction, "
    "target_year, target_source, target_is_example, distance_to_target, status, status_reason"
)


# ----------------------------------------------------------------------------- formatting

def _dec(v: float, dec: int) -> Decimal:
    # Half-up on the exact binary value: the same digits JavaScript's toFixed() shows.
    return Decimal(v).quantize(Decimal(1).scaleb(-dec), rounding=ROUND_HALF_UP)


def rounded(v: float | None, dec: int) -> float | int | None:
    if v is None:
        return None
    d = _dec(v, dec)
    return int(d) if dec == 0 else float(d)


def fmt_de(v, dec: int, signed: bool = False, grouping: bool = True, minus: str = "−") -> str:
    """1234.56 -> '1.234,6'. SUPPRESSED -> '·', None -> '–'."""
    if v == SUPPRESSED:
        return SYM_SUPPRESSED
    if v is None:
        return SYM_NA
    d = _dec(v, dec)
    if d == 0:
        d = abs(d)  # no "−0,0"
    s = f"{abs(d):,.{dec}f}" if grouping else f"{abs(d):.{dec}f}"
    s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    sign = minus if d < 0 else ("+" if signed and d > 0 else "")
    return sign + s


def esc(s) -> str:
    return html.escape("" if s is None else str(s))


def period_kind(p: str) -> str:
    if len(p) == 7 and p[4] == "-":
        return "monat"
    if len(p) == 7 and p[4] == "/":
        return "schuljahr"
    return "jahr"


def period_long(p: str | None) -> str:
    if not p:
        return SYM_NA
    k = period_kind(p)
    if k == "monat":
        return f"{MONTHS[int(p[5:]) - 1]} {p[:4]}"
    if k == "schuljahr":
        return f"Schuljahr {p}"
    return p


def period_short(p: str) -> str:
    if period_kind(p) == "monat":
        return f"{MONTHS_SHORT[int(p[5:]) - 1]} {p[2:4]}"
    return p


def comparison_labels(kind: str) -> tuple[str, str | None]:
    """Column labels for change_previous and change_year_before (None: same as previous)."""
    if kind == "monat":
        return "ggü. Vormonat", "ggü. Vorjahresmonat"
    return "ggü. Vorjahr", None


def sort_key_de(name: str) -> str:
    # DIN 5007-1: umlauts sort like their base letters.
    return name.lower().translate(str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"}))


def group_label(g: str) -> str:
    return GROUP_LABELS.get(g, g)


# ----------------------------------------------------------------------------- data

@dataclass
class Indicator:
    id: str
    name: str
    field: str
    unit: str
    periodicity: str
    definition: str
    source: str
    caveats: str
    name_en: str = ""
    rows: list[dict] = field(default_factory=list)  # evaluation rows, ordered by period_end
    periods: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @property
    def dec(self) -> int:
        return 1 if self.unit == "prozent" else 0

    @property
    def slug(self) -> str:
        return f"indikator-{self.id.lower()}.html"

    @property
    def latest(self) -> str | None:
        return self.periods[-1] if self.periods else None

    @property
    def main_group(self) -> str | None:
        if not self.groups:
            return None
        return "insgesamt" if "insgesamt" in self.groups else self.groups[0]

    @property
    def kind(self) -> str:
        return period_kind(self.latest) if self.latest else {"monat": "monat", "schuljahr": "schuljahr"}.get(
            self.periodicity, "jahr")

    @property
    def suffix(self) -> str:
        return " %" if self.unit == "prozent" else ""

    def latest_rows(self, group: str) -> list[dict]:
        return self._latest_by_group.get(group, [])

    @cached_property
    def _latest_by_group(self) -> dict[str, list[dict]]:
        """Rows of the latest period per group; built once (after loading), asked for per page."""
        out: dict[str, list[dict]] = {}
        latest = self.latest
        for r in self.rows:
            if r["period"] == latest:
                out.setdefault(r["group_code"], []).append(r)
        return out


def shown(r: dict | None, col: str = "value"):
    """The value to display: SUPPRESSED for a suppressed row's own figures, else the number/None."""
    if r is None:
        return None
    if col in ("value", "numerator", "denominator") and r.get("is_suppressed"):
        return SUPPRESSED
    return r.get(col)


def _open(db_path: Path, targets_file: Path) -> duckdb.DuckDBPyConnection:
    """In-memory connection with the published file attached read-only under `main` views.

    If the file has no indicator_evaluation yet, it is computed here in memory; the published file
    is never written."""
    if not Path(db_path).exists():
        raise FileNotFoundError(f"Veröffentlichter Stand nicht gefunden: {db_path}")
    con = duckdb.connect()
    con.execute(f"ATTACH '{str(db_path).replace(chr(39), chr(39) * 2)}' AS pub (READ_ONLY)")
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pub' AND schema_name = 'main'").fetchall()}
    missing = {"indicator_values", "indicators"} - tables
    if missing:
        raise RuntimeError(f"{db_path}: Tabellen fehlen: {', '.join(sorted(missing))}")
    for t in ("indicator_values", "indicators", "refresh_log", "indicator_evaluation", "indicator_targets"):
        if t in tables:
            con.execute(f"CREATE VIEW main.{t} AS SELECT * FROM pub.main.{t}")
    if "indicator_evaluation" not in tables:
        from orchestration.evaluation import add_evaluation

        if "indicator_targets" in tables:
            con.execute("DROP VIEW main.indicator_targets")
        add_evaluation(con, targets_file)
    return con


def _load(con: duckdb.DuckDBPyConnection) -> list[Indicator]:
    cur = con.execute("SELECT * FROM main.indicators ORDER BY indicator_id")
    cols = [c[0] for c in cur.description]
    inds: list[Indicator] = []
    for row in cur.fetchall():
        r = dict(zip(cols, row))
        inds.append(Indicator(
            id=r["indicator_id"], name=r.get("name_de") or r["indicator_id"], name_en=r.get("name_en") or "",
            field=r.get("handlungsfeld") or "Sonstiges", unit=r.get("unit") or "anzahl",
            periodicity=r.get("periodicity") or "", definition=r.get("definition") or "",
            source=r.get("source") or "", caveats=r.get("caveats") or ""))
    # numerator/denominator come from indicator_values; the evaluation carries the rest
    cur = con.execute(f"""
        SELECT {', '.join('e.' + c.strip() for c in EVAL_COLUMNS.split(','))}, v.numerator, v.denominator
        FROM main.indicator_evaluation e
        JOIN main.indicator_values v USING (indicator_id, period, region_code, group_code)
        ORDER BY e.indicator_id, e.period_end, e.group_code, e.region_code
    """)
    cols = [c[0] for c in cur.description]
    by_id = {i.id: i for i in inds}
    while True:
        chunk = cur.fetchmany(50_000)
        if not chunk:
            break
        for row in chunk:
            r = dict(zip(cols, row))
            ind = by_id.get(r["indicator_id"])
            if ind is not None:
                ind.rows.append(r)
    for ind in inds:
        seen_p: dict[str, None] = {}
        seen_g: set[str] = set()
        for r in ind.rows:
            seen_p.setdefault(r["period"], None)
            seen_g.add(r["group_code"])
        ind.periods = list(seen_p)  # rows are ordered by period_end
        ind.groups = sorted(seen_g, key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER else 99, g))
    return inds


def _published_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    try:
        return con.execute("SELECT max(published_at) FROM main.refresh_log").fetchone()[0]
    except duckdb.Error:
        return None


def _regions(inds: list[Indicator]) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    for ind in inds:
        for r in ind.rows:
            names.setdefault(r["region_code"], r["region_name"] or r["region_code"])
    district = [(DISTRICT_CODE, names.pop(DISTRICT_CODE, "Landkreis Esslingen"))]
    return district + sorted(names.items(), key=lambda kv: sort_key_de(kv[1]))


# ----------------------------------------------------------------------------- downloads

class Cell(NamedTuple):
    """A number whose format differs from its column's (a long table mixing counts and rates)."""
    v: object
    kind: str


@dataclass
class Table:
    """A table as shown; kinds per column: text | n0 | n1 (numbers) | s0 | s1 (signed changes).
    A Cell in a row overrides its column's kind."""
    name: str
    headers: list[str]
    kinds: list[str]
    rows: list[list]


def _csv_cell(v, kind: str) -> str:
    if isinstance(v, Cell):
        v, kind = v
    if kind == "text":
        return "" if v is None else str(v)
    return fmt_de(v, int(kind[1]), signed=kind[0] == "s", grouping=False, minus="-")


def write_csv(path: Path, table: Table) -> None:
    # Semicolon, decimal comma and a BOM: opens correctly in German Excel by double click.
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(table.headers)
        for row in table.rows:
            w.writerow([_csv_cell(v, k) for v, k in zip(row, table.kinds)])


def write_xlsx(path: Path, tables: list[Table], notes: list[str]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    head = wb.add_format({"bold": True, "bg_color": "#EEF2F5", "bottom": 1, "text_wrap": True, "valign": "top"})
    fmts = {
        "n0": wb.add_format({"num_format": "#,##0"}),
        "n1": wb.add_format({"num_format": "#,##0.0"}),
        "s0": wb.add_format({"num_format": "+#,##0;-#,##0;0"}),
        "s1": wb.add_format({"num_format": "+#,##0.0;-#,##0.0;0.0"}),
    }
    sym = wb.add_format({"align": "right"})
    for t in tables:
        ws = wb.add_worksheet(t.name[:31])
        for c, h in enumerate(t.headers):
            ws.write_string(0, c, h, head)
            ws.set_column(c, c, 28 if t.kinds[c] == "text" and c < 3 else max(10, min(22, len(h) + 2)))
        for r, row in enumerate(t.rows, start=1):
            for c, (v, k) in enumerate(zip(row, t.kinds)):
                if isinstance(v, Cell):
                    v, k = v
                if k == "text":
                    if v is not None:
                        ws.write_string(r, c, str(v))
                elif v is None or v == SUPPRESSED:
                    ws.write_string(r, c, SYM_SUPPRESSED if v == SUPPRESSED else SYM_NA, sym)
                else:
                    ws.write_number(r, c, float(v), fmts[k])
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(1, len(t.rows)), len(t.headers) - 1)
    ws = wb.add_worksheet("Erläuterungen")
    ws.set_column(0, 0, 120)
    bold = wb.add_format({"bold": True})
    for r, line in enumerate(notes):
        ws.write_string(r, 0, line, bold if r == 0 else None)
    wb.close()


# ----------------------------------------------------------------------------- HTML pieces

def num_cell(v, dec: int, signed: bool = False, suffix: str = "", extra: str = "", cls: str = "n") -> str:
    """<td> with the German number; data-v for sorting (empty for symbols)."""
    if v == SUPPRESSED:
        return f'<td class="{cls}" data-v=""><span class="sym" title="{esc(NOTE_SUPPRESSED)}">·</span>{extra}</td>'
    if v is None:
        return f'<td class="{cls}" data-v=""><span class="sym" title="{esc(NOTE_NA)}">–</span>{extra}</td>'
    return f'<td class="{cls}" data-v="{rounded(v, dec)}">{fmt_de(v, dec, signed)}{suffix}{extra}</td>'


def status_badge(status: str | None, reason: str | None = None) -> str:
    if not status:
        return ""
    return f'<span class="badge {STATUS_CLASS.get(status, "")}" title="{esc(reason)}">{esc(status)}</span>'


def position_html(pos: str | None) -> str:
    if not pos:
        return ""
    cls, text = POSITION_HTML.get(pos, ("", pos))
    return f'<span class="pos {cls}" title="{esc(pos)}">{esc(text)}</span>'


def target_text(r: dict, dec: int, suffix: str) -> str:
    if r.get("target_value") is None:
        return ""
    op = "≥" if r["target_direction"] == "hoch" else "≤"
    return f"{op} {fmt_de(r['target_value'], dec)}{suffix} bis {r['target_year']}"


def example_pill(r: dict) -> str:
    return ' <span class="pill example" title="Beispielwert, kein Beschluss">Beispiel</span>' \
        if r.get("target_is_example") else ""


def notes_html(extra: list[str] | None = None) -> str:
    lines = [NOTE_SUPPRESSED, NOTE_NA, NOTE_PP] + (extra or [])
    return '<div class="notes">' + "".join(f"<p>{esc(x)}</p>" for x in lines) + "</div>"


def downloads_html(files: list[tuple[str, str]]) -> str:
    links = "".join(f'<a href="downloads/{esc(f)}" download>{esc(label)}</a>' for label, f in files)
    return f'<div class="downloads">{links}</div>'


class Site:
    """Renders pages into one folder with the shared template, CSS and JS inlined."""

    def __init__(self, out: Path, stand: str, generated: str):
        self.out = out
        self.stand = stand
        self.generated = generated
        self.template = string.Template((ASSETS_DIR / "page.html").read_text(encoding="utf-8"))
        self.css = (ASSETS_DIR / "report.css").read_text(encoding="utf-8")
        self.js = (ASSETS_DIR / "report.js").read_text(encoding="utf-8")
        (out / "downloads").mkdir(parents=True, exist_ok=True)

    def nav(self, active: str) -> str:
        items = [("index.html", "Übersicht")] + [(f"{slug}.html", name) for name, slug, _ in FIELDS]
        lis = "".join(
            f'<li><a href="{href}"{" class=active" if href == active else ""}>{esc(label)}</a></li>'
            for href, label in items)
        return f"<ul>{lis}</ul>"

    def page(self, filename: str, title: str, body: str, active: str, data: dict | None = None) -> None:
        data_html = ""
        if data is not None:
            payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
            data_html = f'<script type="application/json" id="imon-data">{payload}</script>'
        footer = (
            f"<p>Quelle: Integrationsmonitor des Landkreises Esslingen, veröffentlichter Datenstand "
            f"{esc(self.stand)}. Bericht erzeugt am {esc(self.generated)}.</p>"
            "<p>Nur aggregierte Daten. Werte, die auf 1 oder 2 Personen beruhen, werden nicht ausgewiesen (·).</p>")
        text = self.template.substitute(
            title=esc(title), css=self.css, stand=esc(self.stand), nav=self.nav(active), body=body,
            footer=footer, data=data_html, js=self.js.replace("</script", "<\\/script"))
        (self.out / filename).write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------- indicator page

def _indicator_tables(ind: Indicator) -> tuple[Table, Table]:
    """Latest period with evaluation (long), and the time series (wide), all groups."""
    prev_label, yb_label = comparison_labels(ind.kind)
    d, sd = f"n{ind.dec}", f"s{ind.dec}"
    den_kind = "n1" if any(r["denominator"] is not None and float(r["denominator"]) != int(r["denominator"])
                           for r in ind.rows) else "n0"
    headers = ["Regionalschlüssel", "Gebiet", "Gruppe", "Zeitraum", f"Wert ({UNIT_LABELS[ind.unit]})"]
    kinds = ["text", "text", "text", "text", d]
    if ind.unit == "prozent":
        headers += ["Zähler", "Nenner"]
        kinds += ["n0", den_kind]
    unit_pp = " (Pp.)" if ind.unit == "prozent" else ""
    headers += [f"{prev_label}{unit_pp}"]
    kinds += [sd]
    if yb_label:
        headers += [f"{yb_label}{unit_pp}"]
        kinds += [sd]
    if ind.unit == "prozent":
        headers += ["Kreiswert", "Abweichung vom Kreiswert (Pp.)", "Lage zum Kreiswert"]
        kinds += [d, sd, "text"]
    headers += ["Zielwert", "Zielrichtung", "Zieljahr", "Abstand zum Ziel", "Zielstatus", "Begründung"]
    kinds += [d, "text", "text", sd, "text", "text"]
    latest_rows = []
    for g in ind.groups:
        for r in _ordered(ind.latest_rows(g)):
            row = [r["region_code"], r["region_name"], group_label(g), period_long(r["period"]), shown(r)]
            if ind.unit == "prozent":
                row += [shown(r, "numerator"), shown(r, "denominator")]
            row += [r["change_previous"]]
            if yb_label:
                row += [r["change_year_before"]]
            if ind.unit == "prozent":
                row += [r["district_value"], r["diff_to_district"], r["position"]]
            row += [r["target_value"], r["target_direction"],
                    None if r["target_year"] is None else str(r["target_year"]),
                    r["distance_to_target"], r["status"], r["status_reason"]]
            latest_rows.append(row)
    latest = Table("Aktueller Stand", headers, kinds, latest_rows)

    grid: dict[tuple[str, str], dict[str, dict]] = {}
    names: dict[str, str] = {}
    for r in ind.rows:
        grid.setdefault((r["group_code"], r["region_code"]), {})[r["period"]] = r
        names[r["region_code"]] = r["region_name"]
    ts_rows = []
    for g in ind.groups:
        for code in _ordered_codes(names):
            cells = grid.get((g, code))
            if cells is None:
                continue
            ts_rows.append([code, names[code], group_label(g)] + [shown(cells.get(p)) for p in ind.periods])
    series = Table("Zeitreihe", ["Regionalschlüssel", "Gebiet", "Gruppe"] + ind.periods,
                   ["text"] * 3 + [d] * len(ind.periods), ts_rows)
    return latest, series


def _ordered(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["region_code"] != DISTRICT_CODE, sort_key_de(r["region_name"] or "")))


def _ordered_codes(names: dict[str, str]) -> list[str]:
    return sorted(names, key=lambda c: (c != DISTRICT_CODE, sort_key_de(names[c] or "")))


def _indicator_notes(ind: Indicator) -> list[str]:
    return [f"{ind.id} {ind.name} – Integrationsmonitor Landkreis Esslingen",
            f"Definition: {ind.definition}", f"Quelle: {ind.source}",
            f"Periodizität: {PERIODICITY_LABELS.get(ind.periodicity, ind.periodicity)}",
            f"Hinweise: {ind.caveats or '–'}", NOTE_SUPPRESSED, NOTE_NA, NOTE_PP, NOTE_POSITION, NOTE_STATUS]


def render_indicator(site: Site, ind: Indicator, field_slug: str) -> None:
    latest_t, series_t = _indicator_tables(ind)
    write_csv(site.out / "downloads" / f"{ind.id}_aktuell.csv", latest_t)
    write_csv(site.out / "downloads" / f"{ind.id}_zeitreihe.csv", series_t)
    write_xlsx(site.out / "downloads" / f"{ind.id}.xlsx", [latest_t, series_t], _indicator_notes(ind))

    prev_label, yb_label = comparison_labels(ind.kind)
    pp = " (Pp.)" if ind.unit == "prozent" else ""
    regions: dict[str, str] = {}
    for r in ind.rows:
        regions.setdefault(r["region_code"], r["region_name"])
    codes = _ordered_codes(regions)

    parts = [
        f'<div class="crumbs"><a href="index.html">Übersicht</a> › '
        f'<a href="{field_slug}.html">{esc(ind.field)}</a> › {esc(ind.id)}</div>',
        f'<h1>{esc(ind.id)} {esc(ind.name)}</h1>',
        '<div class="meta">'
        f'<span class="pill">Handlungsfeld {esc(ind.field)}</span>'
        f'<span class="pill">Einheit: {esc(UNIT_LABELS.get(ind.unit, ind.unit))}</span>'
        f'<span class="pill">{esc(PERIODICITY_LABELS.get(ind.periodicity, ind.periodicity))}</span>'
        f'<span class="pill">Aktueller Zeitraum: {esc(period_long(ind.latest))}</span></div>',
    ]
    if not ind.rows:
        parts.append('<section class="panel"><p>Für diesen Indikator sind noch keine Werte veröffentlicht.</p>'
                     f'{_definition_html(ind)}</section>')
        site.page(ind.slug, f"{ind.id} {ind.name}", "\n".join(parts), f"{field_slug}.html")
        return

    if len(ind.groups) > 1:
        opts = "".join(f'<option value="{esc(g)}">{esc(group_label(g))}</option>' for g in ind.groups)
        parts.append(f'<div class="controls"><label for="group-select"><b>Gruppe:</b></label>'
                     f'<select id="group-select">{opts}</select>'
                     f'<span class="hint">wirkt auf Kennzahl, Diagramme und Tabelle</span></div>')
    else:
        parts.append(f'<div class="controls"><span class="pill">Gruppe: {esc(group_label(ind.groups[0]))}</span></div>')

    # Per group: the district's key figures and the table of the latest period (JS shows one group).
    for gi, g in enumerate(ind.groups):
        rows = _ordered(ind.latest_rows(g))
        drow = next((r for r in rows if r["region_code"] == DISTRICT_CODE), None)
        parts.append(f'<div class="grp-section" data-group="{esc(g)}"{"" if gi == 0 else " hidden"}>')
        parts.append(_key_figures(ind, g, drow, prev_label, yb_label))
        parts.append('</div>')
    parts.append(
        '<section class="panel"><div class="panel-head"><h2>Zeitverlauf</h2>'
        '<span class="hint">Landkreis und beliebige Gemeinden auswählen; Werte beim Überfahren'
        ' mit der Maus</span></div>'
        '<div id="chart-line" class="chart"></div><div id="chart-legend" class="legend"></div>'
        '<fieldset id="regionpicker" class="regionpicker"><legend>Gebiete im Diagramm</legend>'
        + "".join(
            f'<label><input type="checkbox" id="cb-{esc(c)}" value="{esc(c)}"'
            f'{" checked" if c == DISTRICT_CODE else ""}> {esc(regions[c])}</label>' for c in codes)
        + '</fieldset><div class="controls"><input type="search" id="region-filter" placeholder="Gemeinde suchen …"'
        ' aria-label="Gemeinde suchen"><button type="button" id="reset-regions">Auswahl zurücksetzen</button></div>'
        '<p class="chart-note">Lücken in der Linie: Wert gesperrt (·) oder nicht definiert (–).</p></section>')
    parts.append(
        f'<section class="panel"><div class="panel-head"><h2>Gemeindevergleich {esc(period_long(ind.latest))}</h2>'
        f'<span class="hint" id="bar-note"></span></div><div id="chart-bar" class="chart"></div></section>')

    for gi, g in enumerate(ind.groups):
        rows = _ordered(ind.latest_rows(g))
        parts.append(f'<div class="grp-section" data-group="{esc(g)}"{"" if gi == 0 else " hidden"}>')
        parts.append(_latest_table(ind, g, rows, prev_label, yb_label, pp))
        parts.append("</div>")

    parts.append(f'<section class="panel"><h2>Definition und Quelle</h2>{_definition_html(ind)}</section>')
    parts.append(
        '<section class="panel"><h2>Downloads</h2>'
        '<p class="hint">Aktueller Stand mit Bewertung (alle Gruppen) und Zeitreihe (alle Gebiete, Gruppen und '
        'Zeiträume). CSV: Semikolon-getrennt, Dezimalkomma, für Excel.</p>'
        + downloads_html([("Excel (XLSX)", f"{ind.id}.xlsx"), ("CSV aktueller Stand", f"{ind.id}_aktuell.csv"),
                          ("CSV Zeitreihe", f"{ind.id}_zeitreihe.csv")])
        + notes_html([NOTE_POSITION, NOTE_STATUS]) + "</section>")

    site.page(ind.slug, f"{ind.id} {ind.name}", "\n".join(parts), f"{field_slug}.html", _chart_data(ind, codes, regions))


def _key_figures(ind: Indicator, g: str, drow: dict | None, prev_label: str, yb_label: str | None) -> str:
    unit_ch = " Pp." if ind.unit == "prozent" else ""
    if drow is None:
        return ""
    v = shown(drow)
    big = fmt_de(v, ind.dec) + (ind.suffix if isinstance(v, float) else "")
    cards = [f'<div class="card"><div class="small">Landkreis Esslingen · {esc(period_long(drow["period"]))}</div>'
             f'<div class="big" id="kpi-{esc(g)}">{esc(big)}</div>'
             f'<div class="small">{esc(group_label(g))}</div></div>']
    comps = [(prev_label, drow["previous_period"], drow["change_previous"])]
    if yb_label:
        comps.append((yb_label, drow["period_year_before"], drow["change_year_before"]))
    for label, per, ch in comps:
        cards.append(f'<div class="card"><div class="small">{esc(label)} ({esc(period_long(per))})</div>'
                     f'<div class="big">{esc(fmt_de(ch, ind.dec, signed=True))}'
                     f'<span class="unit">{unit_ch if ch is not None else ""}</span></div></div>')
    if drow.get("target_value") is not None:
        cards.append(
            f'<div class="card"><div class="small">Ziel {esc(target_text(drow, ind.dec, ind.suffix))}'
            f'{example_pill(drow)}</div>'
            f'<div>{status_badge(drow["status"], drow["status_reason"]) or SYM_NA}</div>'
            f'<div class="small">{esc(drow["status_reason"] or "")}</div>'
            f'<div class="small">Quelle: {esc(drow["target_source"])}</div></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _latest_table(ind: Indicator, g: str, rows: list[dict], prev_label: str, yb_label: str | None,
                  pp: str) -> str:
    # The district's target is in the key figures above; columns only when municipalities have targets too.
    has_target = any(r["target_value"] is not None for r in rows if r["region_code"] != DISTRICT_CODE)
    heads = [("Gebiet", "text")]
    heads.append((f"Wert{' (%)' if ind.unit == 'prozent' else ''}", "num"))
    if ind.unit == "prozent":
        heads += [("Zähler", "num"), ("Nenner", "num")]
    heads.append((f"{prev_label}{pp}", "num"))
    if yb_label:
        heads.append((f"{yb_label}{pp}", "num"))
    if ind.unit == "prozent":
        heads += [("Abweichung vom Kreiswert (Pp.)", "num"), ("Lage", "text")]
    if has_target:
        heads += [("Ziel", "text"), ("Abstand zum Ziel", "num"), ("Zielstatus", "text")]
    th = "".join(
        f'<th{" class=n" if k == "num" else ""} data-sort="{k}" data-col="{i}">{esc(h)}</th>'
        for i, (h, k) in enumerate(heads))
    body = []
    for r in rows:
        is_d = r["region_code"] == DISTRICT_CODE
        tds = [f'<td>{esc(r["region_name"])}</td>', num_cell(shown(r), ind.dec)]
        if ind.unit == "prozent":
            den_dec = 0 if r["denominator"] is None or float(r["denominator"]).is_integer() else 1
            tds += [num_cell(shown(r, "numerator"), 0), num_cell(shown(r, "denominator"), den_dec)]
        tds.append(num_cell(r["change_previous"], ind.dec, signed=True))
        if yb_label:
            tds.append(num_cell(r["change_year_before"], ind.dec, signed=True))
        if ind.unit == "prozent":
            tds.append('<td class="n hint" data-v="">Kreiswert</td>' if is_d
                       else num_cell(r["diff_to_district"], ind.dec, signed=True))
            tds.append(f"<td>{position_html(r['position'])}</td>")
        if has_target:
            tds += [f"<td>{esc(target_text(r, ind.dec, ind.suffix))}{example_pill(r)}</td>",
                    num_cell(r["distance_to_target"], ind.dec, signed=True),
                    f"<td>{status_badge(r['status'], r['status_reason'])}</td>"]
        body.append(f'<tr data-region="{esc(r["region_code"])}"{" class=district" if is_d else ""}>'
                    + "".join(tds) + "</tr>")
    title = f"Alle Gebiete · {period_long(ind.latest)}"
    if len(ind.groups) > 1:
        title += f" · {group_label(g)}"
    return (f'<section class="panel"><div class="panel-head"><h2>{esc(title)}</h2>'
            '<span class="hint">Spaltenköpfe anklicken zum Sortieren</span></div>'
            f'<div class="table-wrap"><table class="data latest" data-group="{esc(g)}"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div></section>')


def _definition_html(ind: Indicator) -> str:
    items = [("Kennung", ind.id), ("Bezeichnung", ind.name), ("Handlungsfeld", ind.field),
             ("Einheit", UNIT_LABELS.get(ind.unit, ind.unit)),
             ("Periodizität", PERIODICITY_LABELS.get(ind.periodicity, ind.periodicity)),
             ("Gruppen", ", ".join(group_label(g) for g in ind.groups) or SYM_NA),
             ("Definition", ind.definition), ("Datenquelle", ind.source), ("Hinweise", ind.caveats or SYM_NA),
             ("Verfügbare Zeiträume", f"{period_long(ind.periods[0])} bis {period_long(ind.periods[-1])}"
              if ind.periods else SYM_NA)]
    return '<dl class="def">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"


def _chart_data(ind: Indicator, codes: list[str], regions: dict[str, str]) -> dict:
    pidx = {p: i for i, p in enumerate(ind.periods)}
    series: dict[str, dict[str, list]] = {g: {} for g in ind.groups}
    for r in ind.rows:
        arr = series[r["group_code"]].setdefault(r["region_code"], [None] * len(ind.periods))
        # Full precision (shortest round-trip repr): JS then holds the very same double and its
        # toFixed() shows the same digits as fmt_de here; pre-rounding would round twice.
        v = r["value"]
        if v is not None and not math.isfinite(v):
            v = None  # JSON has no NaN/Infinity
        elif v is not None and ind.dec == 0 and float(v).is_integer():
            v = int(v)
        arr[pidx[r["period"]]] = SUPPRESSED if r["is_suppressed"] else v
    targets = {}
    for g in ind.groups:
        d = next((r for r in ind.latest_rows(g) if r["region_code"] == DISTRICT_CODE), None)
        if d and d["target_value"] is not None:
            targets[g] = {"value": d["target_value"], "direction": d["target_direction"],
                          "year": d["target_year"], "example": bool(d["target_is_example"])}
    return {
        "id": ind.id, "name": ind.name, "unit": ind.unit, "dec": ind.dec, "kind": ind.kind,
        "district": DISTRICT_CODE, "periods": ind.periods,
        "plabels": [period_long(p) for p in ind.periods], "pshort": [period_short(p) for p in ind.periods],
        "regions": [[c, regions[c]] for c in codes],
        "groups": [[g, group_label(g)] for g in ind.groups],
        "series": series, "targets": targets,
    }


# ----------------------------------------------------------------------------- field pages

def render_field(site: Site, name: str, slug: str, intro: str, inds: list[Indicator],
                 regions: list[tuple[str, str]]) -> None:
    parts = [f'<div class="crumbs"><a href="index.html">Übersicht</a> › {esc(name)}</div>',
             f"<h1>Handlungsfeld {esc(name)}</h1>", f'<p class="lead">{esc(intro)}</p>']
    if not inds:
        parts.append('<section class="panel"><p>Für dieses Handlungsfeld sind keine Indikatoren veröffentlicht.</p>'
                     "</section>")
        site.page(f"{slug}.html", name, "\n".join(parts), f"{slug}.html")
        return
    cards = []
    for ind in inds:
        g = ind.main_group
        d = next((r for r in ind.latest_rows(g) if r["region_code"] == DISTRICT_CODE), None) if g else None
        v = shown(d)
        ch = d["change_year_before"] if d else None
        ch_label = comparison_labels(ind.kind)[1] or "ggü. Vorjahr"
        target = ""
        if d and d["target_value"] is not None:
            target = (f'<div class="small">Ziel {esc(target_text(d, ind.dec, ind.suffix))}{example_pill(d)} '
                      f'{status_badge(d["status"], d["status_reason"])}</div>')
        cards.append(
            f'<div class="card" data-indicator="{esc(ind.id)}"><div class="title"><a href="{ind.slug}">{esc(ind.id)} '
            f'{esc(ind.name)}</a></div><div class="small">Landkreis · {esc(period_long(ind.latest))}'
            f'{" · " + esc(group_label(g)) if g and g != "insgesamt" else ""}</div>'
            f'<div class="big">{esc(fmt_de(v, ind.dec))}<span class="unit">'
            f'{ind.suffix if isinstance(v, float) else ""}</span></div>'
            f'<div class="small">{esc(ch_label)}: {esc(fmt_de(ch, ind.dec, signed=True))}'
            f'{" Pp." if ind.unit == "prozent" and ch is not None else ""}</div>{target}</div>')
    parts.append(f'<div class="cards">{"".join(cards)}</div>')

    # Matrix: regions x indicators (main group, latest period), value and change on a year before.
    latest = {ind.id: {r["region_code"]: r for r in ind.latest_rows(ind.main_group)} if ind.main_group else {}
              for ind in inds}
    head1 = '<th rowspan="2" data-sort="text" data-col="0">Gebiet</th>' + "".join(
        f'<th colspan="2" class="group"><a href="{ind.slug}">{esc(ind.id)}</a> {esc(ind.name)}<br>'
        f'<span class="hint">{esc(period_long(ind.latest))}'
        f'{", " + esc(group_label(ind.main_group)) if ind.main_group not in (None, "insgesamt") else ""}</span></th>'
        for ind in inds)
    head2 = "".join(
        f'<th class="n bl" data-sort="num" data-col="{1 + 2 * k}">Wert{" (%)" if ind.unit == "prozent" else ""}</th>'
        f'<th class="n" data-sort="num" data-col="{2 + 2 * k}">'
        f'{"ggü. Vorjahr" + (" (Pp.)" if ind.unit == "prozent" else "")}</th>'
        for k, ind in enumerate(inds))
    body = []
    csv_rows = []
    for code, rname in regions:
        tds = [f"<td>{esc(rname)}</td>"]
        any_row = False
        for ind in inds:
            r = latest[ind.id].get(code)
            any_row |= r is not None
            extra = ""
            if r is not None:
                extra = position_html(r["position"])
                if r["status"]:
                    extra += (f'<span class="dot {STATUS_CLASS[r["status"]]}" '
                              f'title="Ziel: {esc(r["status"])} – {esc(r["status_reason"])}"></span>')
            tds.append(num_cell(shown(r), ind.dec, extra=extra, cls="n bl"))
            tds.append(num_cell(r["change_year_before"] if r else None, ind.dec, signed=True))
            if r is not None:
                csv_rows.append([code, rname, ind.id, ind.name, group_label(ind.main_group), period_long(ind.latest),
                                 UNIT_LABELS[ind.unit], Cell(shown(r), f"n{ind.dec}"),
                                 Cell(r["change_year_before"], f"s{ind.dec}"), r["diff_to_district"],
                                 r["position"], r["status"]])
        if any_row:
            body.append(f'<tr data-region="{esc(code)}"{" class=district" if code == DISTRICT_CODE else ""}>'
                        + "".join(tds) + "</tr>")
    parts.append(
        '<section class="panel"><div class="panel-head"><h2>Landkreis und Gemeinden im Vergleich</h2>'
        '<span class="hint">jeweils aktueller Zeitraum; ▲/▼ = über/unter Kreiswert; Punkt = Zielstatus; '
        'Spaltenköpfe anklicken zum Sortieren</span></div>'
        f'<div class="table-wrap"><table class="data compact matrix"><thead><tr>{head1}</tr><tr>{head2}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
        + notes_html([NOTE_POSITION]) + "</section>")

    # One long table for counts and rates: value and change carry their own format (Cell).
    table = Table(f"Handlungsfeld {name}",
                  ["Regionalschlüssel", "Gebiet", "Indikator", "Bezeichnung", "Gruppe", "Zeitraum", "Einheit",
                   "Wert", "ggü. Vorjahr", "Abweichung vom Kreiswert (Pp.)", "Lage zum Kreiswert", "Zielstatus"],
                  ["text"] * 7 + ["n1", "s1", "s1", "text", "text"], csv_rows)
    write_csv(site.out / "downloads" / f"handlungsfeld_{slug}.csv", table)
    write_xlsx(site.out / "downloads" / f"handlungsfeld_{slug}.xlsx", [table],
               [f"Handlungsfeld {name} – Integrationsmonitor Landkreis Esslingen", NOTE_SUPPRESSED, NOTE_NA,
                NOTE_PP, NOTE_POSITION, NOTE_STATUS])
    parts.append('<section class="panel"><h2>Downloads</h2>'
                 + downloads_html([("Excel (XLSX)", f"handlungsfeld_{slug}.xlsx"),
                                   ("CSV", f"handlungsfeld_{slug}.csv")]) + "</section>")
    site.page(f"{slug}.html", name, "\n".join(parts), f"{slug}.html")


# ----------------------------------------------------------------------------- overview

def render_index(site: Site, fields: list[tuple[str, str, str, list[Indicator]]], n_regions: int) -> None:
    all_inds = [i for f in fields for i in f[3]]
    latest_month = max((i.latest for i in all_inds if i.latest and period_kind(i.latest) == "monat"), default=None)
    parts = [
        "<h1>Integrationsmonitor – Überblick</h1>",
        '<p class="lead">Aktuelle Kennzahlen zur Integration im Landkreis Esslingen in sechs Handlungsfeldern, '
        "für den Landkreis und seine Städte und Gemeinden, mit Veränderung, Vergleich zum Kreiswert und "
        "Stand der Zielerreichung. Einzelheiten, Zeitverläufe und Downloads auf den Seiten der Indikatoren.</p>",
        f'<div class="meta"><span class="pill">Datenstand: {esc(site.stand)}</span>'
        + (f'<span class="pill">Letzter Berichtsmonat: {esc(period_long(latest_month))}</span>' if latest_month else "")
        + f'<span class="pill">{len(all_inds)} Indikatoren</span>'
        f'<span class="pill">{n_regions} Gebiete (Landkreis und Gemeinden)</span></div>',
    ]
    # Targets at district level (latest period of each indicator/group with a district target)
    trows, t_table = [], []
    for fname, fslug, _, inds in fields:
        for ind in inds:
            for g in ind.groups:
                d = next((r for r in ind.latest_rows(g) if r["region_code"] == DISTRICT_CODE), None)
                if d is None or d["target_value"] is None:
                    continue
                pp = " Pp." if ind.unit == "prozent" else ""
                trows.append(
                    f'<tr data-indicator="{esc(ind.id)}" data-group="{esc(g)}">'
                    f'<td><a href="{ind.slug}">{esc(ind.id)} {esc(ind.name)}</a>'
                    f'<div class="hint">{esc(fname)} · {esc(group_label(g))}</div></td>'
                    f'<td class="nowrap">{esc(period_short(d["period"]))}</td>'
                    + num_cell(shown(d), ind.dec, suffix=ind.suffix if d["value"] is not None else "")
                    + f'<td class="nowrap">{esc(target_text(d, ind.dec, ind.suffix))}{example_pill(d)}</td>'
                    + num_cell(d["distance_to_target"], ind.dec, signed=True,
                               suffix=pp if d["distance_to_target"] is not None else "")
                    + num_cell(d["change_year_before"], ind.dec, signed=True,
                               suffix=pp if d["change_year_before"] is not None else "")
                    + f'<td>{status_badge(d["status"], d["status_reason"])}</td>'
                    f'<td class="hint">{esc(d["status_reason"] or "")}</td></tr>')
                t_table.append([fname, ind.id, ind.name, group_label(g), period_long(d["period"]),
                                UNIT_LABELS[ind.unit], Cell(shown(d), f"n{ind.dec}"),
                                target_text(d, ind.dec, ind.suffix), Cell(d["distance_to_target"], f"s{ind.dec}"),
                                Cell(d["change_year_before"], f"s{ind.dec}"), d["status"], d["status_reason"],
                                d["target_source"], "ja" if d["target_is_example"] else "nein"])
    if trows:
        parts.append(
            '<section class="panel"><div class="panel-head"><h2>Zielerreichung auf Kreisebene</h2>'
            '<span class="hint">jeweils aktueller Zeitraum</span></div><div class="table-wrap">'
            '<table class="data targets"><thead><tr><th>Indikator (Handlungsfeld · Gruppe)</th>'
            '<th>Zeitraum</th><th class="n">Wert</th><th>Ziel</th><th class="n">Abstand zum Ziel</th>'
            '<th class="n">ggü. Vorjahr</th><th>Status</th><th>Begründung</th></tr></thead><tbody>'
            + "".join(trows) + "</tbody></table></div>"
            + (' <p class="hint">Mit „Beispiel“ markierte Ziele sind Platzhalter, keine Beschlüsse.</p>'
               if any(r[-1] == "ja" for r in t_table) else "")
            + downloads_html([("Excel (XLSX)", "zielerreichung.xlsx"), ("CSV", "zielerreichung.csv")])
            + "</section>")
        table = Table("Zielerreichung", ["Handlungsfeld", "Indikator", "Bezeichnung", "Gruppe", "Zeitraum", "Einheit",
                                         "Wert", "Ziel", "Abstand zum Ziel", "ggü. Vorjahr", "Status", "Begründung",
                                         "Quelle des Ziels", "Beispielwert"],
                      ["text"] * 6 + ["n1", "text", "s1", "s1", "text", "text", "text", "text"], t_table)
        write_csv(site.out / "downloads" / "zielerreichung.csv", table)
        write_xlsx(site.out / "downloads" / "zielerreichung.xlsx", [table],
                   ["Zielerreichung auf Kreisebene – Integrationsmonitor Landkreis Esslingen", NOTE_SUPPRESSED,
                    NOTE_NA, NOTE_PP, NOTE_STATUS])

    cards = []
    for fname, fslug, intro, inds in fields:
        rows = []
        for ind in inds:
            g = ind.main_group
            d = next((r for r in ind.latest_rows(g) if r["region_code"] == DISTRICT_CODE), None) if g else None
            v = shown(d)
            dot = (f'<span class="dot {STATUS_CLASS[d["status"]]}" title="Ziel: {esc(d["status"])}"></span>'
                   if d and d["status"] else "")
            rows.append(
                f'<tr data-indicator="{esc(ind.id)}"><td><a href="{ind.slug}">{esc(ind.name)}</a>'
                f'{" <span class=hint>(" + esc(group_label(g)) + ")</span>" if g and g != "insgesamt" else ""}</td>'
                f'<td class="hint">{esc(period_short(ind.latest) if ind.latest else SYM_NA)}</td>'
                + num_cell(v, ind.dec, suffix=ind.suffix if isinstance(v, float) else "", extra=dot)
                + num_cell(d["change_year_before"] if d else None, ind.dec, signed=True) + "</tr>")
        cards.append(
            f'<section class="panel fieldcard"><h3><a href="{fslug}.html">{esc(fname)}</a></h3>'
            f'<p class="hint">{esc(intro)}</p>'
            '<table class="data compact"><thead><tr><th>Indikator (Landkreis)</th><th>Zeitraum</th>'
            '<th class="n">Wert</th><th class="n">ggü. Vorjahr</th></tr></thead><tbody>'
            + ("".join(rows) or '<tr><td colspan="4">keine Indikatoren</td></tr>') + "</tbody></table></section>")
    parts.append('<h2 style="margin-top:8px">Handlungsfelder</h2>')
    parts.append(f'<div class="fieldcards">{"".join(cards)}</div>')
    parts.append('<section class="panel"><h2>Lesehilfe</h2>'
                 '<p>Veränderungen „ggü. Vorjahr“ vergleichen mit demselben Zeitraum ein Jahr zuvor (bei Monatswerten '
                 'mit dem Vorjahresmonat, bei Schuljahren mit dem vorherigen Schuljahr). Quoten werden für den '
                 'Landkreis aus allen Fällen berechnet, nicht als Durchschnitt der Gemeinden.</p>'
                 + notes_html([NOTE_POSITION, NOTE_STATUS]) + "</section>")
    site.page("index.html", "Überblick", "\n".join(parts), "index.html")


# ----------------------------------------------------------------------------- build

REPORT_HTML_PREFIXES = ("indikator-",)


def write_report(db_path: Path, out_dir: Path, targets_file: Path = TARGETS_FILE,
                 now: datetime | None = None) -> Path:
    """Build the report from a published DuckDB file into out_dir; returns out_dir/index.html.

    Pages are built in a staging folder beside the target and then moved in file by file, so a
    reader never sees a half-written page; files of an earlier report that are no longer produced
    (an indicator dropped from the catalogue) are removed. Other files in out_dir are left alone."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = _open(Path(db_path), Path(targets_file))
    try:
        inds = _load(con)
        published = _published_at(con)
    finally:
        con.close()
    now = now or datetime.now()
    stand = published.strftime("%d.%m.%Y, %H:%M Uhr") if published else "unbekannt"
    staging = out_dir / f".bericht-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        site = Site(staging, stand, now.strftime("%d.%m.%Y, %H:%M Uhr"))
        known = {name for name, _, _ in FIELDS}
        fields = [(name, slug, intro, [i for i in inds if i.field == name]) for name, slug, intro in FIELDS]
        others = [i for i in inds if i.field not in known]
        if others:  # a field the report does not know yet still gets shown
            fields.append(("Weitere", "weitere", "Indikatoren ohne bekanntes Handlungsfeld.", others))
        regions = _regions(inds)
        for name, slug, intro, f_inds in fields:
            for ind in f_inds:
                render_indicator(site, ind, slug)
            render_field(site, name, slug, intro, f_inds, regions)
        render_index(site, fields, len(regions))
        _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / "index.html"


def _swap_in(staging: Path, out_dir: Path) -> None:
    new_files = {p.relative_to(staging) for p in staging.rglob("*") if p.is_file()}
    (out_dir / "downloads").mkdir(exist_ok=True)
    # downloads first, pages last: a page never links to a file that is not there yet
    for rel in sorted(new_files, key=lambda r: (r.suffix == ".html", r.name == "index.html", str(r))):
        os.replace(staging / rel, out_dir / rel)
    for p in (out_dir / "downloads").iterdir():
        if p.is_file() and p.relative_to(out_dir) not in new_files:
            p.unlink()
    for p in out_dir.glob("*.html"):
        if p.relative_to(out_dir) not in new_files and (
                p.name.startswith(REPORT_HTML_PREFIXES) or p.stem in {slug for _, slug, _ in FIELDS} | {"weitere"}):
            p.unlink()


def build_report(settings) -> Path:
    """Write the static HTML report of the published warehouse to settings.reports_dir; returns index.html."""
    return write_report(settings.published_db, settings.reports_dir)
