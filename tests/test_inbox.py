"""The inbox as operators and providers use it (issue 10): what counts as a delivery, files
still being written, hostile files, a missing inbox, re-deliveries, a valid month with a
municipality that has no rows. Real files, real `imon` processes on a clone of the refreshed
state (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import duckdb
import pytest

from conftest import BIN, NEXT_MONTH, REPO, env_for, imon

PERIOD_BEFORE = "2025-01"  # the last loaded month of the refreshed state


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def clone(refreshed: Path, root: Path) -> tuple[Path, Path, dict[str, str]]:
    data, landing = root / "data", root / "landing"
    shutil.copytree(refreshed / "data", data, ignore=shutil.ignore_patterns("*.lock"))
    landing.mkdir(parents=True, exist_ok=True)
    return data, landing, env_for(data, landing)


def put(src: Path, landing: Path, rel: str) -> Path:
    dest = landing / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def published_files(data: Path) -> dict[str, str]:
    """file name -> checksum of the latest published refresh."""
    con = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
    try:
        return dict(con.execute("""SELECT file_name, sha256 FROM refresh_files WHERE refresh_id =
                                     (SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1)""").fetchall())
    finally:
        con.close()


def raw_rows(data: Path, file_type: str, period: str) -> int:
    con = duckdb.connect(str(data / "warehouse" / "internal.duckdb"), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM raw.{file_type} WHERE period = ?", [period]).fetchone()[0]
    finally:
        con.close()


def data_lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) - 1


# --- 5. a landing folder that does not exist ------------------------------------------------------


def test_missing_landing_dir_is_an_error_that_names_it(refreshed, tmp_path):
    data, _, env = clone(refreshed, tmp_path)
    missing = tmp_path / "landng"  # a typo
    env["IMON_LANDING_DIR"] = str(missing)
    for args in (("refresh",), ("refresh", "--full"), ("status",)):
        proc = imon(*args, env=env, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, (args, out)
        assert "Nichts Neues" not in out and "0 Datei(en) warten" not in out
        last = proc.stdout.strip().splitlines()[-1]
        assert str(missing) in last and "existiert nicht" in last, last
    assert not missing.exists()


# --- 4. 6. 1. what is a delivery; a re-delivery; a month with a municipality without rows ----------


@pytest.fixture(scope="module")
def mixed_inbox(refreshed, next_month_files, base_extracts, tmp_path_factory):
    """One refresh of an inbox holding real deliveries beside things that are none."""
    from sources.faults import drop_one_municipality

    root = tmp_path_factory.mktemp("mixed")
    data, landing, env = clone(refreshed, root)
    jc_next, abh_next = next_month_files["jobcenter"], next_month_files["abh_bestand"]
    # deliveries: a new month of abh_bestand; a valid jobcenter month in which the smallest
    # municipality has no rows; a re-delivery (changed) of a loaded jobcenter month
    put(abh_next, landing, f"auslaenderbehoerde/{abh_next.name}")
    gone = drop_one_municipality(jc_next, landing / "jobcenter" / jc_next.name)
    redelivered = landing / "jobcenter" / f"jobcenter_{PERIOD_BEFORE}.csv"
    lines = (base_extracts / "jobcenter" / redelivered.name).read_bytes().splitlines(keepends=True)
    redelivered.write_bytes(b"".join(lines[:-1]))  # one person fewer
    # none of these is a delivery: never read, left where they are
    decoy = tmp_path_factory.mktemp("decoy") / jc_next.name
    decoy.write_bytes(jc_next.read_bytes().replace(b";08116", b";99999"))  # would fail the gate if read
    none = {
        "nested_unknown": put(decoy, landing, f"alt/jobcenter/{jc_next.name}"),
        "nested_provider": put(decoy, landing, f"jobcenter/alt/{jc_next.name}"),
        "wrong_folder": put(decoy, landing, f"schulen/jobcenter_2025-03.csv"),
        "top_level": put(decoy, landing, "jobcenter_2025-04.csv"),
    }
    link = landing / "jobcenter" / "jobcenter_2025-05.csv"
    link.symlink_to("/etc/passwd")
    none["symlink"] = link
    fifo = landing / "jobcenter" / "jobcenter_2025-06.csv"
    os.mkfifo(fifo)  # opening it for reading would block the refresh for ever
    none["fifo"] = fifo
    jc_rows = data_lines(landing / "jobcenter" / jc_next.name)
    status = imon("status", env=env, timeout=120)
    proc = imon("refresh", env=env, timeout=900)
    return {"data": data, "landing": landing, "env": env, "proc": proc, "status": status, "none": none,
            "gone": gone, "jc_rows": jc_rows, "jc": landing / "jobcenter" / jc_next.name, "redelivered": redelivered,
            "redelivered_sha": hashlib.sha256(b"".join(lines[:-1])).hexdigest(), "abh": abh_next}


def test_valid_month_with_a_municipality_without_rows_loads(mixed_inbox):
    r = mixed_inbox
    out = r["proc"].stdout + r["proc"].stderr
    assert r["proc"].returncode == 0, out[-4000:]
    assert r["proc"].stdout.strip().splitlines()[-1].startswith("VERÖFFENTLICHT")
    files = published_files(r["data"])
    assert r["jc"].name in files and r["abh"].name in files
    assert not (r["data"] / "quarantine").exists() or not any((r["data"] / "quarantine").iterdir())
    assert f"Hinweis: {r['jc'].name}: 1 Gemeinde(n) des vorigen Zeitraums {PERIOD_BEFORE} ohne Zeilen" in out
    con = duckdb.connect(str(r["data"] / "warehouse" / "internal.duckdb"), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM raw.jobcenter WHERE period = ? AND ags = ?",
                        [NEXT_MONTH, r["gone"]]).fetchone()[0]
        passed = con.execute("SELECT warnings FROM meta.gate_passed WHERE file_name = ?", [r["jc"].name]).fetchall()
    finally:
        con.close()
    assert n == 0 and passed and passed[0][0] >= 1, "the month without rows for one municipality must be loaded"


def test_redelivery_is_named_as_such(mixed_inbox):
    r = mixed_inbox
    stdout = r["proc"].stdout
    assert f"Hinweis: Neulieferung für {PERIOD_BEFORE} ersetzt den geladenen Stand: {r['redelivered'].name}" in stdout
    assert published_files(r["data"])[r["redelivered"].name] == r["redelivered_sha"]
    assert not r["redelivered"].exists()


def test_same_bytes_under_another_name_are_gated_as_a_new_delivery(refreshed, base_extracts, tmp_path):
    """The bytes of a loaded file under another period's name passed the gate once, as that
    other period: they are gated again under the new name (rule 5: the period in the content
    is not the name's), whether the name is new or a loaded one. The same name with the same
    bytes stays an unchanged re-delivery that is not gated (also the population file)."""
    data, landing, env = clone(refreshed, tmp_path)
    before = published_files(data)
    jc = base_extracts / "jobcenter"
    copies = {  # name in the inbox -> the loaded file whose bytes it carries
        f"jobcenter_{NEXT_MONTH}.csv": jc / f"jobcenter_{PERIOD_BEFORE}.csv",  # a new name
        f"jobcenter_{PERIOD_BEFORE}.csv": jc / "jobcenter_2024-12.csv",  # a loaded name, other bytes
    }
    for name, src in copies.items():
        put(src, landing, f"jobcenter/{name}")
    same = [put(jc / "jobcenter_2024-11.csv", landing, "jobcenter/jobcenter_2024-11.csv"),
            put(base_extracts / "bevoelkerung" / "bevoelkerung_2024.csv", landing, "bevoelkerung/bevoelkerung_2024.csv")]
    proc = imon("refresh", env=env, check_rc=2)
    out = proc.stdout
    assert f"BLOCKIERT: 2 Datei(en) abgelehnt" in out, out[-3000:]
    reports = {}
    for js in (data / "quarantine").glob("*.report.json"):
        d = json.loads(js.read_text(encoding="utf-8"))
        reports[d["file"]] = {f["rule"] for f in d["findings"] if f["severity"] == "error"}
    assert set(reports) == set(copies), reports
    assert all("R5.period" in rules for rules in reports.values()), reports
    for name, src in copies.items():
        quarantined = [q for q in (data / "quarantine").glob(f"*_{name}")]
        assert [q.read_bytes() for q in quarantined] == [src.read_bytes()], quarantined  # nothing lost
        assert not (landing / "jobcenter" / name).exists()
    run_log = Path(next(ln for ln in out.splitlines() if ln.startswith("Laufprotokoll: ")).split(": ", 1)[1])
    logged = run_log.read_text(encoding="utf-8")
    for f in same:
        assert f"{f.name}: unverändert (gleiche Prüfsumme wie geladen)" in logged, logged[-3000:]
        assert not f.exists()
    assert published_files(data) == before  # nothing loaded, nothing published
    assert raw_rows(data, "jobcenter", NEXT_MONTH) == 0
    con = duckdb.connect(str(data / "warehouse" / "internal.duckdb"), read_only=True)
    try:
        current = dict(con.execute("SELECT file_name, sha256 FROM meta.file_versions WHERE is_current").fetchall())
    finally:
        con.close()
    assert current[f"jobcenter_{PERIOD_BEFORE}.csv"] == sha256(jc / f"jobcenter_{PERIOD_BEFORE}.csv")


def test_only_files_directly_in_a_provider_folder_are_deliveries(mixed_inbox):
    r = mixed_inbox
    out = r["proc"].stdout + r["proc"].stderr
    none = r["none"]
    for key, path in none.items():
        assert path.is_symlink() or path.exists(), f"{key}: must be left where it is"
    # the decoys (ags 99999, would fail the gate) were never read: the month loaded is the real one
    assert raw_rows(r["data"], "jobcenter", NEXT_MONTH) == r["jc_rows"]
    assert not {p.name for p in none.values()} & set(published_files(r["data"])) - {r["jc"].name}
    expect = {
        "nested_unknown": (str(r["landing"] / "alt"), "kein Lieferantenordner"),
        "nested_provider": (str(r["landing"] / "jobcenter" / "alt"), "Unterordner"),
        "wrong_folder": (str(none["wrong_folder"]), "gehört in den Ordner jobcenter/"),
        "top_level": (str(none["top_level"]), "gehört in den Ordner jobcenter/"),
        "symlink": (str(none["symlink"]), "symbolischer Verweis"),
        "fifo": (str(none["fifo"]), "keine gewöhnliche Datei"),
    }
    for key, (path, words) in expect.items():
        hit = [ln for ln in r["proc"].stdout.splitlines() if ln.startswith(f"Hinweis: {path}:")]
        assert hit and words in hit[0], (key, r["proc"].stdout[:3000])
        assert any(path in ln and words in ln for ln in r["status"].stdout.splitlines()), (key, r["status"].stdout)
    assert "passt zu keinem Dateimuster" not in out
    assert "root:" not in out  # the first line of /etc/passwd
    assert "auslaenderbehoerde" in r["status"].stdout and "3 Datei(en) warten" in r["status"].stdout
    quarantine = r["data"] / "quarantine"
    assert not quarantine.exists() or not any(quarantine.iterdir())


def test_same_named_rejected_files_keep_their_own_quarantine_copy(tmp_path, next_month_files, monkeypatch):
    """Two rejected files of one name in the same second: two copies, two reports."""
    from orchestration.extracts import parse_file
    from orchestration.gate import check_files
    from orchestration.ingest import _quarantine, original_name, resolve_quarantined
    from orchestration.settings import get_settings
    from sources.contracts import identify

    monkeypatch.setenv("IMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IMON_LANDING_DIR", str(tmp_path / "landing"))
    settings = get_settings()
    src = next_month_files["jobcenter"]
    copies = []
    for k, payload in enumerate((b"keine CSV\n", b"berichtsmonat\n")):
        f = tmp_path / "landing" / "jobcenter" / src.name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(payload)
        contract, period = identify(f)
        p = parse_file(f, contract, period)
        q = _quarantine(settings, p, p.findings + check_files([p], {}, set(), __import__("datetime").date.today())[f],
                        "20261201T020000")
        copies.append((q, payload))
        assert not f.exists()
    (q1, b1), (q2, b2) = copies
    assert q1.path != q2.path and q1.report_txt != q2.report_txt
    assert q1.path.read_bytes() == b1 and q2.path.read_bytes() == b2
    assert original_name(q2.path.name) == src.name and q2.report_txt.exists() and q1.report_txt.exists()
    assert resolve_quarantined(settings, Path(src.name)) == q2.path  # `imon accept NAME`: the latest


# --- 2. a file still being written ------------------------------------------------------------------


def test_file_growing_while_read_stays_in_the_inbox_and_loads_next_time(refreshed, next_month_files, tmp_path):
    """A provider copies the Jobcenter month over a share while `imon refresh` reads it: the
    refresh pauses right after reading the first part (test hook), a writer thread appends the
    rest. That version is not loaded; the next refresh loads the whole file."""
    data, landing, env = clone(refreshed, tmp_path)
    full = next_month_files["jobcenter"].read_bytes()
    cut = full.index(b"\n", len(full) // 2) + 1
    dest = landing / "jobcenter" / next_month_files["jobcenter"].name
    dest.parent.mkdir()
    dest.write_bytes(full[:cut])
    markers = tmp_path / "markers"
    env_paused = dict(env, IMON_PAUSE_AT=f"read:{dest.name}", IMON_PAUSE_SECONDS="4",
                      IMON_PAUSE_MARKER_DIR=str(markers))
    before = published_files(data)

    def writer():
        deadline = time.monotonic() + 600
        while not (markers / f"paused-read:{dest.name}").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        with open(dest, "ab") as f:  # the rest of the copy arrives, in pieces
            rest = full[cut:]
            for i in range(0, len(rest), 4096):
                f.write(rest[i:i + 4096])
                f.flush()

    t = threading.Thread(target=writer)
    t.start()
    proc = imon("refresh", env=env_paused, timeout=900)
    t.join()
    out = proc.stdout + proc.stderr
    assert (markers / f"paused-read:{dest.name}").exists(), "the refresh never read the file"
    assert proc.returncode == 0, out[-4000:]
    assert f"Hinweis: {dest.name}: wird noch geschrieben" in proc.stdout, proc.stdout[-3000:]
    assert dest.read_bytes() == full, "the inbox file must stay, whole"
    assert raw_rows(data, "jobcenter", NEXT_MONTH) == 0, "a half-read file was loaded"
    assert not list((data / "archive").rglob(f"jobcenter_{NEXT_MONTH}*"))
    assert published_files(data) == before
    assert not (data / "quarantine").exists() or not any((data / "quarantine").iterdir())

    proc = imon("refresh", env=env, timeout=900, check_rc=0)
    assert raw_rows(data, "jobcenter", NEXT_MONTH) == data_lines(next_month_files["jobcenter"])
    (archived,) = list((data / "archive").rglob(f"jobcenter_{NEXT_MONTH}*"))
    assert sha256(archived) == hashlib.sha256(full).hexdigest() == published_files(data)[dest.name]
    assert archived.name == f"jobcenter_{NEXT_MONTH}.{hashlib.sha256(full).hexdigest()[:16]}.csv"
    assert not dest.exists()


# --- 3. hostile files ---------------------------------------------------------------------------------

_CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
       'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
       'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
       '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
       '<sheet name="Belegung" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               'spreadsheetml/2006/main">')


def write_xlsx_raw(path: Path, dimension: str, rows) -> Path:
    """An XLSX written part by part (as a hostile producer could): `rows` yields sheet XML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WB)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write((_SHEET_HEAD + f'<dimension ref="{dimension}"/><sheetData>').encode())
            for chunk in rows:
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")
    return path


