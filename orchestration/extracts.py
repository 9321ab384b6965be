"""Extract files (CSV / XLSX) -> typed Arrow tables, per sources/contracts.yml.

Parse and type first, validate later (orchestration/gate/): this module only finds what
stops a file from being read or a value from being typed (sources.md rules 1 and 2:
R1.encoding, R1.format, R1.sheet, R2.missing_column, R2.format, W.unknown_column).

CSV text is decoded in Python (strictly, so the first bad byte is located), then read by
Arrow's CSV reader from memory with every column as text; typing is vectorised Arrow
compute (RE2 patterns, casts, date arithmetic in numpy), no Python loop over rows. XLSX is
read with python-calamine, cells turned into the same text form, and typed by the same
functions, so both formats obey identical rules.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from orchestration.findings import MAX_SAMPLES, Finding
from orchestration.settings import pause_point
from sources.contracts import Column, Contract

# Contract type -> Arrow type of the typed value (the DuckDB type of raw.<file_type> is
# warehouse.DUCKDB_TYPES, which these must match: a typed table is inserted there as it is).
_ARROW_TYPES = {
    "month": pa.string(),
    "school_year": pa.string(),
    "text": pa.string(),
    "code": pa.string(),
    "ags": pa.string(),
    "pseudonym": pa.string(),
    "date": pa.date32(),
    "int": pa.int32(),
    "count": pa.int32(),
    "flag": pa.bool_(),
}

# What the data steward is told a value should look like (R2.format).
FORMAT_HINTS = {
    "month": "JJJJ-MM, z. B. 2024-01",
    "school_year": "JJJJ/JJ mit JJ = Folgejahr, z. B. 2024/25",
    "date": "TT.MM.JJJJ, ein existierendes Datum",
    "int": "ganze Zahl",
    "count": "ganze Zahl",
    "flag": "J oder N",
    "ags": "8 Ziffern (amtlicher Gemeindeschlüssel)",
    "pseudonym": "1 bis 64 Zeichen",
}

# Bounds on what a file may be or claim, checked before it is read into memory (warehouse.md,
# "Hostile or broken files"). Far above any real delivery: the district's largest monthly file
# (abh_bestand) is ~9 MB and ~60k rows, unterbringung a few hundred rows of 12 columns.
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 200  # header columns (contracts have <= 14; extra columns are only a warning)
MAX_FIELD_CHARS = 131_072  # the csv module's field limit: the longest cell a CSV may hold
XLSX_MAX_ROWS = 200_000
XLSX_MAX_CELLS = 4_000_000  # rows x columns of the sheet's range: what the reader allocates
XLSX_MAX_ENTRIES = 1_000  # parts in the ZIP archive (a workbook has a few dozen)
XLSX_MAX_UNPACKED = 128 * 1024 * 1024  # all parts together, uncompressed
XLSX_MAX_RATIO = 200  # uncompressed : compressed of a part over 1 MB (sheet XML: ~5-20)


class FileChanged(Exception):
    """The file changed while it was read (a provider still copying it): not loaded this time."""


@dataclass(frozen=True)
class FileSignature:
    """What identifies one state of a file on disk; equal before and after reading = read whole."""
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileSignature":
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


def signature(path: Path) -> FileSignature | None:
    try:
        return FileSignature.of(os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return None


def read_stable(path: Path, max_bytes: int | None = None) -> tuple[bytes | None, FileSignature]:
    """The bytes of a regular file, read once, and its signature; FileChanged if it changed
    meanwhile. (None, signature) if it is larger than `max_bytes` (not read at all).

    Never follows a symbolic link (O_NOFOLLOW) and never blocks on a FIFO (O_NONBLOCK, then
    only regular files are read), even if the inbox entry was swapped after the scan.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, OSError) as e:  # gone, or swapped for a link (ELOOP) since the scan
        raise FileChanged(f"{path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileChanged(f"{path} ist keine gewöhnliche Datei")
        before = FileSignature.of(st)
        if max_bytes is not None and st.st_size > max_bytes:
            return None, before
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
    finally:
        os.close(fd)
    pause_point(f"read:{Path(path).name}")  # test hook: a writer appends here
    if signature(path) != before or len(data) != before.size:
        raise FileChanged(f"{path} wurde während des Lesens verändert")
    return data, before


_BAD_CHAR = re.compile("[\udc80-\udcff]")
_ENCODING_LABEL = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM erlaubt)", "cp1252": "Windows-1252"}


