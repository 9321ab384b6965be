"""Fault injector: from a clean extract, a broken copy for one gate rule.

Tests build a broken-delivery corpus with it: every entry of `FAULTS` takes a clean
file (as written by sources/generator.py) and writes a copy under the same file
name (so it is recognised as the same file type) that breaks exactly one rule, and
says where the gate must find it:

    fault = FAULTS["R6.cross_field:jobcenter"]
    expected = fault.apply(clean_path, broken_dir / clean_path.name)
    # expected.rule == "R6.cross_field", expected.line == 412, expected.column == "arbeitslos"

`Expected.line` is the first offending line as a text editor counts it (header =
line 1), for XLSX the sheet row (header = row 1); None for findings about the whole
file or a column (R1.format, R1.sheet, R2.missing_column, R7, R8, X.municipality_missing,
X.school_truncated, X.kita_truncated). `Expected.column` is the lowercase contract column name where
the rule is about one column, else None (also for R1.encoding: the check is per line).

Conventions worth knowing:
- R4.duplicate_key: the stated line is the *first* occurrence of the duplicated key (an
  unchanged row about a third into the file); its copy comes further down. The gate lists
  every line of a duplicated key, in order.
- R8.volume, X.municipality_missing, X.school_truncated only show against the previous
  period, which the gate must have seen first (`Fault.needs_previous`).
- X.future_date needs a file whose month is the current one: a date consistent with
  the file name can only be in the future then (a past month would also break R5, a
  later einreisedatum breaks R6). It applies to `abh_einbuergerungen` of the current
  month (not on its last day): the other rows are moved to today or earlier, one row
  gets the month's last day. Otherwise `apply` raises FaultNotApplicable.
- Faults that edit a data row raise FaultNotApplicable on a header-only file.
- Each broken file breaks only its own rule, with two exceptions: the R8.volume cut of a
  stock file may also lose municipalities (X.municipality_missing), and a repeated row of
  the engagement survey (R4.duplicate_key) is also a repeated municipality (R7.municipalities).
- A file type with several cross-field or range rules has one fault per rule, keyed
  `<rule>:<file_type>:<variant>` (e.g. `R6.cross_field:esu:u8`).
- `pick_source(clean_dir, fault)` finds a suitable clean file in an inbox-layout corpus.
"""

from __future__ import annotations

import calendar
import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sources.contracts import Contract, load_contracts

ALL_TYPES = ("jobcenter", "abh_bestand", "abh_einbuergerungen", "schulstatistik", "schulabgaenger",
             "unterbringung", "bevoelkerung", "esu", "kita", "hilfe_zur_pflege", "engagement")
CSV_TYPES = tuple(t for t in ALL_TYPES if t != "unterbringung")
STOCK_TYPES = ("jobcenter", "abh_bestand", "unterbringung", "bevoelkerung", "esu", "hilfe_zur_pflege")

_SENTINEL = "\x00BAD\x00"  # stands for raw bytes that the encoder must not see


class FaultNotApplicable(ValueError):
    """The source file cannot carry this fault (e.g. no data rows, month not current)."""


@dataclass(frozen=True)
class Expected:
    rule: str
    line: int | None
    column: str | None


@dataclass(frozen=True)
class Fault:
    key: str                      # "<rule>:<file_type>", plus ":<variant>" where a type has several of a rule
    rule: str
    file_types: tuple[str, ...]
    description: str
    needs_previous: bool
    _func: Callable[["_Ctx"], Expected] = field(repr=False, compare=False)

    def apply(self, src: Path, dst: Path) -> Expected:
        """Write the broken copy of `src` to `dst` (same file name) and return where the fault is."""
        src, dst = Path(src), Path(dst)
        if src.name != dst.name:
            raise ValueError(f"dst muss denselben Dateinamen haben wie src ({src.name}), nicht {dst.name}")
        contract, period = _identify(src)
        if contract.file_type not in self.file_types:
            raise ValueError(f"{self.key} gilt nicht für {contract.file_type} ({src.name})")
        if src.resolve() == dst.resolve():
            raise ValueError("dst darf nicht src sein")
        dst.parent.mkdir(parents=True, exist_ok=True)
        return self._func(_Ctx(src, dst, contract, period, self.rule))


