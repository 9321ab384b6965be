"""Static HTML report for the district's Sozialausschuss, built from the published warehouse.

`build_report(settings) -> Path` reads `settings.published_db` (read-only) and writes into
`settings.reports_dir`:

    index.html                  overview: targets and their status, latest district values per field
    <feld>.html                 one page per field of action with published values (the fields, their
                                order, names and intros come from the indicator catalogue,
                                sources/indicators.yml): latest values of district and municipalities
    indikator-<id>.html         one page per indicator: time-series chart (district + selectable
                                municipalities), sorted municipality comparison, table with evaluation,
                                definition/source/caveats from the catalogue
    downloads/                  CSV (semicolon, decimal comma, UTF-8 with BOM, for German Excel) and
                                XLSX of what the pages show
    .bericht.json               the manifest: per page and download the digest of its inputs and
                                the hash of its file (per page also the stand it states)

The pages are Jinja2 templates with autoescaping in report_assets/ (base.html, macros.html,
overview.html, field.html, indicator.html): this module prepares the data, the templates render
it. Pages open from disk without any network: CSS and the chart code (report_assets/report.js,
own vanilla-JS SVG code, no third-party library) are inlined in every page; the data of an
indicator is embedded as JSON in its own page only (no fetch(), which file:// would block).

Display rules: German labels and number format (1.234,5; rates with one decimal, counts without);
units as in the catalogue (UNITS: %, je 1.000, je 100, Anzahl, Gemeinden; changes of percentages
in percentage points); suppressed values as "·", undefined values (denominator 0) and impossible
comparisons as "–", a municipality that gave no answer (ENG-02: no figures, not suppressed) as
"–" with "keine Angabe", each explained in a footnote. Never is a missing value shown as 0.

A field of action whose indicators have no published value yet gets no page; the overview names
it as "noch ohne veröffentlichte Daten". The data-quality docs (reports/data-docs/index.html) and
the dbt docs (reports/dbt-docs/index.html) are linked from every page's footer where they exist.

A refresh renders only the pages and downloads whose inputs changed (`Site`, manifest
.bericht.json in the report folder); the others are kept byte for byte. So that a kept page stays
true, an indicator or field page states the publication since which its own data is unchanged;
the overview, made every time, states the stand of the whole published set (docs/report.md).

The evaluation (changes, district comparison, targets) comes from `main.indicator_evaluation`
(orchestration/evaluation.py). A published file without that table is evaluated on the fly in
memory with orchestration/zielwerte.yml, so the report also works on an older published file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import duckdb
import jinja2
from markupsafe import Markup

from orchestration.files import write_atomic
from orchestration.settings import DISTRICT_CODE, TARGETS_FILE
from sources import catalogue

ASSETS_DIR = Path(__file__).resolve().parent / "report_assets"


@dataclass(frozen=True)
class Unit:
    """How values of one unit of the catalogue are shown."""
    label: str        # "Einheit" in pills, definitions and downloads
    suffix: str       # after a value in bars, tooltips, targets ("12,3 %")
    big: str          # after a key figure ("17 Gemeinden")
    head: str         # after a "Wert" column head ("Wert (%)")
    change: str       # after a change or difference ("+0,4 Pp.")
    change_head: str  # after a change column head ("ggü. Vorjahr (Pp.)")
    axis: str         # above the chart's value axis
    dec: int          # decimals shown
    is_rate: bool     # a quotient: numerator/denominator, comparison with the district value


UNITS: dict[str, Unit] = {
    "prozent": Unit("Prozent (%)", " %", " %", " (%)", " Pp.", " (Pp.)", "in %", 1, True),
    "anzahl": Unit("Anzahl", "", "", "", "", "", "Anzahl", 0, False),
    "je_1000": Unit("je 1.000", " je 1.000", " je 1.000", " (je 1.000)", " je 1.000", " (je 1.000)",
                    "je 1.000", 1, True),
    "je_100": Unit("je 100", " je 100", " je 100", " (je 100)", " je 100", " (je 100)", "je 100", 1, True),
    "anzahl_gemeinden": Unit("Anzahl Gemeinden", "", " Gemeinden", " (Gemeinden)", "", "", "Gemeinden", 0,
                             False),
}
assert set(UNITS) == set(catalogue.UNITS), "every unit of the catalogue needs its display"

PERIODICITY_LABELS = {"monat": "monatlich", "jahr": "jährlich (Kalenderjahr)",
                      "schuljahr": "jährlich (Schuljahr)"}
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember"]
MONTHS_SHORT = ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"]
NUMBER_WORDS = ["null", "einem", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn",
                "elf", "zwölf"]
STATUS_CLASS = {"auf Kurs": "ok", "beobachten": "warn", "nicht auf Kurs": "bad"}
POSITION_HTML = {"über Kreiswert": ("up", "über"), "unter Kreiswert": ("down", "unter"),
                 "gleich": ("eq", "gleich")}
OTHER_FIELD = catalogue.Field("weitere", "Weitere", "Indikatoren ohne bekanntes Handlungsfeld.")
# Relative links from the report folder to the other generated docs; shown where they exist.
DOC_LINKS = [("data-docs/index.html", "Prüfergebnisse der Datenlieferungen"),
             ("dbt-docs/index.html", "Dokumentation der Datenmodelle (dbt)")]

SUPPRESSED = "s"  # marker for suppressed numbers inside this module and in the embedded JSON
NO_ANSWER = "n"   # marker for a municipality that gave no answer (NULL figures, not suppressed)
SYM_SUPPRESSED = "·"
SYM_NA = "–"
NO_ANSWER_TEXT = "keine Angabe"  # in downloads, where no footnote sits next to the cell
NOTE_SUPPRESSED = ("· = aus Datenschutzgründen nicht ausgewiesen (Fallzahl 1 oder 2 bzw. daraus "
                   "ableitbar; Regel der Statistik der Bundesagentur für Arbeit)")
NOTE_NA = "– = nicht definiert (Nenner 0) bzw. kein Vergleichswert vorhanden"
NOTE_NO_ANSWER = ("– keine Angabe = die Gemeinde hat die Frage nicht beantwortet; sie zählt weder in der "
                  "Gemeinde noch im Kreiswert (nicht aus Datenschutzgründen gesperrt)")
NOTE_PP = "Pp. = Prozentpunkte (Veränderungen und Abweichungen von Prozentwerten)"
NOTE_POSITION = ("Lage zum Kreiswert (nur Quoten der Gemeinden): „gleich“, wenn die Abweichung höchstens "
                 "5 % des Kreiswerts beträgt (mindestens 0,1 Pp. bzw. 0,1 je 1.000/je 100), sonst „über“/„unter“. "
                 "Über oder unter dem Kreiswert ist für sich weder gut noch schlecht.")
NOTE_STATUS = ("Zielstatus: „auf Kurs“ = Ziel erreicht oder die Entwicklung des letzten Jahres erreicht es im "
               "gleichen Tempo bis zum Zieljahr; „beobachten“ = Entwicklung in Zielrichtung, aber zu langsam, "
               "knapp am Ziel oder ohne Vorjahreswert; „nicht auf Kurs“ = Stillstand, Gegenrichtung oder "
               "Zieljahr abgelaufen. Zielwerte: orchestration/zielwerte.yml.")
NOTE_UNIT = ("Veränderungen und Abweichungen in der Einheit des Indikators: bei Prozentwerten in "
             "Prozentpunkten, bei Werten je 1.000 bzw. je 100 in derselben Einheit")
NOTES_BASE = [NOTE_SUPPRESSED, NOTE_NA, NOTE_PP]

EVAL_COLUMNS = (
    "indicator_id, period, period_end, region_code, region_name, group_code, unit, is_suppressed, value, "
    "previous_period, value_previous, change_previous, period_year_before, value_year_before, "
    "change_year_before, district_value, diff_to_district, position, target_value, target_direction, "
    "target_year, target_source, target_is_example, distance_to_target, status, status_reason"
)


def unit_of(code: str) -> Unit:
    return UNITS.get(code, UNITS["anzahl"])


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
    """1234.56 -> '1.234,6'. SUPPRESSED -> '·', None and NO_ANSWER -> '–'."""
    if v == SUPPRESSED:
        return SYM_SUPPRESSED
    if v is None or v == NO_ANSWER:
        return SYM_NA
    d = _dec(v, dec)
    if d == 0:
        d = abs(d)  # no "−0,0"
    s = f"{abs(d):,.{dec}f}" if grouping else f"{abs(d):.{dec}f}"
    s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    sign = minus if d < 0 else ("+" if signed and d > 0 else "")
    return sign + s


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
    return catalogue.load().group_labels.get(g, g)


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
    rows_hash: int = 0  # sum mod 2**64 of DuckDB's hash of every row (all columns in `rows`): changes with
    #                     any of them, independent of row order (DuckDB's version is in the fingerprint)

    @property
    def data(self) -> tuple:
        """What of this indicator a page may show: its catalogue texts and its published rows."""
        return (self.id, self.name, self.name_en, self.field, self.unit, self.periodicity, self.definition,
                self.source, self.caveats, len(self.rows), self.rows_hash)

    @property
    def u(self) -> Unit:
        return unit_of(self.unit)

    @property
    def dec(self) -> int:
        return self.u.dec

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
    """The value to display: SUPPRESSED for a suppressed row's own figures, NO_ANSWER for a
    non-answering municipality's (no numerator although not suppressed), else the number/None."""
    if r is None:
        return None
    if col in ("value", "numerator", "denominator") and r.get("is_suppressed"):
        return SUPPRESSED
    if col == "value" and is_no_answer(r):
        return NO_ANSWER  # said once, at the value; numerator and denominator show a plain "–"
    return r.get(col)