@dataclass
class ParsedFile:
    path: Path
    contract: Contract
    period: str
    sha256: str
    table: pa.Table | None  # contract columns (typed, contract order) + `_line`
    raw_text: pa.Table | None  # same rows, same columns, as trimmed text (empty -> NULL)
    findings: list[Finding] = field(default_factory=list)
    row_count: int = 0
    data: bytes | None = None  # the bytes checksummed and parsed: the archive copy is written from them
    read_as: FileSignature | None = None  # the file as it was when read
    changed: bool = False  # changed while being read: not parsed, not loaded this time

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def typed_schema(contract: Contract) -> dict[str, str]:
    """DuckDB type per contract column (VARCHAR/DATE/INTEGER/BOOLEAN), in contract order.

    `_line` (INTEGER) is not included: it is parse metadata, not contract data.
    """
    from orchestration.warehouse import DUCKDB_TYPES

    return {c.name: DUCKDB_TYPES[c.type] for c in contract.columns}


def arrow_schema(contract: Contract) -> pa.Schema:
    return pa.schema([(c.name, _ARROW_TYPES[c.type]) for c in contract.columns] + [("_line", pa.int32())])


def format_hint(col: Column) -> str:
    if col.pattern == r"^\d{8}$":
        return "8 Ziffern"
    if col.pattern:
        return f"Muster {col.pattern}"
    return FORMAT_HINTS.get(col.type, col.type)


def parse_file(path: Path, contract: Contract, period: str) -> ParsedFile:
    """Read the file once; checksum, parse (and the archive copy, from `data`) use those bytes."""
    try:
        data, sig = read_stable(Path(path), MAX_FILE_BYTES)
    except FileChanged:
        return ParsedFile(Path(path), contract, period, "", None, None, [], 0, changed=True)
    if data is None:
        # Too large to read: checksum streamed, nothing held in memory.
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
        parsed = ParsedFile(Path(path), contract, period, sha.hexdigest(), None, None, [], 0, read_as=sig)
        parsed.findings.append(Finding(
            "R1.format", "error",
            f"Die Datei ist {sig.size / 2**20:,.0f} MB groß; angenommen werden höchstens "
            f"{MAX_FILE_BYTES // 2**20} MB (keine Lieferung dieser Art ist annähernd so groß).".replace(",", "."),
            None, 0, [], []))
        return parsed
    parsed = ParsedFile(Path(path), contract, period, hashlib.sha256(data).hexdigest(), None, None, [], 0,
                        data=data, read_as=sig)
    try:
        if contract.format == "xlsx":
            src = _read_xlsx(data, contract, parsed.findings)
        else:
            src = _read_csv(data, parsed.path, contract, parsed.findings)
    except MemoryError:
        parsed.findings.append(Finding("R1.format", "error", "Die Datei ist zu groß, um sie zu lesen.",
                                       None, 0, [], []))
        return parsed
    if src is None:
        return parsed
    header, raw, lines = src  # raw: Arrow table of text columns c0..cn; lines: np.int32 array
    mapping = _map_header(header, contract, parsed.findings, raw)
    if mapping is None:
        return parsed
    parsed.raw_text, parsed.table = _type_columns(raw, lines, mapping, contract)
    parsed.row_count = parsed.table.num_rows
    parsed.findings.extend(_format_findings(parsed.raw_text, parsed.table, contract))
    return parsed


# --------------------------------------------------------------------------- CSV