def _identify(path: Path) -> tuple[Contract, str]:
    for c in load_contracts().values():
        period = c.match(path.name)
        if period is not None:
            return c, period
    raise ValueError(f"{path.name}: kein bekannter Dateityp")


# ----------------------------------------------------------------------------- periods


def _prev_month(period: str) -> str:
    y, m = int(period[:4]), int(period[5:7])
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


def _month_end(period: str) -> dt.date:
    y, m = int(period[:4]), int(period[5:7])
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def _de(d: dt.date) -> str:
    return d.strftime("%d.%m.%Y")


def _parse_de(s: str) -> dt.date:
    return dt.datetime.strptime(s, "%d.%m.%Y").date()


def _school_year(y: int) -> str:
    return f"{y}/{(y + 1) % 100:02d}"


def _year(period: str) -> int:
    return int(period[:4])


# ----------------------------------------------------------------------------- tables


class _Csv:
    """A CSV extract as lines of text, edited cell by cell; untouched lines keep their bytes."""

    def __init__(self, path: Path, contract: Contract):
        raw = path.read_bytes()
        self.bom = raw.startswith(codecs.BOM_UTF8)
        self.encoding = "cp1252" if contract.encoding == "cp1252" else "utf-8"
        text = raw[3 if self.bom else 0:].decode(self.encoding)
        self.eol = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(self.eol)
        self.trailing_eol = lines[-1] == ""
        self.lines = lines[:-1] if self.trailing_eol else lines
        self.columns = [h.strip().lower() for h in self._split(self.lines[0])]
        self.raw: dict[str, bytes] = {}

    @staticmethod
    def _split(line: str) -> list[str]:
        return next(csv.reader([line], delimiter=";"))

    @staticmethod
    def _join(fields: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, delimiter=";", lineterminator="").writerow(fields)
        return buf.getvalue()

    @property
    def n_rows(self) -> int:
        return len(self.lines) - 1

    def line(self, i: int) -> int:
        return i + 2

    def get(self, i: int, col: str) -> str:
        return self._split(self.lines[i + 1])[self.columns.index(col)]

    def set(self, i: int, col: str, value: Any) -> None:
        fields = self._split(self.lines[i + 1])
        fields[self.columns.index(col)] = str(value)
        self.lines[i + 1] = self._join(fields)

    def set_raw(self, i: int, col: str, data: bytes) -> None:
        """Put raw bytes into a cell (for encoding faults)."""
        self.set(i, col, _SENTINEL)
        self.raw[_SENTINEL] = data

    def insert_copy(self, src_i: int, at_i: int) -> None:
        self.lines.insert(at_i + 1, self.lines[src_i + 1])

    def drop_column(self, col: str) -> None:
        j = self.columns.index(col)
        for k, line in enumerate(self.lines):
            f = self._split(line)
            del f[j]
            self.lines[k] = self._join(f)
        del self.columns[j]

    def keep_rows(self, keep: list[int]) -> None:
        self.lines = [self.lines[0]] + [self.lines[i + 1] for i in keep]

    def write(self, dst: Path) -> None:
        text = self.eol.join(self.lines) + (self.eol if self.trailing_eol else "")
        data = (codecs.BOM_UTF8 if self.bom else b"") + text.encode(self.encoding)
        for sentinel, raw in self.raw.items():
            data = data.replace(sentinel.encode("ascii"), raw)
        dst.write_bytes(data)