def is_no_answer(r: dict) -> bool:
    # Every published row has a numerator unless suppressed, except a municipality that did not
    # answer (ENG-02): indicators.md, "their row has numerator, denominator and value NULL".
    return "numerator" in r and r["numerator"] is None and not r.get("is_suppressed")


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
    cols = [f"e.{c.strip()}" for c in EVAL_COLUMNS.split(",")] + ["v.numerator", "v.denominator"]
    cur = con.execute(f"""
        SELECT {', '.join(cols)}, hash({', '.join(cols)}) AS row_hash
        FROM main.indicator_evaluation e
        JOIN main.indicator_values v USING (indicator_id, period, region_code, group_code)
        ORDER BY e.indicator_id, e.period_end, e.group_code, e.region_code
    """)
    cols = [c[0] for c in cur.description]
    by_id = {i.id: i for i in inds}
    group_order = {g: k for k, g in enumerate(catalogue.load().group_labels)}
    while True:
        chunk = cur.fetchmany(50_000)
        if not chunk:
            break
        for row in chunk:
            r = dict(zip(cols, row))
            ind = by_id.get(r["indicator_id"])
            if ind is not None:
                ind.rows_hash = (ind.rows_hash + r.pop("row_hash")) & 0xFFFF_FFFF_FFFF_FFFF
                ind.rows.append(r)
    for ind in inds:
        seen_p: dict[str, None] = {}
        seen_g: set[str] = set()
        for r in ind.rows:
            seen_p.setdefault(r["period"], None)
            seen_g.add(r["group_code"])
        ind.periods = list(seen_p)  # rows are ordered by period_end
        ind.groups = sorted(seen_g, key=lambda g: (group_order.get(g, len(group_order)), g))
    # the catalogue's order (within a field: the order of its indicators), unknown ids after it
    order = {c.id: k for k, c in enumerate(catalogue.load().indicators)}
    return sorted(inds, key=lambda i: (order.get(i.id, len(order)), i.id))


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
    if v == NO_ANSWER:
        return NO_ANSWER_TEXT
    return fmt_de(v, int(kind[1]), signed=kind[0] == "s", grouping=False, minus="-")