def _decode(data: bytes, encoding: str, findings: list[Finding]) -> str | None:
    """Strict decode; on failure one R1.encoding finding naming the lines with bad bytes."""
    label = _ENCODING_LABEL.get(encoding, encoding)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        findings.append(Finding("R1.encoding", "error",
                                f"Die Datei ist UTF-16-kodiert; vereinbart ist {label}.", None, 1, [1], []))
        return None
    codec, offset = encoding, 0
    if encoding.startswith("utf-8"):
        # A BOM is tolerated for every UTF-8 file (harmless, and Excel writes one).
        codec, offset = "utf-8", 3 if data.startswith(b"\xef\xbb\xbf") else 0
    elif data.startswith(b"\xef\xbb\xbf"):
        findings.append(Finding("R1.encoding", "error",
                                f"Die Datei ist UTF-8-kodiert (mit BOM); vereinbart ist {label}.",
                                None, 1, [1], ["EF BB BF"]))
        return None
    body = data[offset:]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        # surrogateescape turns each bad byte into one marker character: found by a C-level regex.
        marked = body.decode(codec, errors="surrogateescape")
        bad = [(m.start(), ord(m.group()) - 0xDC00) for m in _BAD_CHAR.finditer(marked)]
        newlines = [m.start() for m in re.finditer("\n", marked)]
        first_per_line: dict[int, tuple[int, int]] = {}  # line -> (column, byte) of its first bad byte
        for pos, byte in bad:
            line = bisect.bisect_left(newlines, pos) + 1
            if line not in first_per_line:
                first_per_line[line] = (pos - (newlines[line - 2] + 1 if line > 1 else 0) + 1, byte)
        lines = sorted(first_per_line)
        col, byte = first_per_line[lines[0]]
        findings.append(Finding(
            "R1.encoding", "error",
            f"Die Datei enthält Bytes, die in der vereinbarten Zeichenkodierung {label} nicht vorkommen "
            f"dürfen; das erste ungültige Byte 0x{byte:02X} steht in Zeile {lines[0]}, Spalte {col} "
            f"(Zeichenposition in der Zeile).",
            None, len(lines), lines[:MAX_SAMPLES],
            [f"Byte 0x{first_per_line[ln][1]:02X} in Spalte {first_per_line[ln][0]}" for ln in lines[:MAX_SAMPLES]],
        ))
        return None
    if encoding == "cp1252" and not text.isascii():
        # Valid UTF-8 with non-ASCII characters decodes "fine" as cp1252, into mojibake.
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            first = next(i for i, ch in enumerate(text) if ord(ch) > 127)
            line = text.count("\n", 0, first) + 1
            findings.append(Finding(
                "R1.encoding", "error",
                f"Die Datei ist offenbar UTF-8-kodiert (Umlaute als Mehrbyte-Folgen, erste in Zeile {line}); "
                f"vereinbart ist {label}.", None, 1, [line], []))
            return None
    return text


def _looks_binary(data: bytes) -> str | None:
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16: reported as an encoding problem
    if head.startswith(b"PK\x03\x04"):
        return "Die Datei ist ein ZIP-/Excel-Archiv, keine CSV-Textdatei."
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "Die Datei ist eine alte Excel-/Office-Datei (.xls), keine CSV-Textdatei."
    if head.startswith(b"%PDF"):
        return "Die Datei ist ein PDF, keine CSV-Textdatei."
    if b"\x00" in head:
        return "Die Datei enthält Binärdaten (Null-Bytes), keine CSV-Textdatei."
    return None


