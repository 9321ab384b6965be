"""Parsing and the data-quality gate on small hand-made extracts (one per rule and format).

Every test writes real files into tmp_path and runs the real parser, DuckDB and Great
Expectations. GX is imported once per session (gate keeps one context per process).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
import xlsxwriter

from orchestration import gate
from orchestration.extracts import ParsedFile, parse_file, typed_schema
from orchestration.gate import FileStats, Finding, check_files, render_data_docs, write_report
from sources.contracts import load_contracts

C = load_contracts()
TODAY = dt.date(2025, 6, 30)
GEMEINDEN = [line.split(",")[0] for line in
             (gate.REFERENCE_DIR / "gemeinden.csv").read_text(encoding="utf-8").splitlines()[1:]]
A, B = "08116004", "08116005"

HEADERS = {ft: [c.name for c in C[ft].columns] for ft in C}
UNT_HEADER = ["Stichtag", "Einrichtung_ID", "Einrichtung", "Art", "AGS", "Plaetze", "Belegt",
              "davon_Gestattung", "davon_Schutzstatus", "davon_Duldung", "davon_Sonstige", "Auszuege_privat"]


def row(ft: str, i: int, **over) -> dict[str, str]:
    """A valid row number i (unique key) of a file type for period 2024-01 / 2024."""
    r = {
        "jobcenter": dict(berichtsmonat="2024-01", person_id=f"p{i}", bg_id=f"b{i}", geburtsjahr="1980",
                          geschlecht="w", staatsangehoerigkeit="000", fluchtkontext="N", ags=A, elb="J",
                          arbeitslos="N", erwerbstaetig="N", integrationskurs="", integration_beschaeftigung="N"),
        "abh_bestand": dict(stichtag="31.01.2024", person_id=f"p{i}", geburtsjahr="1990", geschlecht="m",
                            staatsangehoerigkeit="121", ags=A, einreisedatum="15.03.2015", aufenthaltsstatus="NE"),
        "abh_einbuergerungen": dict(einbuergerungsdatum="15.01.2024", person_id=f"p{i}", geburtsjahr="1985",
                                    geschlecht="w", bisherige_staatsangehoerigkeit="121", ags=A),
        "schulstatistik": dict(schuljahr="2024/25", schulnummer=f"{4100000 + i:08d}", schulname="GS Am Park",
                               ags=A, schulart="GS", klassenstufe="1", staatsangehoerigkeit="deutsch",
                               geschlecht="m", schueler="12"),
        "schulabgaenger": dict(schuljahr="2024/25", ags=GEMEINDEN[i % 44], schulart="RS",
                               abschluss=["ohne_hsa", "hsa", "msa", "fhr", "ahr"][(i // 44) % 5],
                               staatsangehoerigkeit="deutsch", geschlecht="m", anzahl="7"),
        "bevoelkerung": dict(stichtag="31.12.2024", ags=GEMEINDEN[i % 44],
                             geschlecht="m", altersgruppe=["00-05", "06-14", "15-17", "18-24", "25-64", "65+"][(i // 44) % 6],
                             staatsangehoerigkeit="deutsch", anzahl="100"),
        # examination year 2024/25: 01.08.2024 to 31.07.2025, born 2017 to 2022
        "esu": dict(untersuchungsjahr="2024/25", kind_id=f"k{i}", untersuchungsdatum="14.10.2024", geburtsjahr="2020",
                    geschlecht="w", ags=GEMEINDEN[i % 44], staatsangehoerigkeit="auslaendisch",
                    familiensprache="andere", kita_monate="20", vorsorgeheft="J", u8="J", impfpass="J",
                    masern_impfungen="2", sprachbefund="foerderbedarf"),
        "kita": dict(stichtag="01.03.2024", ags=GEMEINDEN[i % 44], betreuungsart="kita",
                     altersgruppe=["unter_3", "3_bis_unter_6"][(i // 44) % 2], herkunft="auslaendisch",
                     familiensprache="nicht_deutsch", kinder="5"),
        "hilfe_zur_pflege": dict(stichtag="31.12.2024", person_id=f"p{i}", geburtsjahr="1938", geschlecht="w",
                                 staatsangehoerigkeit="163", ags=A, leistungsort="stationaer", pflegegrad="4"),
        "engagement": dict(jahr="2024", ags=GEMEINDEN[i % 44], integrationsgremium="beauftragte",
                           ehrenamtliche="25", migrantenorganisationen="1"),
    }[ft]
    r.update(over)
    return r


def write_csv(path: Path, header: list[str], rows: list[dict], encoding: str = "utf-8",
              bom: bool = False, eol: str = "\n") -> Path:
    lines = [";".join(header)] + [";".join(r[h] for h in header) for r in rows]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (eol.join(lines) + eol).encode(encoding))
    return path


def csv_file(tmp_path: Path, ft: str, period: str, rows: list[dict], **kw) -> Path:
    enc = "cp1252" if C[ft].encoding == "cp1252" else "utf-8"
    return write_csv(tmp_path / f"{ft}_{period}.csv", HEADERS[ft], rows, encoding=kw.pop("encoding", enc), **kw)


def unt_row(i: int, **over) -> list:
    r = [dt.date(2024, 1, 31), f"E{i:03d}", f"Unterkunft {i}", "VU", A, 50, 10, 4, 3, 2, 1, 0]
    for k, v in over.items():
        r[UNT_HEADER.index(k)] = v
    return r


def write_xlsx(path: Path, rows: list[list], header: list[str] = UNT_HEADER, sheet: str = "Belegung") -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet)
    datefmt = wb.add_format({"num_format": "dd.mm.yyyy"})
    ws.write_row(0, 0, header)
    for r, values in enumerate(rows, start=1):
        for c, v in enumerate(values):
            if isinstance(v, dt.date):
                ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), datefmt)
            elif v is not None:
                ws.write(r, c, v)
    wb.close()
    return path


def parse(path: Path) -> ParsedFile:
    contract = next(c for c in C.values() if c.match(path.name))
    return parse_file(path, contract, contract.match(path.name))


def gate_all(*parsed: ParsedFile, history=None, accepted=frozenset(), today=TODAY) -> dict[Path, list[Finding]]:
    res = check_files(list(parsed), history or {}, set(accepted), today)
    return {p.path: p.findings + res[p.path] for p in parsed}


def only(findings: list[Finding], rule: str) -> Finding:
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, (rule, findings)
    return hits[0]


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


@pytest.fixture(scope="session", autouse=True)
def gx_once():
    """Import GX and build its context once for the whole session."""
    gate._gx()


# --------------------------------------------------------------------------- suites, schema


def test_suites_are_generated_from_contracts():
    """expectations/*.json are reviewed files; they must say what contracts.yml + seeds say."""
    for ft, contract in C.items():
        on_disk = json.loads(gate.suite_path(ft).read_text(encoding="utf-8"))
        assert on_disk == json.loads(json.dumps(gate.build_suite(contract))), \
            f"expectations/{ft}.json is stale: python -m orchestration.gate write-suites"


def test_typed_schema():
    assert typed_schema(C["jobcenter"])["geburtsjahr"] == "INTEGER"
    assert typed_schema(C["jobcenter"])["elb"] == "BOOLEAN"
    assert typed_schema(C["abh_bestand"])["stichtag"] == "DATE"
    assert list(typed_schema(C["unterbringung"])) == C["unterbringung"].column_names


ODD_VALUES = {
    "date": ["31.01.2019", "31.02.2019", "29.02.2020", "29.02.2019", "00.01.2019", "01.13.2019", "1.01.2019",
             "01.01.0000", "31.12.9999", "01.01.19999", "01-01-2019", "0a.01.2019", None],
    "int": ["+5", "-0", "007", "2147483647", "2147483648", "-2147483648", "-2147483649", "1e3", "1.0",
            "00000000000000000000001", "99999999999999999999", "+", "-", "1 2", None],
    "month": ["2024-01", "2024-12", "2024-13", "2024-00", "2024-1", "24-01", None],
    "school_year": ["2024/25", "2099/00", "2024/26", "2024/2025", "2024-25", None],
    "flag": ["J", "N", "j", "ja", None],
    "ags": ["08116004", "8116004", "081160040", "0811600a", None],
}


@pytest.mark.parametrize("ctype", sorted(ODD_VALUES))
def test_typing_matches_duckdb_semantics(ctype):
    """The Arrow typing equals the reference SQL meaning of each contract type (DuckDB:
    regex full match + TRY_CAST / try_strptime), on the values where parsers usually differ."""
    import duckdb

    from orchestration.extracts import _typed
    from sources.contracts import Column

    ref = {
        "date": r"CASE WHEN regexp_full_match(v, '\d{2}\.\d{2}\.\d{4}') THEN try_strptime(v, '%d.%m.%Y')::DATE END",
        "int": r"CASE WHEN regexp_full_match(v, '[+-]?\d+') THEN TRY_CAST(v AS INTEGER) END",
        "month": r"CASE WHEN regexp_full_match(v, '\d{4}-(0[1-9]|1[0-2])') THEN v END",
        "school_year": r"CASE WHEN regexp_full_match(v, '\d{4}/\d{2}') AND (TRY_CAST(left(v, 4) AS INTEGER) + 1) % 100 "
                       r"= TRY_CAST(right(v, 2) AS INTEGER) THEN v END",
        "flag": "CASE v WHEN 'J' THEN true WHEN 'N' THEN false END",
        "ags": r"CASE WHEN regexp_full_match(v, '\d{8}') THEN v END",
    }[ctype]
    values = ODD_VALUES[ctype]
    if ctype == "date":  # compared as day numbers: year 0 has no Python date
        ref = f"({ref}) - DATE '1970-01-01'"
    con = duckdb.connect()
    expected = [r[0] for r in con.execute(
        f"SELECT {ref} FROM (SELECT unnest(?::VARCHAR[]) AS v, generate_subscripts(?::VARCHAR[], 1) AS i) ORDER BY i",
        [values, values]).fetchall()]
    got = _typed(Column(name="x", type=ctype), pa.array(values, pa.string()))
    got = (got.cast(pa.int32()) if ctype == "date" else got).to_pylist()
    assert got == expected


# --------------------------------------------------------------------------- clean files pass


def test_clean_files_of_every_type_pass(tmp_path):
    files = [
        csv_file(tmp_path, "jobcenter", "2024-01", [row("jobcenter", i) for i in range(3)], bom=True, eol="\r\n"),
        csv_file(tmp_path, "abh_bestand", "2024-01",
                 [row("abh_bestand", 0, person_id="Müßig-ä"), row("abh_bestand", 1)]),
        csv_file(tmp_path, "abh_einbuergerungen", "2024-01", []),  # header only is allowed here
        csv_file(tmp_path, "schulstatistik", "2024", [row("schulstatistik", i) for i in range(2)]),
        csv_file(tmp_path, "schulabgaenger", "2024", [row("schulabgaenger", i) for i in range(3)]),
        csv_file(tmp_path, "bevoelkerung", "2024", [row("bevoelkerung", i) for i in range(3)]),
        write_xlsx(tmp_path / "unterbringung_2024-01.xlsx",
                   [unt_row(0), unt_row(1, Stichtag="31.01.2024")]),  # date cell and date text
    ]
    parsed = [parse(f) for f in files]
    out = gate_all(*parsed)
    assert all(v == [] for v in out.values()), out
    jc = parsed[0].table
    assert jc.column_names == C["jobcenter"].column_names + ["_line"]
    assert jc.column("_line").to_pylist() == [2, 3, 4]
    assert jc.schema.field("elb").type == pa.bool_() and jc.column("elb").to_pylist() == [True] * 3
    assert jc.column("integrationskurs").to_pylist() == [None] * 3  # empty cell is NULL
    abh = parsed[1].table
    assert abh.column("person_id").to_pylist()[0] == "Müßig-ä"  # cp1252 decoded
    assert abh.column("stichtag").to_pylist() == [dt.date(2024, 1, 31)] * 2
    unt = parsed[6].table
    assert unt.column("stichtag").to_pylist() == [dt.date(2024, 1, 31)] * 2
    assert unt.column("plaetze").type == pa.int32() and unt.column("_line").to_pylist() == [2, 3]
    assert parsed[2].row_count == 0 and parsed[2].table is not None


def test_column_matching_ignores_case_blanks_and_order(tmp_path):
    header = [" AGS ", "Person_ID", "stichtag", "geburtsjahr", "GESCHLECHT", "staatsangehoerigkeit",
              "einreisedatum", "aufenthaltsstatus"]
    r = row("abh_bestand", 1)
    p = tmp_path / "abh_bestand_2024-01.csv"
    p.write_bytes(
        (";".join(header) + "\n" + ";".join(r[h.strip().lower()] for h in header) + "\n").encode("cp1252"))
    parsed = parse(p)
    assert gate_all(parsed)[p] == []
    assert parsed.table.column_names[:2] == ["stichtag", "person_id"]
    assert parsed.table.column("ags").to_pylist() == [A]


# --------------------------------------------------------------------------- rule 1


def test_cp1252_undefined_byte_is_located(tmp_path):
    p = csv_file(tmp_path, "abh_bestand", "2024-01", [row("abh_bestand", i) for i in range(3)])
    data = p.read_bytes().replace(b"p1;", b"p\x811;")  # line 3: "31.01.2024;p\x81..." -> byte 13
    p.write_bytes(data)
    parsed = parse(p)
    f = only(parsed.findings, "R1.encoding")
    assert parsed.table is None and f.severity == "error"
    assert f.lines == [3] and f.values == ["Byte 0x81 in Spalte 13"]
    assert "Zeile 3, Spalte 13" in f.message and "Windows-1252" in f.message


def test_utf8_file_with_windows_bytes_fails(tmp_path):
    rows = [row("jobcenter", i) for i in range(4)]
    rows[2]["person_id"] = "Jürgen"
    p = csv_file(tmp_path, "jobcenter", "2024-01", rows, encoding="cp1252")
    f = only(parse(p).findings, "R1.encoding")
    assert f.lines == [4] and f.values == ["Byte 0xFC in Spalte 10"] and "Zeile 4, Spalte 10" in f.message


def test_utf8_file_delivered_for_cp1252_fails(tmp_path):
    p = csv_file(tmp_path, "abh_bestand", "2024-01", [row("abh_bestand", 0, person_id="Jürgen")], encoding="utf-8")
    f = only(parse(p).findings, "R1.encoding")
    assert f.lines == [2] and "UTF-8" in f.message


@pytest.mark.parametrize("content, expect", [
    (b"\x00\x01\x02binary\x00", "Binärdaten"),
    (b"PK\x03\x04 a zip", "ZIP"),
    (b"berichtsmonat,person_id,bg_id\n2024-01,p1,b1\n", "Komma"),
    (b"", "leer"),
])
def test_not_a_csv(tmp_path, content, expect):
    p = tmp_path / "jobcenter_2024-01.csv"
    p.write_bytes(content)
    parsed = parse(p)
    f = only(parsed.findings, "R1.format")
    assert expect in f.message and parsed.table is None


def test_ragged_rows_report_their_lines(tmp_path):
    p = csv_file(tmp_path, "jobcenter", "2024-01", [row("jobcenter", i) for i in range(5)])
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[2] += ";extra"  # line 3: one field too many
    lines[4] = lines[4].rsplit(";", 1)[0]  # line 5: one too few
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = parse(p)
    f = only(parsed.findings, "R1.format")
    assert f.lines == [3, 5] and f.row_count == 2 and parsed.table is None


def test_xlsx_without_sheet_belegung(tmp_path):
    p = write_xlsx(tmp_path / "unterbringung_2024-01.xlsx", [unt_row(0)], sheet="Tabelle1")
    f = only(parse(p).findings, "R1.sheet")
    assert "Belegung" in f.message and f.values == ["Tabelle1"]


def test_csv_named_xlsx_is_not_an_xlsx(tmp_path):
    p = tmp_path / "unterbringung_2024-01.xlsx"
    p.write_text("Stichtag;Einrichtung_ID\n31.01.2024;E1\n", encoding="utf-8")
    assert "XLSX" in only(parse(p).findings, "R1.format").message


# --------------------------------------------------------------------------- rule 2


def test_missing_and_unknown_columns(tmp_path):
    header = [h for h in HEADERS["abh_bestand"] if h != "ags"] + ["bemerkung"]
    rows = [{**row("abh_bestand", i), "bemerkung": "x"} for i in range(2)]
    p = write_csv(tmp_path / "abh_bestand_2024-01.csv", header, rows, encoding="cp1252")
    parsed = parse(p)
    out = gate_all(parsed)[p]
    assert only(out, "R2.missing_column").column == "ags"
    w = only(out, "W.unknown_column")
    assert w.severity == "warning" and w.column == "bemerkung"
    assert rules(out) == {"R2.missing_column", "W.unknown_column"}  # no R2.null for the missing column


def test_values_in_the_wrong_format(tmp_path):
    rows = [row("abh_bestand", i) for i in range(6)]
    rows[0]["stichtag"] = "31.02.2024"  # line 2: no such day
    rows[1]["einreisedatum"] = "2015-03-15"  # line 3: ISO instead of TT.MM.JJJJ
    rows[2]["geburtsjahr"] = "19x0"  # line 4
    rows[3]["ags"] = "8116004"  # line 5: 7 digits
    rows[4]["person_id"] = "x" * 65  # line 6: too long
    rows[5]["einreisedatum"] = "1.3.2015"  # line 7: one-digit day/month
    p = csv_file(tmp_path, "abh_bestand", "2024-01", rows)
    out = gate_all(parse(p))[p]
    fmt = {f.column: f for f in out if f.rule == "R2.format"}
    assert fmt["stichtag"].lines == [2] and fmt["stichtag"].values == ["31.02.2024"]
    assert "TT.MM.JJJJ" in fmt["stichtag"].message
    assert fmt["einreisedatum"].lines == [3, 7] and fmt["einreisedatum"].values == ["2015-03-15", "1.3.2015"]
    assert fmt["geburtsjahr"].lines == [4] and fmt["ags"].values == ["8116004"]
    assert fmt["person_id"].lines == [6]
    assert "R2.null" not in rules(out)  # a value that failed typing is not also "empty"


def test_format_of_month_school_year_flag_and_school_number(tmp_path):
    jc = [row("jobcenter", i) for i in range(3)]
    jc[0]["berichtsmonat"] = "2024-1"
    jc[1]["elb"] = "ja"
    jc[2]["arbeitslos"] = "n"
    pj = csv_file(tmp_path, "jobcenter", "2024-01", jc)
    ss = [row("schulstatistik", 0, schuljahr="2024/26"), row("schulstatistik", 1, schulnummer="1234"),
          row("schulstatistik", 2, schueler="3.5")]
    ps = csv_file(tmp_path, "schulstatistik", "2024", ss)
    out = gate_all(parse(pj), parse(ps))
    fj = {f.column: f for f in out[pj] if f.rule == "R2.format"}
    assert fj["berichtsmonat"].lines == [2] and fj["elb"].values == ["ja"] and fj["arbeitslos"].lines == [4]
    assert "J oder N" in fj["elb"].message
    fs = {f.column: f for f in out[ps] if f.rule == "R2.format"}
    assert fs["schuljahr"].lines == [2] and fs["schulnummer"].lines == [3] and fs["schueler"].values == ["3.5"]


def test_empty_required_cell_is_null(tmp_path):
    rows = [row("jobcenter", i) for i in range(4)]
    rows[1]["ags"] = ""
    rows[3]["ags"] = "   "  # blanks only: empty
    rows[2]["integrationskurs"] = ""  # may be empty
    p = csv_file(tmp_path, "jobcenter", "2024-01", rows)
    f = only(gate_all(parse(p))[p], "R2.null")
    assert f.column == "ags" and f.lines == [3, 5] and f.row_count == 2


def test_range(tmp_path):
    rows = [row("jobcenter", i) for i in range(4)]
    rows[1]["geburtsjahr"] = "1899"
    rows[3]["geburtsjahr"] = "2025"  # after the reporting year 2024
    p = csv_file(tmp_path, "jobcenter", "2024-01", rows)
    out = [f for f in gate_all(parse(p))[p] if f.rule == "R2.range"]
    assert sorted((f.lines, f.values) for f in out) == [([3], ["1899"]), ([5], ["2025"])]
    assert any("Berichtsjahr 2024" in f.message for f in out)
    q = csv_file(tmp_path, "bevoelkerung", "2024", [row("bevoelkerung", 0, anzahl="-1"), row("bevoelkerung", 1)])
    f = only(gate_all(parse(q))[q], "R2.range")
    assert f.column == "anzahl" and f.lines == [2] and f.values == ["-1"]


# --------------------------------------------------------------------------- rules 3-7


def test_codes_outside_lists(tmp_path):
    rows = [row("abh_bestand", i) for i in range(4)]
    rows[0]["staatsangehoerigkeit"] = "000"  # German: excluded for foreigners
    rows[1]["ags"] = "08111000"  # 8 digits, but Stuttgart
    rows[2]["aufenthaltsstatus"] = "XYZ"
    rows[3]["geschlecht"] = "x"
    p = csv_file(tmp_path, "abh_bestand", "2024-01", rows)
    codes = {f.column: f for f in gate_all(parse(p))[p] if f.rule == "R3.code"}
    assert codes["staatsangehoerigkeit"].lines == [2] and codes["staatsangehoerigkeit"].values == ["000"]
    assert codes["ags"].lines == [3] and "44 Gemeinden" in codes["ags"].message
    assert codes["aufenthaltsstatus"].values == ["XYZ"] and codes["geschlecht"].lines == [5]


def test_duplicate_keys(tmp_path):
    rows = [row("jobcenter", i) for i in range(5)]
    rows[4]["person_id"] = "p1"
    p = csv_file(tmp_path, "jobcenter", "2024-01", rows)
    f = only(gate_all(parse(p))[p], "R4.duplicate_key")
    assert f.lines == [3, 6] and f.values == ["p1", "p1"] and f.column == "person_id"
    ss = [row("schulstatistik", 0), row("schulstatistik", 1), row("schulstatistik", 0, schueler="5")]
    q = csv_file(tmp_path, "schulstatistik", "2024", ss)
    f = only(gate_all(parse(q))[q], "R4.duplicate_key")
    assert f.lines == [2, 4] and f.values[0].startswith("schulnummer=04100000; klassenstufe=1")


def test_period_must_match_file_name(tmp_path):
    jc = csv_file(tmp_path, "jobcenter", "2024-01", [row("jobcenter", 0), row("jobcenter", 1, berichtsmonat="2024-02")])
    abh = csv_file(tmp_path, "abh_bestand", "2024-01", [row("abh_bestand", 0, stichtag="30.01.2024")])
    einb = csv_file(tmp_path, "abh_einbuergerungen", "2024-01",
                    [row("abh_einbuergerungen", 0, einbuergerungsdatum="31.12.2023"),
                     row("abh_einbuergerungen", 1, einbuergerungsdatum="31.01.2024"),
                     row("abh_einbuergerungen", 2, einbuergerungsdatum="01.02.2024")])
    ss = csv_file(tmp_path, "schulstatistik", "2024", [row("schulstatistik", 0, schuljahr="2023/24")])
    bev = csv_file(tmp_path, "bevoelkerung", "2024", [row("bevoelkerung", 0, stichtag="31.12.2023")])
    out = gate_all(*(parse(p) for p in (jc, abh, einb, ss, bev)))
    f = only(out[jc], "R5.period")
    assert f.lines == [3] and f.values == ["2024-02"] and "erwartet 2024-01" in f.message
    assert only(out[abh], "R5.period").message.endswith("(erwartet 31.01.2024)")
    e = sorted((f.lines, f.values) for f in out[einb] if f.rule == "R5.period")
    assert e == [([2], ["31.12.2023"]), ([4], ["01.02.2024"])]
    assert "erwartet 2024/25" in only(out[ss], "R5.period").message
    assert only(out[bev], "R5.period").values == ["31.12.2023"]


def test_cross_field_rules(tmp_path):
    abh = csv_file(tmp_path, "abh_bestand", "2024-01",
                   [row("abh_bestand", 0), row("abh_bestand", 1, einreisedatum="01.02.2024")])
    jc = csv_file(tmp_path, "jobcenter", "2024-01",
                  [row("jobcenter", 0, elb="N", arbeitslos="J"), row("jobcenter", 1, elb="J", arbeitslos="J")])
    unt = write_xlsx(tmp_path / "unterbringung_2024-01.xlsx",
                     [unt_row(0), unt_row(1, Belegt=11), unt_row(2, Plaetze=5)])  # row 4: over-occupied
    out = gate_all(*(parse(p) for p in (abh, jc, unt)), today=dt.date(2024, 3, 1))
    f = only(out[abh], "R6.cross_field")
    assert f.lines == [3] and f.column == "einreisedatum"
    f = only(out[jc], "R6.cross_field")
    assert f.lines == [2] and f.values == ["elb=N; arbeitslos=J"]
    f = only(out[unt], "R6.cross_field")
    assert f.lines == [3] and f.column == "belegt" and f.values == ["belegt=11; Summe davon_=4+3+2+1=10"]
    w = only(out[unt], "W.over_occupancy")
    assert w.severity == "warning" and w.lines == [4]


def test_over_occupancy_alone_does_not_fail(tmp_path):
    unt = write_xlsx(tmp_path / "unterbringung_2024-01.xlsx", [unt_row(0, Plaetze=5)])
    out = gate_all(parse(unt))[unt]
    assert [f.rule for f in out] == ["W.over_occupancy"] and out[0].severity == "warning"


def test_header_only(tmp_path):
    jc = csv_file(tmp_path, "jobcenter", "2024-01", [])
    unt = write_xlsx(tmp_path / "unterbringung_2024-01.xlsx", [])
    einb = csv_file(tmp_path, "abh_einbuergerungen", "2024-01", [])
    out = gate_all(parse(jc), parse(unt), parse(einb))
    assert rules(out[jc]) == {"R7.header_only"} and rules(out[unt]) == {"R7.header_only"}
    assert out[einb] == []


def test_future_date(tmp_path):
    p = csv_file(tmp_path, "abh_bestand", "2024-01",
                 [row("abh_bestand", 0), row("abh_bestand", 1, einreisedatum="01.01.2030")])
    out = gate_all(parse(p), today=dt.date(2024, 2, 15))[p]
    f = only(out, "X.future_date")
    assert f.column == "einreisedatum" and f.lines == [3] and f.values == ["01.01.2030"]


# --------------------------------------------------------------------------- rule 8 and history rules


def jc_file(tmp_path: Path, period: str, n: int, ags=(A,)) -> Path:
    rows = [row("jobcenter", i, berichtsmonat=period, ags=ags[i % len(ags)]) for i in range(n)]
    return csv_file(tmp_path, "jobcenter", period, rows)


def test_volume_rule_against_history(tmp_path):
    hist = {"jobcenter": [FileStats("2023-11", 100, frozenset()), FileStats("2023-12", 10, frozenset()),
                          FileStats("2024-02", 100, frozenset())]}  # later periods are not "previous"
    p = jc_file(tmp_path, "2024-01", 14)  # +40 % against 2023-12
    parsed = parse(p)
    f = only(gate_all(parsed, history=hist)[p], "R8.volume")
    assert "+40 %" in f.message and "2023-12" in f.message and "10 → 14" in f.message
    assert f.values == ["2023-12: 10", "2024-01: 14"]
    # accepted by a person (imon accept): the same name and checksum pass
    assert gate_all(parsed, history=hist, accepted={(p.name, parsed.sha256)})[p] == []
    # acceptance is for these bytes only
    assert "R8.volume" in rules(gate_all(parsed, history=hist, accepted={(p.name, "0" * 64)})[p])
    # exactly 30 % is allowed
    (tmp_path / "b").mkdir()
    q = jc_file(tmp_path / "b", "2024-01", 13)
    assert gate_all(parse(q), history=hist)[q] == []


def test_volume_rule_within_one_call_and_exempt_types(tmp_path):
    files = [jc_file(tmp_path, "2024-01", 10), jc_file(tmp_path, "2024-02", 20), jc_file(tmp_path, "2024-03", 21)]
    out = gate_all(*(parse(p) for p in files))
    assert out[files[0]] == []
    assert only(out[files[1]], "R8.volume").values == ["2024-01: 10", "2024-02: 20"]
    # 2024-02 was rejected and is never loaded, so 2024-03 compares with 2024-01 (+110 %)
    assert only(out[files[2]], "R8.volume").values == ["2024-01: 10", "2024-03: 21"]
    # naturalisations are events: no volume rule
    hist = {"abh_einbuergerungen": [FileStats("2023-12", 100, frozenset())]}
    e = csv_file(tmp_path, "abh_einbuergerungen", "2024-01", [row("abh_einbuergerungen", 0)])
    assert gate_all(parse(e), history=hist)[e] == []


def test_school_file_truncated(tmp_path):
    hist = {"schulabgaenger": [FileStats("2023", 10, frozenset())]}
    p = csv_file(tmp_path, "schulabgaenger", "2024", [row("schulabgaenger", i) for i in range(4)])
    f = only(gate_all(parse(p), history=hist)[p], "X.school_truncated")
    assert "40 %" in f.message and f.values == ["2023: 10", "2024: 4"]
    q = csv_file(tmp_path, "schulabgaenger", "2024", [row("schulabgaenger", i) for i in range(6)])
    assert gate_all(parse(q), history=hist)[q] == []  # -40 % is normal movement for school files


def test_municipality_missing(tmp_path):
    hist = {"jobcenter": [FileStats("2023-12", 44, frozenset(GEMEINDEN))]}
    p = jc_file(tmp_path, "2024-01", 44, ags=GEMEINDEN[:43])  # the last one (Aichtal) missing
    f = only(gate_all(parse(p), history=hist)[p], "X.municipality_missing")
    assert f.values == [f"{GEMEINDEN[43]} Aichtal"] and f.row_count == 1
    # a previous period without all 44 municipalities is no yardstick
    hist2 = {"jobcenter": [FileStats("2023-12", 44, frozenset(GEMEINDEN[:40]))]}
    assert gate_all(parse(p), history=hist2)[p] == []


# --------------------------------------------------------------------------- second edition


def test_second_edition_raw_columns_and_types():
    """What raw.<file_type> holds for the four new sources (the staging models build on it)."""
    assert typed_schema(C["esu"]) == {
        "untersuchungsjahr": "VARCHAR", "kind_id": "VARCHAR", "untersuchungsdatum": "DATE", "geburtsjahr": "INTEGER",
        "geschlecht": "VARCHAR", "ags": "VARCHAR", "staatsangehoerigkeit": "VARCHAR", "familiensprache": "VARCHAR",
        "kita_monate": "INTEGER", "vorsorgeheft": "BOOLEAN", "u8": "BOOLEAN", "impfpass": "BOOLEAN",
        "masern_impfungen": "INTEGER", "sprachbefund": "VARCHAR"}
    assert typed_schema(C["kita"]) == {
        "stichtag": "DATE", "ags": "VARCHAR", "betreuungsart": "VARCHAR", "altersgruppe": "VARCHAR",
        "herkunft": "VARCHAR", "familiensprache": "VARCHAR", "kinder": "INTEGER"}
    assert typed_schema(C["hilfe_zur_pflege"]) == {
        "stichtag": "DATE", "person_id": "VARCHAR", "geburtsjahr": "INTEGER", "geschlecht": "VARCHAR",
        "staatsangehoerigkeit": "VARCHAR", "ags": "VARCHAR", "leistungsort": "VARCHAR", "pflegegrad": "INTEGER"}
    assert typed_schema(C["engagement"]) == {
        "jahr": "INTEGER", "ags": "VARCHAR", "integrationsgremium": "VARCHAR", "ehrenamtliche": "INTEGER",
        "migrantenorganisationen": "INTEGER"}
    assert {ft: (C[ft].provider, C[ft].encoding, C[ft].stock) for ft in ("esu", "kita", "hilfe_zur_pflege", "engagement")} == {
        "esu": ("gesundheitsamt", "utf-8", True), "kita": ("jugendamt", "utf-8", False),
        "hilfe_zur_pflege": ("sozialamt", "cp1252", True), "engagement": ("integration", "utf-8", False)}


def test_second_edition_clean_files_pass(tmp_path):
    esu = [row("esu", i) for i in range(4)]
    esu[1].update(vorsorgeheft="N", u8="", impfpass="N", masern_impfungen="", familiensprache="", kita_monate="")
    esu[2].update(untersuchungsdatum="01.08.2024", geburtsjahr="2017", kita_monate="72", masern_impfungen="0")
    esu[3].update(untersuchungsdatum="31.07.2025", geburtsjahr="2022", u8="N")
    eng = [row("engagement", i) for i in range(44)]
    eng[5].update(ehrenamtliche="", migrantenorganisationen="")  # did not answer
    files = [
        csv_file(tmp_path, "esu", "2024", esu),
        csv_file(tmp_path, "kita", "2024", [row("kita", i) for i in range(88)]),
        csv_file(tmp_path, "hilfe_zur_pflege", "2024",
                 [row("hilfe_zur_pflege", 0, person_id="Pflegefall-Müller"), row("hilfe_zur_pflege", 1, pflegegrad="1")]),
        csv_file(tmp_path, "engagement", "2024", eng),
    ]
    parsed = [parse(f) for f in files]
    out = gate_all(*parsed, today=dt.date(2025, 8, 15))
    assert all(v == [] for v in out.values()), out
    t = parsed[0].table
    assert t.column("u8").to_pylist() == [True, None, True, False]
    assert t.column("masern_impfungen").to_pylist() == [2, None, 0, 2]
    assert parsed[2].table.column("person_id").to_pylist()[0] == "Pflegefall-Müller"  # cp1252 decoded
    assert parsed[3].table.column("ehrenamtliche").to_pylist()[5] is None


def test_esu_cross_field_rules(tmp_path):
    rows = [row("esu", i) for i in range(8)]
    rows[1].update(u8="")  # line 3: booklet shown, U8 empty
    rows[2].update(vorsorgeheft="N", u8="N")  # line 4: no booklet, U8 filled
    rows[3].update(masern_impfungen="")  # line 5: record shown, measles empty
    rows[4].update(impfpass="N", masern_impfungen="0")  # line 6: no record, measles filled
    rows[5].update(untersuchungsdatum="31.07.2024")  # line 7: the day before the examination year
    rows[6].update(untersuchungsdatum="01.08.2025")  # line 8: the day after
    p = csv_file(tmp_path, "esu", "2024", rows)
    fs = gate_all(parse(p), today=dt.date(2026, 1, 1))[p]
    got = sorted((f.column, f.lines, f.values) for f in fs if f.rule == "R6.cross_field")
    assert got == [
        ("masern_impfungen", [5], ["impfpass=J; masern_impfungen="]),
        ("masern_impfungen", [6], ["impfpass=N; masern_impfungen=0"]),
        ("u8", [3], ["vorsorgeheft=J; u8="]),
        ("u8", [4], ["vorsorgeheft=N; u8=N"]),
        ("untersuchungsdatum", [7], ["31.07.2024"]),
        ("untersuchungsdatum", [8], ["01.08.2025"]),
    ]
    assert rules(fs) == {"R6.cross_field"}
    msgs = {f.message for f in fs}
    assert "Untersuchungsdatum liegt vor dem Untersuchungsjahr 2024/25 (01.08.2024 bis 31.07.2025)" in msgs
    assert "u8 ist leer, obwohl vorsorgeheft = J (leer genau dann, wenn vorsorgeheft = N)" in msgs
    # an invalid flag is R2.format, not also a cross-field finding
    (tmp_path / "q").mkdir()
    q = csv_file(tmp_path / "q", "esu", "2024", [row("esu", 0, vorsorgeheft="ja", u8="")])
    assert rules(gate_all(parse(q), today=dt.date(2026, 1, 1))[q]) == {"R2.format"}


def test_ranges_relative_to_the_period_and_maxima(tmp_path):
    rows = [row("esu", i) for i in range(5)]
    rows[0]["geburtsjahr"] = "2016"  # 2024 - 8
    rows[1]["geburtsjahr"] = "2023"  # 2024 - 1
    rows[2]["kita_monate"] = "73"
    rows[3]["masern_impfungen"] = "3"
    p = csv_file(tmp_path, "esu", "2024", rows)
    fs = [f for f in gate_all(parse(p), today=dt.date(2026, 1, 1))[p]]
    got = sorted((f.column, f.lines, f.message) for f in fs)
    assert got == [
        ("geburtsjahr", [2], "Wert liegt vor 2017 (erlaubt: 2017 bis 2022 für den Zeitraum 2024)"),
        ("geburtsjahr", [3], "Wert liegt nach 2022 (erlaubt: 2017 bis 2022 für den Zeitraum 2024)"),
        ("kita_monate", [4], "Wert größer als 72"),
        ("masern_impfungen", [5], "Wert größer als 2"),
    ]
    assert rules(fs) == {"R2.range"}
    h = csv_file(tmp_path, "hilfe_zur_pflege", "2024", [row("hilfe_zur_pflege", 0, pflegegrad="0"),
                                                       row("hilfe_zur_pflege", 1, pflegegrad="6"),
                                                       row("hilfe_zur_pflege", 2, geburtsjahr="2025")])
    got = sorted((f.column, f.lines, f.message) for f in gate_all(parse(h))[h])
    assert got == [("geburtsjahr", [4], "Wert liegt nach dem Berichtsjahr 2024"),
                   ("pflegegrad", [2], "Wert kleiner als 1"), ("pflegegrad", [3], "Wert größer als 5")]


def test_period_rules_of_the_new_types(tmp_path):
    k = csv_file(tmp_path, "kita", "2024", [row("kita", 0, stichtag="31.12.2024"), row("kita", 1)])
    f = only(gate_all(parse(k))[k], "R5.period")
    assert f.message == "Stichtag passt nicht zum Dateinamen (erwartet 01.03.2024)" and f.lines == [2]
    e = csv_file(tmp_path, "engagement", "2024", [row("engagement", i, jahr="2023" if i == 7 else "2024")
                                                  for i in range(44)])
    f = only(gate_all(parse(e))[e], "R5.period")
    assert f.message == "Jahr passt nicht zum Dateinamen (erwartet 2024)" and f.lines == [9] and f.column == "jahr"
    u = csv_file(tmp_path, "esu", "2024", [row("esu", 0, untersuchungsjahr="2023/24")])
    f = only(gate_all(parse(u), today=dt.date(2026, 1, 1))[u], "R5.period")
    assert "erwartet 2024/25" in f.message


def test_engagement_needs_each_municipality_exactly_once(tmp_path):
    rows = [row("engagement", i) for i in range(44)]
    names = gate.municipality_names()
    missing = rows.pop(10)  # line 12 gone
    p = csv_file(tmp_path, "engagement", "2024", rows)
    f = only(gate_all(parse(p))[p], "R7.municipalities")
    assert f.severity == "error" and f.column == "ags" and f.row_count == 1
    assert f.values == [f"{missing['ags']} {names[missing['ags']]}"]
    assert f.message == f"1 der 44 Gemeinden fehlt in der Umfrage: {missing['ags']} {names[missing['ags']]}"
    rows.insert(10, dict(rows[20]))  # the same municipality twice: lines 12 and 23 (moved down by one)
    (tmp_path / "b").mkdir()
    q = csv_file(tmp_path / "b", "engagement", "2024", rows)
    fs = gate_all(parse(q))[q]
    assert rules(fs) == {"R7.municipalities", "R4.duplicate_key"}
    r7 = [f for f in fs if f.rule == "R7.municipalities"]
    assert len(r7) == 2  # one missing, one repeated
    rep = next(f for f in r7 if "mehrfach" in f.message)
    ags = rows[10]["ags"]
    assert rep.lines == [12, 23] and rep.values == [f"{ags} {names[ags]}"] * 2
    assert f"{ags} {names[ags]} (Zeilen 12, 23)" in rep.message
    # a missing ags column is one finding, not 44 missing municipalities
    (tmp_path / "c").mkdir()
    hdr = [h for h in HEADERS["engagement"] if h != "ags"]
    c = write_csv(tmp_path / "c" / "engagement_2024.csv", hdr, [row("engagement", i) for i in range(44)])
    assert rules(gate_all(parse(c))[c]) == {"R2.missing_column"}


def test_kita_truncation_blocks_only_a_cut_file_and_can_be_accepted(tmp_path):
    full = [row("kita", i) for i in range(88)]  # 44 municipalities x 2 age groups
    hist = {"kita": [FileStats("2023", 88, frozenset(GEMEINDEN))]}
    # normal movement: 20 % fewer rows, three small places without day care this year
    normal = [r for r in full if r["ags"] not in GEMEINDEN[-3:]][:70]
    p = csv_file(tmp_path, "kita", "2024", normal)
    assert gate_all(parse(p), history=hist)[p] == []
    # cut off after the first quarter: rows and municipalities gone
    (tmp_path / "cut").mkdir()
    q = csv_file(tmp_path / "cut", "kita", "2024", full[:22])
    pq = parse(q)
    f = only(gate_all(pq, history=hist)[q], "X.kita_truncated")
    assert f.severity == "error" and f.values[:2] == ["2023: 88", "2024: 22"]
    assert "Nur 25 % der Zeilen des Vorjahres 2023 (88 → 22 Zeilen), 22 von 44 Gemeinden" in f.message
    assert "imon accept" in gate.next_step("X.kita_truncated", "error", pq)
    assert gate_all(pq, history=hist, accepted={(q.name, pq.sha256)})[q] == []
    # as many rows, but a quarter of the municipalities gone at once is a cut too
    (tmp_path / "m").mkdir()
    few = [dict(r, ags=GEMEINDEN[i % 30]) for i, r in enumerate(full)]
    for i, r in enumerate(few):
        r["altersgruppe"] = ["unter_3", "3_bis_unter_6"][(i // 30) % 2]
        r["herkunft"] = ["auslaendisch", "nicht_auslaendisch"][(i // 60) % 2]
    m = csv_file(tmp_path / "m", "kita", "2024", few)
    assert rules(gate_all(parse(m), history=hist)[m]) == {"X.kita_truncated"}
    # other aggregated files are not judged by it, nor is a kita file without a year before
    assert gate_all(parse(q))[q] == []


def test_second_edition_volume_rule(tmp_path):
    hist = {"hilfe_zur_pflege": [FileStats("2023", 10, frozenset())], "esu": [FileStats("2023", 10, frozenset())]}
    h = csv_file(tmp_path, "hilfe_zur_pflege", "2024", [row("hilfe_zur_pflege", i) for i in range(14)])
    assert only(gate_all(parse(h), history=hist)[h], "R8.volume").values == ["2023: 10", "2024: 14"]
    e = csv_file(tmp_path, "esu", "2024", [row("esu", i) for i in range(13)])
    assert gate_all(parse(e), history=hist, today=dt.date(2026, 1, 1))[e] == []  # +30 % is allowed
    # the engagement survey and the day-care file are exempt from rule 8
    hist2 = {"kita": [FileStats("2023", 60, frozenset(GEMEINDEN))]}
    k = csv_file(tmp_path, "kita", "2024", [row("kita", i) for i in range(88)])
    assert gate_all(parse(k), history=hist2)[k] == []


# --------------------------------------------------------------------------- batches, lines, reports


def test_batch_attributes_findings_to_the_right_file(tmp_path):
    f1 = jc_file(tmp_path, "2024-01", 5)
    rows = [row("jobcenter", i, berichtsmonat="2024-02") for i in range(5)]
    rows[2]["geschlecht"] = "q"  # file 2, line 4
    f2 = csv_file(tmp_path, "jobcenter", "2024-02", rows)
    rows = [row("jobcenter", i, berichtsmonat="2024-03") for i in range(5)]
    rows[0]["person_id"] = rows[4]["person_id"] = "dup"  # file 3, lines 2 and 6
    f3 = csv_file(tmp_path, "jobcenter", "2024-03", rows)
    out = gate_all(*(parse(p) for p in (f1, f2, f3)))
    assert out[f1] == []  # same person_ids as file 2 and 3: keys are unique per file, not per batch
    assert [(f.rule, f.lines, f.values) for f in out[f2]] == [("R3.code", [4], ["q"])]
    assert [(f.rule, f.lines) for f in out[f3]] == [("R4.duplicate_key", [2, 6])]


def test_line_numbers_with_quoted_line_breaks_and_blank_lines(tmp_path):
    r = [row("schulstatistik", i) for i in range(4)]
    lines = [";".join(HEADERS["schulstatistik"])]
    r[0]["schulname"] = '"GS Am\nPark"'  # record 1 spans lines 2-3
    r[2]["schueler"] = "-2"  # record 3 starts on line 6 (after a blank line 5)
    lines += [";".join(r[0].values()), ";".join(r[1].values()), "", ";".join(r[2].values()),
              ";;;;;;;;", ";".join(r[3].values())]  # a row of empty cells is skipped, not an error
    p = tmp_path / "schulstatistik_2024.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = parse(p)
    assert parsed.table.column("_line").to_pylist() == [2, 4, 6, 8]
    assert parsed.table.column("schulname").to_pylist()[0] == "GS Am\nPark"
    f = only(gate_all(parsed)[p], "R2.range")
    assert f.lines == [6]


def test_report_files(tmp_path):
    rows = [row("jobcenter", i) for i in range(4)]
    rows[3]["person_id"] = "p1"
    rows[2]["geschlecht"] = ""
    p = csv_file(tmp_path, "jobcenter", "2024-01", rows)
    parsed = parse(p)
    findings = gate_all(parsed)[p]
    txt, js = write_report(parsed, findings, tmp_path / "reports")
    assert txt.name == "jobcenter_2024-01.csv.report.txt" and js.name == "jobcenter_2024-01.csv.report.json"
    text = txt.read_text(encoding="utf-8")
    assert "jobcenter_2024-01.csv" in text and "ABGELEHNT" in text
    assert "Regel 4 der Liefervereinbarung (R4.duplicate_key)" in text
    assert "Zeilen (Kopfzeile = 1): 3, 5" in text and "Zeile 5: »p1«" in text
    assert "Regel 2 der Liefervereinbarung (R2.null)" in text and "Spalte:    geschlecht" in text
    assert "Datei korrigieren und erneut liefern" in text
    d = json.loads(js.read_text(encoding="utf-8"))
    assert d["passed"] is False and d["sha256"] == parsed.sha256
    dup = next(f for f in d["findings"] if f["rule"] == "R4.duplicate_key")
    assert dup["lines"] == [3, 5] and dup["values"] == ["p1", "p1"] and dup["rule_number"] == 4


def test_volume_report_says_how_to_accept(tmp_path):
    p = jc_file(tmp_path, "2024-01", 20)
    parsed = parse(p)
    findings = gate_all(parsed, history={"jobcenter": [FileStats("2023-12", 10, frozenset())]})[p]
    txt, _ = write_report(parsed, findings, tmp_path)
    text = txt.read_text(encoding="utf-8")
    assert 'imon accept jobcenter_2024-01.csv --reason "<Begründung>"' in text
    assert "Regel 8" in text and "10 → 20" in text


def test_passing_file_report_and_data_docs(tmp_path):
    p = jc_file(tmp_path, "2024-01", 3)
    bad = csv_file(tmp_path, "abh_bestand", "2024-01", [row("abh_bestand", 0, aufenthaltsstatus="XYZ")])
    parsed = parse(p)
    gate_all(parsed, parse(bad))
    txt, _ = write_report(parsed, [], tmp_path)
    assert "ANGENOMMEN" in txt.read_text(encoding="utf-8")
    index = render_data_docs(tmp_path / "docs")
    page = index.read_text(encoding="utf-8")
    assert index.name == "index.html"
    assert "jobcenter_2024-01.csv" in page and "expect_compound_columns_to_be_unique" in page
    assert "abh_bestand_2024-01.csv: 1" in page and "XYZ" in page
    assert "https://" not in page  # self-contained: opens on an offline machine


def test_empty_key_is_null_not_duplicate(tmp_path):
    rows = [row("jobcenter", i) for i in range(4)]
    rows[1]["person_id"] = rows[2]["person_id"] = ""
    p = csv_file(tmp_path, "jobcenter", "2024-01", rows)
    out = gate_all(parse(p))[p]
    assert [(f.rule, f.column, f.lines) for f in out] == [("R2.null", "person_id", [3, 4])]
    header = [h for h in HEADERS["jobcenter"] if h != "person_id"]
    q = write_csv(tmp_path / "jobcenter_2024-02.csv", header,
                  [row("jobcenter", i, berichtsmonat="2024-02") for i in range(3)])
    assert rules(gate_all(parse(q))[q]) == {"R2.missing_column"}