def write_csv(path: Path, table: Table) -> None:
    # Semicolon, decimal comma and a BOM: opens correctly in German Excel by double click.
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(table.headers)
        for row in table.rows:
            w.writerow([_csv_cell(v, k) for v, k in zip(row, table.kinds)])


def write_xlsx(path: Path, tables: list[Table], notes: list[str]) -> None:
    """One sheet per table (bold header, frozen, filtered; numbers with their format, "·" etc. as
    right-aligned text) and a sheet with the notes (orchestration/xlsx.py)."""
    from orchestration.xlsx import Sheet, write_workbook

    sheets = []
    for t in tables:
        rows = [[(h, "head") for h in t.headers]]
        for row in t.rows:
            out = []
            for v, k in zip(row, t.kinds):
                if isinstance(v, Cell):
                    v, k = v
                if k == "text":
                    out.append((None if v is None else str(v), "text"))
                elif v is None or v in (SUPPRESSED, NO_ANSWER):
                    out.append(({SUPPRESSED: SYM_SUPPRESSED, NO_ANSWER: NO_ANSWER_TEXT}.get(v, SYM_NA), "symbol"))
                else:
                    out.append((float(v), k))
            rows.append(out)
        widths = [28 if k == "text" and c < 3 else max(10, min(22, len(h) + 2))
                  for c, (h, k) in enumerate(zip(t.headers, t.kinds))]
        sheets.append(Sheet(t.name, rows, widths))
    sheets.append(Sheet("Erläuterungen", [[(line, "bold" if r == 0 else "text")] for r, line in enumerate(notes)],
                        [120], header=False))
    write_workbook(path, sheets)


# ----------------------------------------------------------------------------- templates

def target_text(r: dict, u: Unit) -> str:
    if r.get("target_value") is None:
        return ""
    op = "≥" if r["target_direction"] == "hoch" else "≤"
    return f"{op} {fmt_de(r['target_value'], u.dec)}{u.suffix} bis {r['target_year']}"


def _den_dec(den) -> int:
    # ARB-03's denominator is an average stock with a fraction; other denominators are counts
    return 0 if den is None or float(den).is_integer() else 1