def _read_csv(data: bytes, path: Path, contract: Contract, findings: list[Finding]):
    if not data.strip():
        findings.append(Finding("R1.format", "error", "Die Datei ist leer (nicht einmal eine Kopfzeile).",
                                None, 0, [], []))
        return None
    if msg := _looks_binary(data):
        findings.append(Finding("R1.format", "error", msg, None, 0, [], []))
        return None
    text = _decode(data, contract.encoding or "utf-8", findings)
    if text is None:
        return None
    text = text.lstrip("\ufeff")
    first_line = re.split(r"\r\n|\n|\r", text, maxsplit=1)[0]
    try:
        header = next(csv.reader([first_line], delimiter=";"), [])
    except csv.Error:
        header = []
    if len(header) > MAX_COLUMNS:
        findings.append(_too_many_columns(len(header), contract))
        return None
    if len(header) < 2:
        findings.append(Finding(
            "R1.format", "error",
            "Die erste Zeile ist keine durch Semikolon (;) getrennte Kopfzeile"
            + (" (Komma statt Semikolon?)" if "," in first_line else "") + ".",
            None, 1, [1], [first_line[:200]]))
        return None

    n = len(header)
    names = [f"c{i}" for i in range(n)]
    # Arrow's multi-threaded reader on the decoded text (re-encoded as UTF-8 in memory: no
    # temp file, and cp1252 is handled like every other encoding), every column as text.
    try:
        raw = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=";", quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        raw = None  # Arrow refused the file: the exact csv-module path below finds and reports why

    if raw is not None:
        # Without blank lines every record takes >= 1 line, so equal counts mean one line each.
        physical = text.count("\n") + (0 if text.endswith("\n") else 1)
        blank_lines = "\n\n" in text or "\n\r\n" in text
        if physical == raw.num_rows + 1 and not blank_lines:
            lines = np.arange(2, raw.num_rows + 2, dtype=np.int32)
            if (f := _overlong_field(raw, header, lines)) is not None:
                findings.append(f)
                return None
            return header, raw, lines
    # Arrow failed, or rows and lines do not line up (blank lines, line breaks inside quotes):
    # Python's csv module gives the exact line where each record starts.
    rows, lines, ragged = [], [], []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    prev = 0
    try:
        for i, rec in enumerate(reader):
            start, prev = prev + 1, reader.line_num
            if i == 0 or not rec:
                continue
            if len(rec) != n:
                ragged.append((start, len(rec), ";".join(rec)[:200]))
                continue
            rows.append(rec)
            lines.append(start)
    except csv.Error:
        # The csv module stops at a field over its limit (131,072 characters), typically an
        # unclosed quote swallowing the rest of the file: a format finding, not a crash.
        start = prev + 1
        findings.append(Finding(
            "R1.format", "error",
            f"Ab Zeile {start} ist ein Feld länger als {MAX_FIELD_CHARS:,} Zeichen (bis Zeile {reader.line_num}); "
            "vermutlich ein nicht geschlossenes Anführungszeichen.".replace(",", "."),
            None, 1, [start], []))
        return None
    if ragged:
        findings.append(Finding(
            "R1.format", "error",
            f"Zeilen mit falscher Feldanzahl: die Kopfzeile hat {n} Spalten, diese Zeilen nicht "
            f"(z. B. Zeile {ragged[0][0]} mit {ragged[0][1]} Feldern). Ein Semikolon zu viel oder zu wenig?",
            None, len(ragged), [r[0] for r in ragged[:MAX_SAMPLES]], [r[2][:200] for r in ragged[:MAX_SAMPLES]]))
        return None
    if raw is not None and len(rows) == raw.num_rows:
        return header, raw, np.asarray(lines, dtype=np.int32)
    # Arrow refused a file Python reads consistently (e.g. an odd quote): go with Python.
    cols_t = list(zip(*rows)) if rows else [()] * n
    raw = pa.table({c: pa.array(list(v), pa.string()) for c, v in zip(names, cols_t)})
    return header, raw, np.asarray(lines, dtype=np.int32)


def _too_many_columns(n: int, contract: Contract) -> Finding:
    return Finding("R1.format", "error",
                   f"Die Kopfzeile hat {n:,} Spalten; vereinbart sind {len(contract.columns)}, angenommen werden "
                   f"höchstens {MAX_COLUMNS}.".replace(",", "."), None, 1, [1], [])


def _overlong_field(raw: pa.Table, header: list[str], lines: np.ndarray) -> Finding | None:
    """The first cell over MAX_FIELD_CHARS (what the csv module would refuse), as a finding."""
    for i, name in enumerate(raw.column_names):
        length = pc.utf8_length(raw.column(name))
        if (pc.max(length).as_py() or 0) > MAX_FIELD_CHARS:
            row = pc.index(pc.greater(length, MAX_FIELD_CHARS), True).as_py()
            col = header[i].strip() if i < len(header) else name
            return Finding("R1.format", "error",
                           f"Zeile {int(lines[row])}: ein Feld der Spalte »{col}« ist länger als "
                           f"{MAX_FIELD_CHARS:,} Zeichen.".replace(",", "."),
                           col.lower() or None, 1, [int(lines[row])], [])
    return None


# --------------------------------------------------------------------------- XLSX