class _Xlsx:
    """The sheet Belegung via openpyxl; row i of the data is sheet row i + 2."""

    def __init__(self, path: Path, contract: Contract):
        import openpyxl

        self.wb = openpyxl.load_workbook(path)
        self.ws = self.wb[contract.sheet]
        self.columns = [str(c.value).strip().lower() if c.value is not None else "" for c in self.ws[1]]
        self.n = self.ws.max_row - 1

    @property
    def n_rows(self) -> int:
        return self.n

    def line(self, i: int) -> int:
        return i + 2

    def _cell(self, i: int, col: str):
        return self.ws.cell(row=i + 2, column=self.columns.index(col) + 1)

    def get(self, i: int, col: str) -> Any:
        return self._cell(i, col).value

    def set(self, i: int, col: str, value: Any) -> None:
        self._cell(i, col).value = value

    def drop_column(self, col: str) -> None:
        j = self.columns.index(col)
        self.ws.delete_cols(j + 1)
        del self.columns[j]

    def keep_rows(self, keep: list[int]) -> None:
        if keep != list(range(len(keep))):
            raise NotImplementedError("only a prefix of rows can be kept")
        if self.n > len(keep):
            self.ws.delete_rows(len(keep) + 2, self.n - len(keep))
        self.n = len(keep)

    def write(self, dst: Path) -> None:
        self.wb.save(dst)


@dataclass
class _Ctx:
    src: Path
    dst: Path
    contract: Contract
    period: str
    rule: str

    def table(self) -> _Csv | _Xlsx:
        return _Xlsx(self.src, self.contract) if self.contract.format == "xlsx" else _Csv(self.src, self.contract)


def _pick(t, pred: Callable[[Any, int], bool] | None = None) -> int:
    """A data row about a third into the file (so line numbers are not trivially 2)."""
    n = t.n_rows
    if n == 0:
        raise FaultNotApplicable("Die Datei hat keine Datenzeilen.")
    start = n // 3
    for i in list(range(start, n)) + list(range(start)):
        if pred is None or pred(t, i):
            return i
    raise FaultNotApplicable("Keine Datenzeile erfüllt die Voraussetzung dieses Fehlers.")


# ----------------------------------------------------------------------------- fault kinds


def _cell_fault(col: str, value: Callable[["_Ctx", Any, int], Any] | Any,
                pred: Callable[[Any, int], bool] | None = None):
    """Change one cell of one row."""
    def run(ctx: _Ctx) -> Expected:
        t = ctx.table()
        i = _pick(t, pred)
        t.set(i, col, value(ctx, t, i) if callable(value) else value)
        t.write(ctx.dst)
        return Expected(ctx.rule, t.line(i), col)
    return run


def _encoding_fault(col: str, bad: Callable[[str], bytes]):
    def run(ctx: _Ctx) -> Expected:
        t = ctx.table()
        i = _pick(t)
        t.set_raw(i, col, bad(t.get(i, col)))
        t.write(ctx.dst)
        return Expected(ctx.rule, t.line(i), None)
    return run


def _garbage(ctx: _Ctx) -> Expected:
    if ctx.contract.format == "xlsx":
        # A ZIP archive, but no workbook in it (someone zipped the CSV export).
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo("Belegung.csv", date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, "Stichtag;Einrichtung_ID\n31.01.2024;VU-0001\n")
        ctx.dst.write_bytes(buf.getvalue())
    else:
        # Binary, but every byte is ASCII: it decodes in any encoding, so it is R1.format, not R1.encoding.
        blob = bytes(range(0, 32)) * 4 + b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00" + bytes(64)
        ctx.dst.write_bytes(blob)
    return Expected(ctx.rule, None, None)


def _no_sheet(ctx: _Ctx) -> Expected:
    t = _Xlsx(ctx.src, ctx.contract)
    t.ws.title = "Tabelle1"
    t.write(ctx.dst)
    return Expected(ctx.rule, None, None)


def _drop_column(col: str):
    def run(ctx: _Ctx) -> Expected:
        t = ctx.table()
        t.drop_column(col)
        t.write(ctx.dst)
        return Expected(ctx.rule, None, col)
    return run