def _environment() -> jinja2.Environment:
    # Compiling the templates took ~0.3 s of every report; Jinja's bytecode cache (a private
    # folder in the system's temp dir, keyed by each template's source checksum) keeps them.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ASSETS_DIR), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        bytecode_cache=jinja2.FileSystemBytecodeCache())
    env.filters.update(
        de=lambda v, dec, signed=False: fmt_de(v, dec, signed), sortv=rounded, plong=period_long,
        pshort=period_short, glabel=group_label, den_dec=_den_dec,
        periodicity=lambda p: PERIODICITY_LABELS.get(p, p),
        status_class=lambda s: STATUS_CLASS.get(s, ""),
        position_parts=lambda p: POSITION_HTML.get(p, ("", p)))
    env.tests.update(suppressed=lambda v: v == SUPPRESSED, no_answer=lambda v: v == NO_ANSWER)
    env.globals.update(
        shown=shown, target_text=target_text, DISTRICT=DISTRICT_CODE, NOTES_BASE=NOTES_BASE,
        NOTE_SUPPRESSED=NOTE_SUPPRESSED, NOTE_NA=NOTE_NA, NOTE_NO_ANSWER=NOTE_NO_ANSWER)
    return env


MANIFEST_FILE = ".bericht.json"  # in the report folder: what each page and download was made from


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str | None:
    try:
        return _sha(path.read_bytes())
    except OSError:
        return None


def fingerprint() -> str:
    """What the pages and downloads are made with besides their data: this module, the templates,
    CSS and JS of report_assets/, the libraries that write them and the district code. Another of
    any of these renders every page and download anew."""
    from importlib.metadata import version

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update((Path(__file__).parent / "xlsx.py").read_bytes())  # the XLSX writer
    for p in sorted(ASSETS_DIR.iterdir()):
        if p.is_file() and p.suffix in (".html", ".css", ".js"):  # not the README
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(repr(([version(d) for d in ("jinja2", "markupsafe", "duckdb")],
                   DISTRICT_CODE)).encode())
    return h.hexdigest()