def _cell_text(v) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "J" if v else "N"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime):
        if v.time() == dt.time(0):
            return v.strftime("%d.%m.%Y")
        return v.strftime("%d.%m.%Y %H:%M:%S")
    if isinstance(v, dt.date):
        return v.strftime("%d.%m.%Y")
    return str(v)


def _xlsx_failure(data: bytes, error: Exception) -> str:
    """A German reason why calamine could not open the file (its own message is English jargon)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except zipfile.BadZipFile:
        return f"Die Excel-Datei ist beschädigt: kein vollständiges ZIP-/XLSX-Archiv ({error})."
    if not any(n.lower().endswith("workbook.xml") for n in names):
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        return f"Die Datei ist ein ZIP-Archiv, aber keine Excel-Arbeitsmappe (enthält: {shown or 'nichts'})."
    return f"Die Excel-Datei ist beschädigt oder keine XLSX-Datei ({error})."


_XML_POS = re.compile(rb"<(?:\w+:)?(row|c|dimension)[\s/>]([^<>]*)")
_XML_REF = re.compile(rb'\b(?:r|ref)="\$?([A-Z]{0,3})\$?(\d*)(?::\$?([A-Z]{0,3})\$?(\d*))?"')


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _xlsx_bounds(data: bytes, sheet: str) -> str | None:
    """Why this XLSX may not be opened (German), or None: checked on the ZIP directory and a
    streaming scan of the sheet, before the reader allocates what the file claims (a sheet
    whose range reaches XFD1048576 makes it allocate half a terabyte)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None  # not a ZIP at all: the reader's own failure says so (_xlsx_failure)
    with z:
        infos = z.infolist()
        if len(infos) > XLSX_MAX_ENTRIES:
            return f"Das Excel-Archiv enthält {len(infos):,} Teile (höchstens {XLSX_MAX_ENTRIES:,}).".replace(",", ".")
        total = sum(i.file_size for i in infos)
        if total > XLSX_MAX_UNPACKED:
            return (f"Das Excel-Archiv ist entpackt {total / 2**20:,.0f} MB groß (höchstens "
                    f"{XLSX_MAX_UNPACKED // 2**20} MB); vermutlich eine Archivbombe.").replace(",", ".")
        for i in infos:
            if i.file_size > 1 << 20 and i.file_size > XLSX_MAX_RATIO * max(i.compress_size, 1):
                return (f"Der Teil {i.filename} des Excel-Archivs ist {i.file_size // max(i.compress_size, 1):,}-fach "
                        f"komprimiert (höchstens {XLSX_MAX_RATIO}-fach); vermutlich eine Archivbombe.").replace(",", ".")
        part = _sheet_part(z, sheet)
        if part is None:
            return None  # no such sheet: reported as R1.sheet by the reader
        # Every part the reader reads is unpacked here first, in chunks: the ZIP module stops at
        # the size the directory declares and checks the CRC, so a part cannot unpack to more.
        try:
            for i in infos:
                if i.filename.startswith("xl/worksheets/") and i.filename != part:
                    continue  # other sheets are never read
                with z.open(i) as f:
                    if i.filename == part:
                        if (msg := _scan_sheet(f, sheet)) is not None:
                            return msg
                    else:
                        while f.read(1 << 20):
                            pass
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
            return f"Die Excel-Datei ist beschädigt ({e})."
    return None


def _sheet_part(z: zipfile.ZipFile, sheet: str) -> str | None:
    """The ZIP part of the named sheet (workbook.xml -> its relationship -> target)."""
    import posixpath
    import xml.etree.ElementTree as ET

    names = set(z.namelist())
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return None
    for n in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
        if z.getinfo(n).file_size > 4 << 20:
            return None  # unusual; the reader rejects or reads it, the whole archive is bounded anyway
    try:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    except ET.ParseError:
        return None
    rid = None
    for el in wb.iter():
        if el.tag.endswith("}sheet") or el.tag == "sheet":
            if (el.get("name") or "").strip().lower() == sheet.lower():
                rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
                break
    for el in rels.iter():
        if el.get("Id") == rid and el.get("Target"):
            target = el.get("Target")
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            return target if target in names else None
    return None