def _duplicate(ctx: _Ctx) -> Expected:
    """The key of the row about a third into the file occurs again further down.

    The expected line is the first occurrence (the gate lists every line of a duplicated key,
    first one first); the later copy is where the file differs from the clean one."""
    t = ctx.table()
    n = t.n_rows
    if n == 0:
        raise FaultNotApplicable("Die Datei hat keine Datenzeilen.")
    key = ctx.contract.key
    col = key[0] if len(key) == 1 else None
    i = n // 3
    if isinstance(t, _Xlsx):
        if n < 2:
            raise FaultNotApplicable("Zu wenige Zeilen für einen doppelten Schlüssel.")
        i = min(i, n - 2)
        j = i + 1 + (n - i - 2) // 2
        t.set(j, "einrichtung_id", t.get(i, "einrichtung_id"))
    else:
        t.insert_copy(i, min(n, i + 1 + n // 3))
    t.write(ctx.dst)
    return Expected(ctx.rule, t.line(i), col)


def _header_only(ctx: _Ctx) -> Expected:
    t = ctx.table()
    t.keep_rows([])
    t.write(ctx.dst)
    return Expected(ctx.rule, None, None)


def _truncate(ctx: _Ctx) -> Expected:
    t = ctx.table()
    if t.n_rows < 4:
        raise FaultNotApplicable("Zu wenige Zeilen, um eine Kürzung um mehr als 30 % zu zeigen.")
    t.keep_rows(list(range(int(t.n_rows * 0.45))))
    t.write(ctx.dst)
    return Expected(ctx.rule, None, None)


def _drop_municipality(ctx: _Ctx) -> Expected:
    """Remove every row of one municipality: the largest one with under 10 % of the rows,
    so the file shrinks visibly for that municipality but far less than the 30 % volume rule."""
    t = ctx.table()
    ags = [t.get(i, "ags") for i in range(t.n_rows)]
    counts: dict[str, int] = {}
    for a in ags:
        counts[a] = counts.get(a, 0) + 1
    if ctx.contract.file_type == "bevoelkerung":  # dense: pick the most populous municipality
        pop: dict[str, int] = {}
        for i, a in enumerate(ags):
            pop[a] = pop.get(a, 0) + int(t.get(i, "anzahl"))
        victim = max(pop, key=lambda a: (pop[a], a))
    else:
        small = {a: n for a, n in counts.items() if n < 0.10 * t.n_rows}
        if not small:
            raise FaultNotApplicable("Keine Gemeinde mit unter 10 % der Zeilen.")
        victim = max(small, key=lambda a: (small[a], a))
    t.keep_rows([i for i, a in enumerate(ags) if a != victim])
    t.write(ctx.dst)
    return Expected(ctx.rule, None, "ags")


def _drop_survey_row(ctx: _Ctx) -> Expected:
    """One municipality did not send its answer: its row is missing from the survey."""
    t = ctx.table()
    i = _pick(t)
    t.keep_rows([k for k in range(t.n_rows) if k != i])
    t.write(ctx.dst)
    return Expected(ctx.rule, None, "ags")


def _truncate_school(ctx: _Ctx) -> Expected:
    """The upload broke off: only the first quarter of the rows arrived."""
    t = ctx.table()
    if t.n_rows < 8:
        raise FaultNotApplicable("Zu wenige Zeilen für eine erkennbare Kürzung.")
    t.keep_rows(list(range(t.n_rows // 4)))
    t.write(ctx.dst)
    return Expected(ctx.rule, None, None)


def _future_date(ctx: _Ctx) -> Expected:
    today = dt.date.today()
    end = _month_end(ctx.period)
    start = end.replace(day=1)
    if not (start <= today < end):
        raise FaultNotApplicable(
            f"X.future_date braucht die Datei des laufenden Monats (nicht am Monatsletzten); "
            f"{ctx.src.name} liegt {'vor' if end <= today else 'nach'} dem heutigen {_de(today)}.")
    t = ctx.table()
    i = _pick(t)
    col = "einbuergerungsdatum"
    for k in range(t.n_rows):  # every other row: today at the latest
        if _parse_de(t.get(k, col)) > today:
            t.set(k, col, _de(today))
    t.set(i, col, _de(end))
    t.write(ctx.dst)
    return Expected(ctx.rule, t.line(i), col)


# ----------------------------------------------------------------------------- value helpers


def _prev_month_end(ctx: _Ctx) -> dt.date:
    return _month_end(_prev_month(ctx.period))


def _date_like(ctx: _Ctx, t, i: int, col: str, d: dt.date):
    """A date in the same representation as the cell has (XLSX date cell or text)."""
    if isinstance(t, _Xlsx) and isinstance(t.get(i, col), (dt.date, dt.datetime)):
        return dt.datetime(d.year, d.month, d.day)
    return _de(d)


def _entered_before_previous_month_end(t, i: int) -> bool:
    """Rows whose einreisedatum is on or before the previous month's end, so that moving
    their stichtag back a month breaks R5 only (not R6 too)."""
    prev_end = _parse_de(t.get(i, "stichtag")).replace(day=1) - dt.timedelta(days=1)
    return _parse_de(t.get(i, "einreisedatum")) <= prev_end


# ----------------------------------------------------------------------------- the registry


def _build() -> dict[str, Fault]:
    specs: list[tuple[str, str, str, bool, Callable[[_Ctx], Expected]]] = []

    def add(rule: str, ft: str, desc: str, func, needs_previous: bool = False, variant: str | None = None):
        specs.append((rule, ft, desc, needs_previous, func, variant))

    # R1.encoding: bytes the declared encoding does not have.
    add("R1.encoding", "jobcenter", "Byte 0xE4 (ä in Windows-1252) in einer UTF-8-Datei",
        _encoding_fault("bg_id", lambda v: v.encode() + b"\xe4"))
    add("R1.encoding", "abh_bestand", "Byte 0x81 (in Windows-1252 nicht belegt)",
        _encoding_fault("person_id", lambda v: v.encode() + b"\x81"))
    add("R1.encoding", "abh_einbuergerungen", "Byte 0x8D (in Windows-1252 nicht belegt)",
        _encoding_fault("person_id", lambda v: v.encode() + b"\x8d"))
    add("R1.encoding", "schulstatistik", "Schulname in Windows-1252 statt UTF-8 (ö = 0xF6)",
        _encoding_fault("schulname", lambda v: "Grundschule Köngen".encode("cp1252")))
    add("R1.encoding", "schulabgaenger", "geschütztes Leerzeichen 0xA0 (Windows-1252) in einer Zahl",
        _encoding_fault("anzahl", lambda v: v.encode() + b"\xa0"))
    add("R1.encoding", "bevoelkerung", "geschütztes Leerzeichen 0xA0 (Windows-1252) in einer Zahl",
        _encoding_fault("anzahl", lambda v: b"\xa0" + v.encode()))
    add("R1.encoding", "esu", "Byte 0xE4 (ä in Windows-1252) in einer UTF-8-Datei",
        _encoding_fault("kind_id", lambda v: v.encode() + b"\xe4"))
    add("R1.encoding", "kita", "geschütztes Leerzeichen 0xA0 (Windows-1252) in einer Zahl",
        _encoding_fault("kinder", lambda v: v.encode() + b"\xa0"))
    add("R1.encoding", "hilfe_zur_pflege", "Byte 0x81 (in Windows-1252 nicht belegt)",
        _encoding_fault("person_id", lambda v: v.encode() + b"\x81"))
    add("R1.encoding", "engagement", "Gremium in Windows-1252 statt UTF-8 (ä = 0xE4)",
        _encoding_fault("integrationsgremium", lambda v: "Beir\u00e4t".encode("cp1252")))
    # R1.format / R1.sheet
    for ft in ALL_TYPES:
        add("R1.format", ft, "Binärdaten statt CSV" if ft != "unterbringung" else "ZIP-Archiv ohne Arbeitsmappe",
            _garbage)
    add("R1.sheet", "unterbringung", "Tabellenblatt heißt Tabelle1 statt Belegung", _no_sheet)
    # R2.missing_column
    for ft, col in {"jobcenter": "fluchtkontext", "abh_bestand": "einreisedatum", "abh_einbuergerungen": "ags",
                    "schulstatistik": "schulart", "schulabgaenger": "anzahl", "unterbringung": "auszuege_privat",
                    "bevoelkerung": "anzahl", "esu": "sprachbefund", "kita": "herkunft",
                    "hilfe_zur_pflege": "pflegegrad", "engagement": "integrationsgremium"}.items():
        add("R2.missing_column", ft, f"Spalte {col} fehlt", _drop_column(col))
    # R2.format: value of the wrong type or format.
    for ft, (col, val, desc) in {
        "jobcenter": ("geburtsjahr", "19x8", "Geburtsjahr mit Buchstabe"),
        "abh_bestand": ("einreisedatum", "31.02.2019", "Datum 31.02. gibt es nicht"),
        "abh_einbuergerungen": ("geburtsjahr", "unbekannt", "Text statt Jahr"),
        "schulstatistik": ("schueler", "12,5", "Dezimalzahl statt Anzahl"),
        "schulabgaenger": ("anzahl", "x", "Geheimhaltungszeichen x statt Zahl"),
        "unterbringung": ("plaetze", "ca. 50", "Text statt Zahl"),
        "bevoelkerung": ("anzahl", "12.5", "Dezimalzahl statt Anzahl"),
        "esu": ("untersuchungsdatum", lambda c, t, i: _parse_de(t.get(i, "untersuchungsdatum")).isoformat(),
                "Datum im ISO-Format JJJJ-MM-TT"),
        "kita": ("kinder", "5,0", "Dezimalzahl statt Anzahl"),
        "hilfe_zur_pflege": ("geburtsjahr", "1940er", "Jahrzehnt statt Geburtsjahr"),
        "engagement": ("ehrenamtliche", "ca. 20", "Schätzung statt Zahl"),
    }.items():
        add("R2.format", ft, desc, _cell_fault(col, val))
    # R2.range: a number of the right type outside its range.
    add("R2.range", "jobcenter", "Geburtsjahr nach dem Berichtsjahr",
        _cell_fault("geburtsjahr", lambda c, t, i: str(_year(c.period) + 1)))
    add("R2.range", "abh_bestand", "Geburtsjahr vor 1900", _cell_fault("geburtsjahr", "1899"))
    add("R2.range", "abh_einbuergerungen", "Geburtsjahr nach dem Berichtsjahr",
        _cell_fault("geburtsjahr", lambda c, t, i: str(_year(c.period) + 3)))
    add("R2.range", "schulstatistik", "negative Schülerzahl", _cell_fault("schueler", "-1"))
    add("R2.range", "schulabgaenger", "negative Anzahl", _cell_fault("anzahl", "-1"))
    add("R2.range", "unterbringung", "negative Auszüge", _cell_fault("auszuege_privat", -1))
    add("R2.range", "bevoelkerung", "negative Anzahl", _cell_fault("anzahl", "-1"))
    add("R2.range", "esu", "Geburtsjahr ein Jahr vor der Untersuchung (höchstens Jahr - 2)",
        _cell_fault("geburtsjahr", lambda c, t, i: str(_year(c.period) - 1)))
    add("R2.range", "esu", "73 Monate in der Kita (höchstens 72)", _cell_fault("kita_monate", "73",
        lambda t, i: t.get(i, "kita_monate") != ""), variant="kita_monate")
    add("R2.range", "kita", "negative Kinderzahl", _cell_fault("kinder", "-3"))
    add("R2.range", "hilfe_zur_pflege", "Pflegegrad 6 (1 bis 5)", _cell_fault("pflegegrad", "6"))
    add("R2.range", "engagement", "negative Zahl Ehrenamtlicher", _cell_fault("ehrenamtliche", "-4"))
    # R2.null: an empty required cell.
    for ft, col in {"jobcenter": "ags", "abh_bestand": "aufenthaltsstatus", "abh_einbuergerungen": "geschlecht",
                    "schulstatistik": "schulname", "schulabgaenger": "anzahl", "unterbringung": "einrichtung",
                    "bevoelkerung": "anzahl", "esu": "sprachbefund", "kita": "familiensprache",
                    "hilfe_zur_pflege": "leistungsort", "engagement": "integrationsgremium"}.items():
        add("R2.null", ft, f"leere Zelle in {col}", _cell_fault(col, None if ft == "unterbringung" else ""))
    # R3.code: a code outside its list.
    for ft, (col, val, desc) in {
        "jobcenter": ("staatsangehoerigkeit", "888", "Schlüssel 888 gibt es nicht"),
        "abh_bestand": ("aufenthaltsstatus", "BLAUE_KARTE", "Statuscode nicht in aufenthaltsstatus.csv"),
        "abh_einbuergerungen": ("bisherige_staatsangehoerigkeit", "000", "deutsch als bisherige Staatsangehörigkeit"),
        "schulstatistik": ("schulart", "HS", "alte Schulart Hauptschule"),
        "schulabgaenger": ("abschluss", "abitur", "Abschluss-Code nicht in der Liste"),
        "unterbringung": ("art", "GU", "Art GU statt VU/AU"),
        "bevoelkerung": ("geschlecht", "d", "Geschlecht d gibt es in der Bevölkerungsstatistik nicht"),
        "esu": ("familiensprache", "tuerkisch", "eine Sprache statt der drei Codes"),
        "kita": ("altersgruppe", "6_bis_unter_10", "Schulkinder im Hort gehören nicht dazu"),
        "hilfe_zur_pflege": ("staatsangehoerigkeit", "888", "Schlüssel 888 gibt es nicht"),
        "engagement": ("integrationsgremium", "beirat", "Gremium-Code nicht in der Liste"),
    }.items():
        add("R3.code", ft, desc, _cell_fault(col, val))
    # R4.duplicate_key
    for ft in ALL_TYPES:
        add("R4.duplicate_key", ft, "ein Schlüssel kommt weiter unten ein zweites Mal vor", _duplicate)
    # R5.period: one row of another period than the file name.
    add("R5.period", "jobcenter", "Berichtsmonat des Vormonats",
        _cell_fault("berichtsmonat", lambda c, t, i: _prev_month(c.period)))
    add("R5.period", "abh_bestand", "Stichtag des Vormonats",
        _cell_fault("stichtag", lambda c, t, i: _de(_prev_month_end(c)), _entered_before_previous_month_end))
    add("R5.period", "abh_einbuergerungen", "Einbürgerung im Vormonat",
        _cell_fault("einbuergerungsdatum", lambda c, t, i: _de(_prev_month_end(c))))
    add("R5.period", "schulstatistik", "Schuljahr des Vorjahres",
        _cell_fault("schuljahr", lambda c, t, i: _school_year(_year(c.period) - 1)))
    add("R5.period", "schulabgaenger", "Schuljahr des Vorjahres",
        _cell_fault("schuljahr", lambda c, t, i: _school_year(_year(c.period) - 1)))
    add("R5.period", "unterbringung", "Stichtag des Vormonats",
        _cell_fault("stichtag", lambda c, t, i: _date_like(c, t, i, "stichtag", _prev_month_end(c))))
    add("R5.period", "bevoelkerung", "Stichtag des Vorjahres",
        _cell_fault("stichtag", lambda c, t, i: f"31.12.{_year(c.period) - 1}"))
    add("R5.period", "esu", "Untersuchungsjahr des Vorjahres",
        _cell_fault("untersuchungsjahr", lambda c, t, i: _school_year(_year(c.period) - 1)))
    add("R5.period", "kita", "Stichtag 31.12. statt 01.03.",
        _cell_fault("stichtag", lambda c, t, i: f"31.12.{_year(c.period)}"))
    add("R5.period", "hilfe_zur_pflege", "Stichtag des Vorjahres",
        _cell_fault("stichtag", lambda c, t, i: f"31.12.{_year(c.period) - 1}"))
    add("R5.period", "engagement", "Jahr der Umfrage davor",
        _cell_fault("jahr", lambda c, t, i: str(_year(c.period) - 1)))
    # R6.cross_field
    add("R6.cross_field", "jobcenter", "arbeitslos = J bei elb = N",
        _cell_fault("arbeitslos", "J", lambda t, i: t.get(i, "elb") == "N"))
    add("R6.cross_field", "abh_bestand", "Einreisedatum nach dem Stichtag",
        _cell_fault("einreisedatum", lambda c, t, i: _de(_parse_de(t.get(i, "stichtag")) + dt.timedelta(days=1))))
    add("R6.cross_field", "unterbringung", "Belegt ist nicht die Summe der davon-Spalten",
        _cell_fault("belegt", lambda c, t, i: int(t.get(i, "belegt")) + 1))
    add("R6.cross_field", "esu", "Untersuchungsdatum am Tag vor dem Untersuchungsjahr (31.07.)",
        _cell_fault("untersuchungsdatum", lambda c, t, i: f"31.07.{_year(c.period)}"))
    add("R6.cross_field", "esu", "U8 leer, obwohl das Vorsorgeheft vorlag",
        _cell_fault("u8", "", lambda t, i: t.get(i, "vorsorgeheft") == "J"), variant="u8")
    add("R6.cross_field", "esu", "U8 eingetragen, obwohl kein Vorsorgeheft vorlag",
        _cell_fault("u8", "N", lambda t, i: t.get(i, "vorsorgeheft") == "N"), variant="u8_ohne_heft")
    add("R6.cross_field", "esu", "Masern-Impfungen leer, obwohl der Impfpass vorlag",
        _cell_fault("masern_impfungen", "", lambda t, i: t.get(i, "impfpass") == "J"), variant="masern")
    # R7.header_only (naturalisations may be header-only)
    for ft in ALL_TYPES:
        if ft != "abh_einbuergerungen":
            add("R7.header_only", ft, "nur die Kopfzeile", _header_only)
    # R7 for the engagement survey: exactly one row per municipality.
    add("R7.municipalities", "engagement", "die Antwort einer Gemeinde fehlt", _drop_survey_row)
    # R8.volume (stock files)
    for ft in STOCK_TYPES:
        add("R8.volume", ft, "nur 45 % der Zeilen (abgeschnitten)", _truncate, needs_previous=True)
    # X.*
    add("X.future_date", "abh_einbuergerungen", "Einbürgerungsdatum nach dem Prüftag (laufender Monat)",
        _future_date)
    for ft in ("jobcenter", "abh_bestand", "bevoelkerung"):
        add("X.municipality_missing", ft, "alle Zeilen einer Gemeinde fehlen", _drop_municipality,
            needs_previous=True)
    for ft in ("schulstatistik", "schulabgaenger"):
        add("X.school_truncated", ft, "nur das erste Viertel der Zeilen (Upload abgebrochen)", _truncate_school,
            needs_previous=True)
    add("X.kita_truncated", "kita", "nur das erste Viertel der Zeilen (Upload abgebrochen)", _truncate_school,
        needs_previous=True)

    out = {}
    for rule, ft, desc, prev, func, variant in specs:
        key = f"{rule}:{ft}" + (f":{variant}" if variant else "")
        assert key not in out, key
        out[key] = Fault(key, rule, (ft,), desc, prev, func)
    return out


FAULTS: dict[str, Fault] = _build()
RULES: tuple[str, ...] = tuple(dict.fromkeys(f.rule for f in FAULTS.values()))


def faults_for(file_type: str) -> list[Fault]:
    return [f for f in FAULTS.values() if file_type in f.file_types]


def _data_rows(path: Path, contract: Contract) -> int:
    if contract.format == "xlsx":
        return _Xlsx(path, contract).n_rows
    return _Csv(path, contract).n_rows


def pick_source(clean_dir: Path, fault: Fault, today: dt.date | None = None) -> Path | None:
    """A clean file in an inbox-layout directory that this fault can be applied to.

    The latest period with data rows; for `needs_previous` faults one that has a
    previous period in the directory; for X.future_date the current month's file.
    None if there is no such file."""
    today = today or dt.date.today()
    contract = load_contracts()[fault.file_types[0]]
    files = sorted((p for p in (Path(clean_dir) / contract.provider).glob("*") if contract.match(p.name)),
                   key=lambda p: contract.match(p.name))
    for k in range(len(files) - 1, -1, -1):
        p = files[k]
        period = contract.match(p.name)
        if fault.needs_previous and k == 0:
            continue
        if fault.rule == "X.future_date":
            end = _month_end(period)
            if not (end.replace(day=1) <= today < end):
                continue
        if fault.rule not in ("R1.format", "R1.sheet", "R2.missing_column") and _data_rows(p, contract) == 0:
            continue
        return p
    return None