def _read_manifest(out_dir: Path) -> dict[str, dict]:
    """file (relative to the report folder) -> {"inputs", "sha256"[, "data", "stand"]}; {} if unreadable."""
    try:
        files = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))["files"]
        return {k: v for k, v in files.items() if isinstance(v, dict)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def stand_text(published: datetime | None) -> str:
    return published.strftime("%d.%m.%Y, %H:%M Uhr") if published else "unbekannt"


@dataclass
class Plan:
    """The decision for one page of the previous report: kept as it is, or rendered with `stand`."""
    keep: bool
    stand: datetime | None  # the publication since which the page's data is unchanged
    entry: dict             # its manifest entry (file hash added when written)


class Site:
    """Renders pages into a staging folder with the shared layout; CSS and JS inlined.

    Issue 20: a page or download whose inputs are those the previous report (`previous`, its
    manifest) recorded for it, and whose file there is intact, is kept as it is: a month touches
    only the pages whose data changed. The inputs of a page are its data (`Plan`), the code
    (`fingerprint()`), the navigation, the linked docs and the data stand it states; the inputs
    of a download its content and the code. A missing or altered file or manifest renders anew."""

    def __init__(self, out: Path, published: datetime | None, generated: str, fields: list[catalogue.Field],
                 docs: list[tuple[str, str]] = (), previous: Path | None = None):
        self.out = out
        self.previous = previous
        self.old = _read_manifest(previous) if previous else {}
        self.manifest: dict[str, dict] = {}  # what the report now holds, for the next one
        self.kept: set[str] = set()           # files of `previous` taken over untouched
        self.published = published
        self.stand = stand_text(published)    # of the whole published set: the overview states it
        self.generated = generated
        self.fingerprint = fingerprint()
        self.env = _environment()
        self.css = Markup((ASSETS_DIR / "report.css").read_text(encoding="utf-8"))
        js = (ASSETS_DIR / "report.js").read_text(encoding="utf-8")
        self.js = Markup(js.replace("</script", "<\\/script"))
        self.nav = [("index.html", "Übersicht")] + [(f"{f.slug}.html", f.name) for f in fields]
        self.docs = list(docs)
        self.group_labels = list(catalogue.load().group_labels.items())
        (out / "downloads").mkdir(parents=True, exist_ok=True)

    def _intact(self, rel: str, entry: dict | None) -> bool:
        return (entry is not None and self.previous is not None
                and _file_sha(self.previous / rel) == entry.get("sha256"))

    def plan(self, filename: str, data, downloads: list[str] = ()) -> Plan:
        """Keep `filename` and its downloads from the previous report, or render it. `data` is
        everything of the published set and the catalogue the page shows (with its downloads);
        the data stand the page states moves on only when that changes."""
        data_digest = _sha(repr((data, self.group_labels)).encode())
        old = self.old.get(filename)
        stand = self.published
        if old is not None and old.get("data") == data_digest:
            try:
                stand = datetime.fromisoformat(old["stand"]) if old.get("stand") else None
            except (TypeError, ValueError):
                stand = self.published
        inputs = _sha(repr((self.fingerprint, filename, data_digest, stand, self.nav, self.docs)).encode())
        entry = {"inputs": inputs, "data": data_digest, "stand": stand.isoformat() if stand else None}
        dl = [f"downloads/{n}" for n in downloads]
        if old is not None and old.get("inputs") == inputs and self._intact(filename, old) \
                and all(self._intact(d, self.old.get(d)) for d in dl):
            self.kept.update([filename, *dl])
            self.manifest[filename] = old
            self.manifest.update({d: self.old[d] for d in dl})
            return Plan(True, stand, old)
        return Plan(False, stand, entry)

    def page(self, template: str, filename: str, title: str, active: str, data: dict | None = None,
             plan: Plan | None = None, **context) -> None:
        """Render a page; with a `plan` it states the stand of its own data, else (the overview)
        the stand of the whole set."""
        payload = None
        if data is not None:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
            payload = Markup(text)  # JSON, with "</" escaped for the script element
        html_text = self.env.get_template(template).render(
            site=self, title=title, active=active, data=payload,
            page_stand=stand_text(plan.stand) if plan else None, **context)
        raw = html_text.encode("utf-8")
        (self.out / filename).write_bytes(raw)
        if plan is not None:
            self.manifest[filename] = dict(plan.entry, sha256=_sha(raw))

    def download(self, name: str, writer, *content) -> None:
        """downloads/<name> := writer(path, *content), unless the previous report holds this file
        made from the same content by the same code (writing XLSX is much of the report's time)."""
        rel = f"downloads/{name}"
        digest = _sha(repr((self.fingerprint, name, content)).encode())
        old = self.old.get(rel)
        if old is not None and old.get("inputs") == digest and self._intact(rel, old):
            self.kept.add(rel)
            self.manifest[rel] = old
            return
        dest = self.out / rel
        writer(dest, *content)
        self.manifest[rel] = {"inputs": digest, "sha256": _file_sha(dest)}

    def write_manifest(self, out_dir: Path) -> None:
        write_atomic(out_dir / MANIFEST_FILE, json.dumps({"files": self.manifest}, sort_keys=True, indent=0))


def _row_notes(rows) -> list[str]:
    """Footnotes that only pages showing such a row need."""
    return [NOTE_NO_ANSWER] if any(is_no_answer(r) for r in rows if r is not None) else []


# ----------------------------------------------------------------------------- indicator page

def _indicator_tables(ind: Indicator) -> tuple[Table, Table]:
    """Latest period with evaluation (long), and the time series (wide), all groups."""
    u = ind.u
    prev_label, yb_label = comparison_labels(ind.kind)
    d, sd = f"n{ind.dec}", f"s{ind.dec}"
    den_kind = "n1" if any(_den_dec(r["denominator"]) for r in ind.rows) else "n0"
    headers = ["Regionalschlüssel", "Gebiet", "Gruppe", "Zeitraum", f"Wert ({u.label})"]
    kinds = ["text", "text", "text", "text", d]
    if u.is_rate:
        headers += ["Zähler", "Nenner"]
        kinds += ["n0", den_kind]
    headers += [f"{prev_label}{u.change_head}"]
    kinds += [sd]
    if yb_label:
        headers += [f"{yb_label}{u.change_head}"]
        kinds += [sd]
    if u.is_rate:
        headers += ["Kreiswert", f"Abweichung vom Kreiswert{u.change_head}", "Lage zum Kreiswert"]
        kinds += [d, sd, "text"]
    headers += ["Zielwert", "Zielrichtung", "Zieljahr", "Abstand zum Ziel", "Zielstatus", "Begründung"]
    kinds += [d, "text", "text", sd, "text", "text"]
    latest_rows = []
    for g in ind.groups:
        for r in _ordered(ind.latest_rows(g)):
            row = [r["region_code"], r["region_name"], group_label(g), period_long(r["period"]), shown(r)]
            if u.is_rate:
                row += [shown(r, "numerator"), shown(r, "denominator")]
            row += [r["change_previous"]]
            if yb_label:
                row += [r["change_year_before"]]
            if u.is_rate:
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
            f"Hinweise: {ind.caveats or '–'}", NOTE_SUPPRESSED, NOTE_NA, NOTE_PP, NOTE_POSITION, NOTE_STATUS] \
        + _row_notes(ind.rows)


def _district_row(ind: Indicator, g: str | None) -> dict | None:
    if g is None:
        return None
    return next((r for r in ind.latest_rows(g) if r["region_code"] == DISTRICT_CODE), None)