def _scan_sheet(f, sheet: str) -> str | None:
    """Stream a sheet's XML: its declared range, its last row and column (cell positions, or
    counted where a producer leaves positions out) against the bounds."""
    rows = max_row = max_col = cells_in_row = 0
    carry = b""

    def too_big(r: int, c: int, what: str) -> str | None:
        if r > XLSX_MAX_ROWS or c > MAX_COLUMNS or r * c > XLSX_MAX_CELLS:
            return (f"Das Blatt »{sheet}« {what} {r:,} Zeilen und {c:,} Spalten; angenommen werden höchstens "
                    f"{XLSX_MAX_ROWS:,} Zeilen, {MAX_COLUMNS} Spalten und {XLSX_MAX_CELLS:,} Zellen. "
                    "Liegt irgendwo weit außerhalb der Tabelle ein Wert oder eine Formatierung? Diese löschen "
                    "und die Datei neu speichern.").replace(",", ".")
        return None

    while True:
        chunk = f.read(1 << 20)
        buf = carry + chunk
        cut = buf.rfind(b"<") if chunk else len(buf)
        if cut < 0:
            cut = len(buf)
        for m in _XML_POS.finditer(buf, 0, cut):
            kind, attrs = m.group(1), m.group(2)
            ref = _XML_REF.search(attrs)
            if kind == b"dimension":
                if ref and ref.group(3) is not None:
                    r, c = int(ref.group(4) or 0), _col_number(ref.group(3))
                    if (msg := too_big(r, c, "beansprucht laut Bereichsangabe")) is not None:
                        return msg
            elif kind == b"row":
                rows += 1
                cells_in_row = 0
                max_row = max(max_row, int(ref.group(2)) if ref and ref.group(2) else rows)
                rows = max(rows, max_row)
            else:
                cells_in_row += 1
                c = _col_number(ref.group(1)) if ref and ref.group(1) else cells_in_row
                cells_in_row = max(cells_in_row, c)
                max_col = max(max_col, c)
                if ref and ref.group(2):
                    max_row = max(max_row, int(ref.group(2)))
            if max_row > XLSX_MAX_ROWS or max_col > MAX_COLUMNS or max_row * max_col > XLSX_MAX_CELLS:
                return too_big(max_row, max_col, "reicht bis mindestens")
        carry = buf[cut:]
        if not chunk:
            return None
        if len(carry) > 1 << 16:
            return f"Das Blatt »{sheet}« enthält ein XML-Element über 64 KB; keine gewöhnliche Excel-Tabelle."


def _read_xlsx(data: bytes, contract: Contract, findings: list[Finding]):
    import python_calamine as calamine

    if not data.startswith(b"PK\x03\x04"):
        findings.append(Finding("R1.format", "error",
                                "Die Datei ist keine Excel-Arbeitsmappe im XLSX-Format.", None, 0, [], []))
        return None
    if (msg := _xlsx_bounds(data, contract.sheet or "Belegung")) is not None:
        findings.append(Finding("R1.format", "error", msg, None, 0, [], []))
        return None
    try:
        wb = calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as e:  # calamine raises its own error classes for broken archives
        findings.append(Finding("R1.format", "error", _xlsx_failure(data, e), None, 0, [], []))
        return None
    want = contract.sheet or "Belegung"
    sheet_name = next((s for s in wb.sheet_names if s == want), None) or next(
        (s for s in wb.sheet_names if s.strip().lower() == want.lower()), None)
    if sheet_name is None:
        findings.append(Finding(
            "R1.sheet", "error",
            f"Das Tabellenblatt »{want}« fehlt (vorhanden: {', '.join(wb.sheet_names) or 'keines'}).",
            None, 0, [], list(wb.sheet_names)[:MAX_SAMPLES]))
        return None
    # skip_empty_area=False: rows start at A1, so list index + 1 is the sheet row.
    rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    if not rows or all(_cell_text(v) is None for v in rows[0]):
        findings.append(Finding("R1.format", "error",
                                f"Im Blatt »{sheet_name}« steht in Zeile 1 keine Kopfzeile.", None, 1, [1], []))
        return None
    header = [_cell_text(v) or "" for v in rows[0]]
    while header and not header[-1]:
        header.pop()
    n = len(header)
    body, lines = [], []
    for i, r in enumerate(rows[1:], start=2):
        cells = [_cell_text(v) for v in r[:n]] + [None] * (n - len(r))
        body.append(cells)
        lines.append(i)
    cols_t = list(zip(*body)) if body else [()] * n
    raw = pa.table({f"c{i}": pa.array(list(v), pa.string()) for i, v in enumerate(cols_t)})
    return header, raw, np.asarray(lines, dtype=np.int32)