def _header_row() -> bytes:
    cols = ["Stichtag", "Einrichtung_ID", "Einrichtung", "Art", "AGS", "Plaetze", "Belegt", "davon_Gestattung",
            "davon_Schutzstatus", "davon_Duldung", "davon_Sonstige", "Auszuege_privat"]
    cells = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{c}</t></is></c>' for i, c in enumerate(cols))
    return f'<row r="1">{cells}</row>'.encode()


def _many_rows(n: int):
    """n rows without cell positions (a producer may leave them out), values that do not
    compress away (so neither the unpacked size nor the ratio bound is what stops it)."""
    import random

    rnd = random.Random(1)
    yield _header_row()
    for start in range(0, n, 20000):
        yield "".join(f"<row><c><v>{rnd.randrange(10**6)}</v></c></row>" for _ in range(min(20000, n - start))).encode()


@pytest.fixture(scope="module")
def hostile(refreshed, next_month_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    data, landing, env = clone(refreshed, root)
    files = {}
    # the 6 KB XLSX whose sheet claims A1:XFD1048576, one cell at the far corner
    files["corner"] = write_xlsx_raw(landing / "wohnen" / "unterbringung_2025-02.xlsx", "A1:XFD1048576",
                                     [_header_row(), b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'])
    # a small XLSX with 3 million rows
    files["rows"] = write_xlsx_raw(landing / "wohnen" / "unterbringung_2025-03.xlsx", "A1:L2",  # claims 2 rows
                                   _many_rows(3_000_000))
    # a CSV field over 131,072 characters (with a quoted line break) in person_id
    lines = next_month_files["jobcenter"].read_bytes().split(b"\n")
    header = lines[0].decode("utf-8-sig").split(";")
    pid = header.index("person_id")
    fields = lines[5].split(b";")
    fields[pid] = b'"' + b"x" * 100_000 + b"\n" + b"y" * 100_000 + b'"'
    lines[5] = b";".join(fields)
    files["field"] = landing / "jobcenter" / next_month_files["jobcenter"].name
    files["field"].parent.mkdir(parents=True)
    files["field"].write_bytes(b"\n".join(lines))
    # a header of thousands of columns
    abh = next_month_files["abh_bestand"].read_bytes().split(b"\n")
    abh[0] = abh[0].rstrip(b"\r") + b"".join(b";extra%d" % i for i in range(5000))
    files["columns"] = landing / "auslaenderbehoerde" / next_month_files["abh_bestand"].name
    files["columns"].parent.mkdir(parents=True)
    files["columns"].write_bytes(b"\n".join(abh))
    shas = {k: sha256(p) for k, p in files.items()}
    sizes = {k: p.stat().st_size for k, p in files.items()}

    stdout, stderr = root / "stdout", root / "stderr"
    t0 = time.monotonic()
    with open(stdout, "w") as o, open(stderr, "w") as e:
        p = subprocess.Popen([str(BIN / "imon"), "refresh"], env=env, stdout=o, stderr=e, cwd=REPO)
        _, status, usage = os.wait4(p.pid, 0)
    seconds = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    again = imon("refresh", env=env, timeout=600)
    return {"data": data, "landing": landing, "files": files, "shas": shas, "sizes": sizes, "rc": p.returncode,
            "stdout": stdout.read_text(), "stderr": stderr.read_text(), "max_rss_mb": usage.ru_maxrss / 1024,
            "seconds": seconds, "again": again}


def test_hostile_files_are_quarantined_with_a_report(hostile):
    h = hostile
    assert h["sizes"]["corner"] < 8_000 and h["sizes"]["rows"] < 40_000_000
    assert h["rc"] == 2, (h["rc"], h["stdout"][-3000:], h["stderr"][-3000:])
    # the outcome block starts with its BLOCKIERT line (reports and what to do follow it)
    outcome = [ln for ln in h["stdout"].splitlines() if ln.startswith(("BLOCKIERT", "FEHLER", "VERÖFFENTLICHT", "Nichts"))]
    assert outcome and outcome[-1].startswith("BLOCKIERT"), h["stdout"][-3000:]
    expect = {  # file -> words of the finding, line
        "corner": ("beansprucht laut Bereichsangabe 1.048.576 Zeilen und 16.384 Spalten", None),
        "rows": ("reicht bis mindestens 200.001 Zeilen", None),
        "field": ("länger als 131.072 Zeichen", 6),
        "columns": ("Die Kopfzeile hat 5.008 Spalten", 1),
    }
    for key, (words, line) in expect.items():
        name = h["files"][key].name
        assert not h["files"][key].exists(), f"{key}: must leave the inbox"
        (q,) = [p for p in (h["data"] / "quarantine").glob(f"*_{name}")]
        assert sha256(q) == h["shas"][key]
        report = json.loads(q.with_name(q.name + ".report.json").read_text(encoding="utf-8"))
        (f,) = [f for f in report["findings"] if f["severity"] == "error"]
        assert f["rule"] == "R1.format" and words in f["message"], (key, f["message"])
        if line is not None:
            assert f["lines"] == [line], (key, f)
        txt = q.with_name(q.name + ".report.txt").read_text(encoding="utf-8")
        assert name in txt and "R1.format" in txt and len(txt) < 20_000
        assert f"Bericht: {q.with_name(q.name + '.report.txt')}" in h["stdout"]


def test_hostile_files_stay_within_time_and_memory(hostile):
    # before: the corner cell killed the process (rc 134, 512 GiB asked for); 3 million rows
    # took 108 s and 5.4 GB
    assert hostile["max_rss_mb"] < 2_500, hostile["max_rss_mb"]
    assert hostile["seconds"] < 300, hostile["seconds"]


def test_next_refresh_after_hostile_files_runs_normally(hostile):
    again = hostile["again"]
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Nichts Neues" in again.stdout.strip().splitlines()[-1]


def test_accepting_a_file_makes_it_the_basis_for_the_later_months(tmp_path, monkeypatch):
    """2024-02 jumps +100 % (real), 2024-03 stays at the new level: both blocked, 2024-03
    because it is compared with 2024-01. Accepting 2024-02 puts 2024-03 back into the inbox
    too; gated against the accepted month, it passes (no accept needed)."""
    import datetime as dt

    from orchestration.extracts import parse_file
    from orchestration.gate import FileStats, check_files
    from orchestration.ingest import _quarantine, record_acceptance, scan_inbox
    from orchestration.settings import get_settings
    from test_gate import jc_file

    monkeypatch.setenv("IMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IMON_LANDING_DIR", str(tmp_path / "landing"))
    settings = get_settings()
    inbox = tmp_path / "landing" / "jobcenter"
    inbox.mkdir(parents=True)
    history = {"jobcenter": [FileStats("2024-01", 10, frozenset())]}
    files = [jc_file(inbox, "2024-02", 20), jc_file(inbox, "2024-03", 21)]
    # something else quarantined for a judgement rule: another type, and a contract error
    other = jc_file(tmp_path, "2024-04", 20)
    other.write_text(other.read_text(encoding="utf-8").replace(";w;", ";q;"), encoding="utf-8")
    other = shutil.move(str(other), inbox / other.name)

    def gate(accepted=frozenset()):
        found, _ = scan_inbox(settings.landing_dir)
        parsed = [parse_file(f.path, f.contract, f.period) for f in found]
        res = check_files(parsed, history, set(accepted), dt.date(2025, 6, 30))
        return parsed, {p.path.name: {x.rule for x in p.findings + res[p.path] if x.severity == "error"} for p in parsed}

    parsed, rules = gate()
    assert rules == {"jobcenter_2024-02.csv": {"R8.volume"}, "jobcenter_2024-03.csv": {"R8.volume"},
                     "jobcenter_2024-04.csv": {"R3.code", "R8.volume"}}
    res = check_files(parsed, history, set(), dt.date(2025, 6, 30))
    for p in parsed:
        _quarantine(settings, p, p.findings + res[p.path], "20261201T020000")
    assert not list(inbox.iterdir())

    entry = record_acceptance(settings, Path("jobcenter_2024-02.csv"), "Rechtskreiswechsel", by="tester")
    assert entry["moved_to"] == str(inbox / "jobcenter_2024-02.csv")
    assert entry["requeued"] == [str(inbox / "jobcenter_2024-03.csv")]  # not 2024-04: a contract error
    parsed, rules = gate(accepted={("jobcenter_2024-02.csv", entry["sha256"])})
    assert rules == {"jobcenter_2024-02.csv": set(), "jobcenter_2024-03.csv": set()}