def render_indicator(site: Site, ind: Indicator, fld: catalogue.Field) -> None:
    files = [f"{ind.id}.xlsx", f"{ind.id}_aktuell.csv", f"{ind.id}_zeitreihe.csv"] if ind.rows else []
    plan = site.plan(ind.slug, (ind.data, fld), files)
    if plan.keep:
        return
    if ind.rows:  # a page without values offers no downloads
        latest_t, series_t = _indicator_tables(ind)
        site.download(files[1], write_csv, latest_t)
        site.download(files[2], write_csv, series_t)
        site.download(files[0], write_xlsx, [latest_t, series_t], _indicator_notes(ind))

    prev_label, yb_label = comparison_labels(ind.kind)
    names: dict[str, str] = {}
    for r in ind.rows:
        names.setdefault(r["region_code"], r["region_name"])
    codes = _ordered_codes(names)
    latest = {g: _ordered(ind.latest_rows(g)) for g in ind.groups}

    def comparisons(d: dict) -> list[tuple[str, str | None, float | None]]:
        out = [(prev_label, d["previous_period"], d["change_previous"])]
        if yb_label:
            out.append((yb_label, d["period_year_before"], d["change_year_before"]))
        return out

    site.page(
        "indicator.html", ind.slug, f"{ind.id} {ind.name}", f"{fld.slug}.html",
        _chart_data(ind, codes, names) if ind.rows else None, plan,
        ind=ind, field=fld, u=ind.u, prev_label=prev_label, yb_label=yb_label,
        district={g: _district_row(ind, g) for g in ind.groups}, latest=latest,
        # the district's target is in the key figures; columns only when municipalities have targets too
        has_target={g: any(r["target_value"] is not None for r in rows if r["region_code"] != DISTRICT_CODE)
                    for g, rows in latest.items()},
        regions=[(c, names[c]) for c in codes], comparisons=comparisons,
        any_no_answer=any(is_no_answer(r) for r in ind.rows),
        extra_notes=[NOTE_POSITION, NOTE_STATUS] + _row_notes(ind.rows),
        files=list(zip(("Excel (XLSX)", "CSV aktueller Stand", "CSV Zeitreihe"), files)),
        definition_items=_definition_items(ind, fld))


def _definition_items(ind: Indicator, fld: catalogue.Field) -> list[tuple[str, str]]:
    return [("Kennung", ind.id), ("Bezeichnung", ind.name), ("Handlungsfeld", fld.name),
            ("Einheit", ind.u.label),
            ("Periodizität", PERIODICITY_LABELS.get(ind.periodicity, ind.periodicity)),
            ("Gruppen", ", ".join(group_label(g) for g in ind.groups) or SYM_NA),
            ("Definition", ind.definition), ("Datenquelle", ind.source), ("Hinweise", ind.caveats or SYM_NA),
            ("Verfügbare Zeiträume", f"{period_long(ind.periods[0])} bis {period_long(ind.periods[-1])}"
             if ind.periods else SYM_NA)]


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
        arr[pidx[r["period"]]] = shown(r) if shown(r) in (SUPPRESSED, NO_ANSWER) else v
    targets = {}
    for g in ind.groups:
        d = _district_row(ind, g)
        if d and d["target_value"] is not None:
            targets[g] = {"value": d["target_value"], "direction": d["target_direction"],
                          "year": d["target_year"], "example": bool(d["target_is_example"])}
    u = ind.u
    return {
        "id": ind.id, "name": ind.name, "unit": ind.unit, "dec": ind.dec, "kind": ind.kind,
        "suffix": u.suffix, "axis": u.axis, "rate": u.is_rate,
        "district": DISTRICT_CODE, "periods": ind.periods,
        "plabels": [period_long(p) for p in ind.periods], "pshort": [period_short(p) for p in ind.periods],
        "regions": [[c, regions[c]] for c in codes],
        "groups": [[g, group_label(g)] for g in ind.groups],
        "series": series, "targets": targets,
    }


# ----------------------------------------------------------------------------- field pages

@dataclass
class FieldCard:
    """An indicator of a field page: its main group's district row of the latest period."""
    ind: Indicator
    group: str | None
    row: dict | None

    @property
    def u(self) -> Unit:
        return self.ind.u

    @property
    def change(self):
        return self.row["change_year_before"] if self.row else None

    @property
    def change_label(self) -> str:
        return comparison_labels(self.ind.kind)[1] or "ggü. Vorjahr"