# --------------------------------------------------------------------------- header + typing


def _map_header(header: list[str], contract: Contract, findings: list[Finding], raw: pa.Table):
    """contract column -> source column (c<i>); unknown columns are a warning, missing an error."""
    norm = [h.replace("\ufeff", "").strip().lower() for h in header]
    wanted = set(contract.column_names)
    seen: dict[str, int] = {}
    dupes = []
    for i, h in enumerate(norm):
        if h in wanted and h in seen:
            dupes.append(h)
        seen.setdefault(h, i)
    if dupes:
        findings.append(Finding("R1.format", "error",
                                "Spalte kommt in der Kopfzeile mehrfach vor: " + ", ".join(sorted(set(dupes))),
                                sorted(set(dupes))[0], 0, [1], sorted(set(dupes))))
        return None
    for i, h in enumerate(norm):
        if h in wanted:
            continue
        if not h and all(v is None or not v.strip() for v in raw.column(f"c{i}").to_pylist()):
            continue  # trailing ';' / empty Excel column without a heading: nothing in it
        findings.append(Finding("W.unknown_column", "warning",
                                f"Unbekannte Spalte »{header[i].strip() or '(ohne Überschrift)'}« – wird ignoriert.",
                                header[i].strip() or None, 0, [1], [header[i]]))
    missing = [c for c in contract.column_names if c not in seen]
    for c in missing:
        findings.append(Finding("R2.missing_column", "error", f"Pflichtspalte »{c}« fehlt in der Kopfzeile.",
                                c, 0, [1], []))
    return {c: (f"c{seen[c]}" if c in seen else None) for c in contract.column_names}


def _regex(v: pa.Array, pattern: str) -> pa.Array:
    """Boolean mask (NULL -> false) of values that match an RE2 pattern (as DuckDB's regexp_matches)."""
    return pc.fill_null(pc.match_substring_regex(v, pattern), False)


def _null_unless(mask: pa.Array, v: pa.Array) -> pa.Array:
    return pc.if_else(mask, v, pa.scalar(None, v.type))


def _ints(v: pa.Array, dtype: pa.DataType = pa.int32()) -> pa.Array:
    """Whole numbers '[+-]?digits' in range of `dtype`; anything else NULL (as DuckDB's TRY_CAST)."""
    ok = _regex(v, r"^[+-]?\d+$")
    # Arrow's parser takes no '+' and no number beyond int64: strip both before casting.
    digits = pc.replace_substring_regex(v, r"^\+?(-?)0*(\d)", r"\1\2")
    ok = pc.and_(ok, pc.less_equal(pc.utf8_length(digits), 18))
    n = pc.cast(pc.if_else(ok, digits, "0"), pa.int64())
    info = np.iinfo(dtype.to_pandas_dtype())
    ok = pc.and_(ok, pc.and_(pc.greater_equal(n, info.min), pc.less_equal(n, info.max)))
    return pc.cast(_null_unless(ok, n), dtype)


def _dates(v: pa.Array) -> pa.Array:
    """'dd.mm.yyyy' of a date that exists (31.02. does not) -> date32; else NULL."""
    ok = _regex(v, r"^\d{2}\.\d{2}\.\d{4}$")
    s = pc.if_else(ok, v, "01.01.1970")
    day = pc.cast(pc.utf8_slice_codeunits(s, 0, 2), pa.int32()).to_numpy()
    month = pc.cast(pc.utf8_slice_codeunits(s, 3, 5), pa.int32()).to_numpy()
    year = pc.cast(pc.utf8_slice_codeunits(s, 6, 10), pa.int32()).to_numpy()
    month_ok = (month >= 1) & (month <= 12)
    first = ((year - 1970) * 12 + np.where(month_ok, month - 1, 0)).astype("datetime64[M]")
    days_in_month = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int32)
    valid = ok.to_numpy(zero_copy_only=False) & month_ok & (day >= 1) & (day <= days_in_month)
    dates = (first.astype("datetime64[D]") + (day - 1)).astype(np.int64).astype(np.int32)
    return pa.array(dates, pa.int32(), mask=~valid).cast(pa.date32())


