"""A small XLSX writer for the report's downloads: header row, text and numbers in a few number
formats, frozen header, autofilter, column widths, a notes sheet. Nothing else.

Why not xlsxwriter: it spends ~8 µs of Python per cell on its general cell model, and a new
month re-writes the time series of every monthly indicator (150k cells at district scale,
about a third of the report's time, growing with the history; issue 20). Here a sheet is one
string join. The output is a plain Office Open XML package (inline strings, one style sheet)
that Excel, LibreOffice and openpyxl read; its bytes depend only on the content (fixed zip
timestamps), so an unchanged download is byte-identical.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# number formats by kind (report.Table.kinds): Excel's built-in 3 and three of ours
_NUM_FMTS = {"n0": (3, None), "n1": (164, "#,##0.0"), "s0": (165, "+#,##0;-#,##0;0"),
             "s1": (166, "+#,##0.0;-#,##0.0;0.0")}
# cellXfs index of each style
STYLE = {"text": 0, "head": 1, "n0": 2, "n1": 3, "s0": 4, "s1": 5, "symbol": 6, "bold": 7}
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Sheet:
    name: str
    rows: list[list[tuple[object, str]]]  # (value, style name) per cell; None = empty cell
    widths: list[float]
    header: bool = True  # first row frozen and filtered


def _col(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _excel_width(chars: float) -> float:
    """Excel stores a width in characters plus its cell padding (5 px at 7 px per digit of Calibri 11)."""
    return int((int(chars * 7 + 0.5) + 5) / 7 * 256) / 256


def _text(v: str) -> str:
    v = _BAD_XML.sub("", v)
    space = ' xml:space="preserve"' if v != v.strip() else ""
    return f"<is><t{space}>{escape(v)}</t></is>"


def _sheet_xml(sheet: Sheet) -> str:
    cols = [_col(i) for i in range(max((len(r) for r in sheet.rows), default=1))]
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
           'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">']
    n = len(sheet.rows)
    out.append(f'<dimension ref="A1:{cols[-1]}{max(n, 1)}"/>')
    if sheet.header:
        out.append('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                   'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>')
    else:
        out.append('<sheetViews><sheetView workbookViewId="0"/></sheetViews>')
    out.append('<sheetFormatPr defaultRowHeight="15"/><cols>')
    out.extend(f'<col min="{i + 1}" max="{i + 1}" width="{_excel_width(w):g}" customWidth="1"/>'
               for i, w in enumerate(sheet.widths))
    out.append("</cols><sheetData>")
    for r, row in enumerate(sheet.rows, start=1):
        cells = []
        for c, (v, style) in enumerate(row):
            if v is None:
                continue
            s = STYLE[style]
            ref = f"{cols[c]}{r}"
            if isinstance(v, str):
                cells.append(f'<c r="{ref}" s="{s}" t="inlineStr">{_text(v)}</c>')
            else:
                cells.append(f'<c r="{ref}" s="{s}"><v>{float(v)!r}</v></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    out.append("</sheetData>")
    if sheet.header:
        out.append(f'<autoFilter ref="A1:{cols[-1]}{max(n, 2)}"/>')
    out.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>')
    return "".join(out)


def _styles_xml() -> str:
    fmts = "".join(f'<numFmt numFmtId="{i}" formatCode="{escape(code)}"/>' for i, code in _NUM_FMTS.values() if code)
    n_fmts = sum(1 for _, code in _NUM_FMTS.values() if code)
    num = [f'<xf numFmtId="{_NUM_FMTS[k][0]}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           for k in ("n0", "n1", "s0", "s1")]
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<numFmts count="{n_fmts}">{fmts}</numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
        '<fill><patternFill patternType="solid"><fgColor rgb="FFEEF2F5"/><bgColor indexed="64"/></patternFill></fill></fills>'
        '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '<border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="8"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" '
        'applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
        + "".join(num)
        + '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment horizontal="right"/></xf>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '</styleSheet>')


def write_workbook(path: Path, sheets: list[Sheet]) -> None:
    names = [s.name[:31] for s in sheets]
    ns_rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                      for i in range(1, len(sheets) + 1))
            + "</Types>"),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{ns_rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{ns_rel}">'
            '<bookViews><workbookView/></bookViews><sheets>'
            + "".join(f'<sheet name="{escape(n, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, n in enumerate(names, start=1))
            + "</sheets><definedNames>"
            # Excel keeps an autofilter's range in this hidden name
            + "".join(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                      f"'{escape(n).replace(chr(39), chr(39) * 2)}'!$A$1:${_col(max(len(s.rows[0]) if s.rows else 1, 1) - 1)}"
                      f"${max(len(s.rows), 2)}</definedName>"
                      for i, (n, s) in enumerate(zip(names, sheets)) if s.header)
            + "</definedNames></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i}" Type="{ns_rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, len(sheets) + 1))
            + f'<Relationship Id="rId{len(sheets) + 1}" Type="{ns_rel}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": _styles_xml(),
    }
    for i, s in enumerate(sheets, start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet_xml(s)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("utf-8"))