def render_field(site: Site, fld: catalogue.Field, inds: list[Indicator], regions: list[tuple[str, str]]) -> None:
    # the matrix has a row per region of the report (those without values in this field left out)
    names = [f"handlungsfeld_{fld.slug}.xlsx", f"handlungsfeld_{fld.slug}.csv"]  # a shown field has values
    plan = site.plan(f"{fld.slug}.html", (fld, [i.data for i in inds], regions), names)
    if plan.keep:
        return
    cards = [FieldCard(ind, ind.main_group, _district_row(ind, ind.main_group)) for ind in inds]
    inds = [ind for ind in inds if ind.rows]  # the matrix and downloads: indicators with values
    # Matrix: regions x indicators (main group, latest period), value and change on a year before.
    latest = {ind.id: {r["region_code"]: r for r in ind.latest_rows(ind.main_group)} if ind.main_group else {}
              for ind in inds}
    matrix, csv_rows, shown_rows = [], [], []
    for code, rname in regions:
        cells = [(ind.u, latest[ind.id].get(code)) for ind in inds]
        if not any(r is not None for _, r in cells):
            continue
        matrix.append((code, rname, cells))
        for ind in inds:
            r = latest[ind.id].get(code)
            if r is not None:
                shown_rows.append(r)
                csv_rows.append([code, rname, ind.id, ind.name, group_label(ind.main_group), period_long(ind.latest),
                                 ind.u.label, Cell(shown(r), f"n{ind.dec}"),
                                 Cell(r["change_year_before"], f"s{ind.dec}"), r["diff_to_district"],
                                 r["position"], r["status"]])

    # One long table for counts and rates: value and change carry their own format (Cell).
    table = Table(f"Handlungsfeld {fld.name}",
                  ["Regionalschlüssel", "Gebiet", "Indikator", "Bezeichnung", "Gruppe", "Zeitraum", "Einheit",
                   "Wert", "ggü. Vorjahr", "Abweichung vom Kreiswert", "Lage zum Kreiswert", "Zielstatus"],
                  ["text"] * 7 + ["n1", "s1", "s1", "text", "text"], csv_rows)
    if inds:
        site.download(names[1], write_csv, table)
        site.download(names[0], write_xlsx, [table],
                   [f"Handlungsfeld {fld.name} – Integrationsmonitor Landkreis Esslingen", NOTE_SUPPRESSED, NOTE_NA,
                    NOTE_PP, NOTE_UNIT, NOTE_POSITION, NOTE_STATUS] + _row_notes(shown_rows))
    site.page("field.html", f"{fld.slug}.html", fld.name, f"{fld.slug}.html", plan=plan,
              field=fld, inds=inds, cards=cards, columns=[c for c in cards if c.ind.rows], matrix=matrix,
              matrix_notes=[NOTE_POSITION] + _row_notes(shown_rows),
              files=[("Excel (XLSX)", names[0]), ("CSV", names[1])])


# ----------------------------------------------------------------------------- overview

def render_index(site: Site, fields: list[tuple[catalogue.Field, list[Indicator]]], n_regions: int,
                 pending: list[catalogue.Field]) -> None:
    all_inds = [i for _, inds in fields for i in inds]
    latest_month = max((i.latest for i in all_inds if i.latest and period_kind(i.latest) == "monat"), default=None)
    # Targets at district level (latest period of each indicator/group with a district target)
    targets, t_table = [], []
    for fld, inds in fields:
        for ind in inds:
            for g in ind.groups:
                d = _district_row(ind, g)
                if d is None or d["target_value"] is None:
                    continue
                targets.append((ind, ind.u, fld, g, d))
                t_table.append([fld.name, ind.id, ind.name, group_label(g), period_long(d["period"]),
                                ind.u.label, Cell(shown(d), f"n{ind.dec}"),
                                target_text(d, ind.u), Cell(d["distance_to_target"], f"s{ind.dec}"),
                                Cell(d["change_year_before"], f"s{ind.dec}"), d["status"], d["status_reason"],
                                d["target_source"], "ja" if d["target_is_example"] else "nein"])
    if targets:
        table = Table("Zielerreichung", ["Handlungsfeld", "Indikator", "Bezeichnung", "Gruppe", "Zeitraum", "Einheit",
                                         "Wert", "Ziel", "Abstand zum Ziel", "ggü. Vorjahr", "Status", "Begründung",
                                         "Quelle des Ziels", "Beispielwert"],
                      ["text"] * 6 + ["n1", "text", "s1", "s1", "text", "text", "text", "text"], t_table)
        site.download("zielerreichung.csv", write_csv, table)
        site.download("zielerreichung.xlsx", write_xlsx, [table],
                   ["Zielerreichung auf Kreisebene – Integrationsmonitor Landkreis Esslingen", NOTE_SUPPRESSED,
                    NOTE_NA, NOTE_PP, NOTE_UNIT, NOTE_STATUS])
    field_rows = [(fld, [(ind, ind.u, ind.main_group, _district_row(ind, ind.main_group)) for ind in inds])
                  for fld, inds in fields]
    n = len(fields)
    site.page(
        "overview.html", "index.html", "Überblick", "index.html",
        n_fields_word=NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n), latest_month=latest_month,
        n_inds=len(all_inds), n_regions=n_regions, targets=targets,
        has_example=any(d["target_is_example"] for *_, d in targets),
        target_files=[("Excel (XLSX)", "zielerreichung.xlsx"), ("CSV", "zielerreichung.csv")],
        fields=field_rows, pending=pending, lesehilfe_notes=[NOTE_POSITION, NOTE_STATUS])