def _typed(col: Column, v: pa.Array) -> pa.Array:
    """The typed value of a trimmed text column (empty already NULL); NULL where it does not parse."""
    t = col.type
    if t == "month":
        return _null_unless(_regex(v, r"^\d{4}-(0[1-9]|1[0-2])$"), v)
    if t == "school_year":
        ok = _regex(v, r"^\d{4}/\d{2}$")
        s = pc.if_else(ok, v, "0000/01")
        first = pc.cast(pc.utf8_slice_codeunits(s, 0, 4), pa.int32()).to_numpy()
        second = pc.cast(pc.utf8_slice_codeunits(s, 5, 7), pa.int32()).to_numpy()
        follows = ok.to_numpy(zero_copy_only=False) & ((first + 1) % 100 == second)  # 2024/25, 2099/00
        return _null_unless(pa.array(follows), v)
    if t == "date":
        return _dates(v)
    if t in ("int", "count"):
        return _ints(v)
    if t == "flag":
        return pc.if_else(pc.equal(v, "J"), True, pc.if_else(pc.equal(v, "N"), False, pa.scalar(None, pa.bool_())))
    if t == "ags":
        return _null_unless(_regex(v, r"^\d{8}$"), v)
    if t == "pseudonym":
        return _null_unless(pc.fill_null(pc.less_equal(pc.utf8_length(v), 64), False), v)
    if col.pattern:
        return _null_unless(_regex(v, col.pattern), v)
    return v  # text, code: checked against their lists by the gate


def _type_columns(raw: pa.Table, lines: np.ndarray, mapping: dict[str, str | None], contract: Contract):
    """Trimmed text (empty -> NULL) and the typed value of every column, vectorised in Arrow."""
    n = raw.num_rows
    raw_cols, typed_cols = [], []
    for col in contract.columns:
        src = mapping[col.name]
        if src is None:
            v = pa.nulls(n, pa.string())
        else:
            v = pc.utf8_trim(raw.column(src).combine_chunks(), " ")  # DuckDB's trim: spaces only
            v = _null_unless(pc.fill_null(pc.not_equal(v, ""), False), v)
        raw_cols.append(v)
        typed_cols.append(_typed(col, v).cast(_ARROW_TYPES[col.type]))
    line_arr = pa.array(lines, pa.int32())
    raw_text = pa.table(raw_cols + [line_arr], names=contract.column_names + ["_line"])
    typed = pa.Table.from_arrays(typed_cols + [line_arr], schema=arrow_schema(contract))
    # Rows with nothing in any contract column (e.g. ';;;;' at the end of an export) are not records.
    blank = None
    for c in raw_cols:
        isnull = pc.is_null(c)
        blank = isnull if blank is None else pc.and_(blank, isnull)
    if blank is not None and n and pc.any(blank).as_py():
        keep = pc.invert(blank)
        raw_text, typed = raw_text.filter(keep), typed.filter(keep)
    return raw_text, typed


def _format_findings(raw_text: pa.Table, typed: pa.Table, contract: Contract) -> list[Finding]:
    """R2.format: a non-empty value whose typed value is NULL did not parse as its type."""
    out = []
    lines = raw_text.column("_line")
    for col in contract.columns:
        if col.type in ("text", "code") and not col.pattern:
            continue
        r, t = raw_text.column(col.name), typed.column(col.name)
        bad = pc.and_(pc.is_valid(r), pc.is_null(t))
        idx = pc.indices_nonzero(bad)
        if len(idx) == 0:
            continue
        first = idx[:MAX_SAMPLES]
        out.append(Finding(
            "R2.format", "error", f"Wert im falschen Format (erwartet {format_hint(col)})",
            col.name, len(idx), lines.take(first).to_pylist(), r.take(first).to_pylist()))
    return out