# ----------------------------------------------------------------------------- build

REPORT_HTML_PREFIXES = ("indikator-",)


def _field_of(ind: Indicator, by_key: dict[str, catalogue.Field]) -> catalogue.Field:
    # The published catalogue names the field by its display name (a slug is accepted too).
    return by_key.get(ind.field) or by_key.get(ind.field.lower()) or OTHER_FIELD


def arrange(inds: list[Indicator]) -> tuple[list[tuple[catalogue.Field, list[Indicator]]], list[catalogue.Field]]:
    """The fields to show, in the catalogue's order, each with its published indicators; and the
    catalogue's fields left out because none of their indicators has a published value yet."""
    cat_fields = list(catalogue.load().fields)
    by_key = {f.name: f for f in cat_fields} | {f.slug: f for f in cat_fields}
    members: dict[str, list[Indicator]] = {}
    for ind in inds:
        members.setdefault(_field_of(ind, by_key).slug, []).append(ind)
    shown_fields, pending = [], []
    for f in cat_fields + [OTHER_FIELD]:
        f_inds = members.get(f.slug, [])
        if any(i.rows for i in f_inds):
            shown_fields.append((f, f_inds))
        elif f is not OTHER_FIELD:
            pending.append(f)
    return shown_fields, pending


def write_report(db_path: Path, out_dir: Path, targets_file: Path = TARGETS_FILE,
                 now: datetime | None = None) -> Path:
    """Build the report from a published DuckDB file into out_dir; returns out_dir/index.html."""
    return prepare_report(db_path, out_dir, targets_file, now).swap_in()


@dataclass
class PreparedReport:
    """Rendered pages in a staging folder beside out_dir, not yet visible (see prepare_report)."""

    staging: Path
    out_dir: Path
    site: Site

    def swap_in(self) -> Path:
        try:
            # A file moved in while the manifest still describes its predecessor does not match the
            # hash recorded for it, so a refresh killed in between renders it anew next time.
            _swap_in(self.staging, self.out_dir, self.site.kept)
            self.site.write_manifest(self.out_dir)
        finally:
            self.discard()
        return self.out_dir / "index.html"

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def prepare_report(db_path: Path, out_dir: Path, targets_file: Path = TARGETS_FILE,
                   now: datetime | None = None) -> PreparedReport:
    """Render the report of a published DuckDB file (also one staged but not yet published) into a
    staging folder beside out_dir; `swap_in()` then moves it into out_dir.

    Only the pages and downloads whose inputs changed are made (`Site`); the others are kept as
    they are. New files are moved in file by file, so a reader never sees a half-written page;
    files of an earlier report that are no longer produced (an indicator dropped from the
    catalogue) are removed. The manifest goes last. Other files in out_dir are left alone."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = _open(Path(db_path), Path(targets_file))
    try:
        inds = _load(con)
        published = _published_at(con)
    finally:
        con.close()
    now = now or datetime.now()
    staging = out_dir / f".bericht-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        fields, pending = arrange(inds)
        docs = [(href, label) for href, label in DOC_LINKS if (out_dir / href).is_file()]
        site = Site(staging, published, now.strftime("%d.%m.%Y, %H:%M Uhr"), [f for f, _ in fields], docs,
                    previous=out_dir)
        regions = _regions(inds)
        for fld, f_inds in fields:
            for ind in f_inds:
                render_indicator(site, ind, fld)
            render_field(site, fld, f_inds, regions)
        render_index(site, fields, len(regions), pending)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PreparedReport(staging, out_dir, site)


def _swap_in(staging: Path, out_dir: Path, kept: set[str]) -> None:
    new_files = {p.relative_to(staging) for p in staging.rglob("*") if p.is_file()}
    current = new_files | {Path(k) for k in kept}
    (out_dir / "downloads").mkdir(exist_ok=True)
    # downloads first, pages last: a page never links to a file that is not there yet
    for rel in sorted(new_files, key=lambda r: (r.suffix == ".html", r.name == "index.html", str(r))):
        os.replace(staging / rel, out_dir / rel)
    for p in (out_dir / "downloads").iterdir():
        if p.is_file() and p.relative_to(out_dir) not in current:
            p.unlink()
    field_pages = {f.slug for f in catalogue.load().fields} | {OTHER_FIELD.slug}
    for p in out_dir.glob("*.html"):
        if p.relative_to(out_dir) not in current and (
                p.name.startswith(REPORT_HTML_PREFIXES) or p.stem in field_pages):
            p.unlink()


def build_report(settings) -> Path:
    """Write the static HTML report of the published warehouse to settings.reports_dir; returns index.html."""
    return write_report(settings.published_db, settings.reports_dir)
