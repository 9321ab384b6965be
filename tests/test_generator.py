"""The synthetic-extract generator (sources/generator.py) and the fault injector (sources/faults.py).

Real files on disk, read back with plain csv/openpyxl (independent of the pipeline's parser):
formats of docs/contract/sources.md, consistency rules the gate enforces, determinism, and that
every fault breaks its file exactly where it says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from orchestration.gate import MUNICIPALITIES_GONE_MIN, MUNICIPALITIES_GONE_SHARE
from sources.contracts import load_contracts
from sources.faults import FAULTS, FaultNotApplicable, pick_source
from sources.generator import generate
from sources.generators.common import REFERENCE_DIR

C = load_contracts()
ENCODING = {"utf-8-sig": "utf-8-sig", "cp1252": "cp1252", "utf-8": "utf-8"}
DATE = re.compile(r"^\d{2}\.\d{2}\.\d{4}$")
START, MONTHS, SCALE, SEED = "2023-07", 16, 0.03, 5  # two school years, two population files


def _ref(name: str, col: str = "code", where=None) -> set[str]:
    with open(REFERENCE_DIR / name, encoding="utf-8", newline="") as f:
        return {r[col] for r in csv.DictReader(f) if where is None or where(r)}


AGS = _ref("gemeinden.csv", "ags")
NAT = _ref("staatsangehoerigkeit.csv", where=lambda r: r["historisch"] == "N")
STATUS = _ref("aufenthaltsstatus.csv")


# ----------------------------------------------------------------------------- reading helpers


def ftype(path: Path) -> str:
    for c in C.values():
        if c.match(path.name):
            return c.file_type
    raise AssertionError(path)


def read(path: Path) -> list[dict]:
    """Rows as dicts keyed by the lowercase, stripped contract column name; values as text."""
    c = C[ftype(path)]
    if c.format == "xlsx":
        ws = openpyxl.load_workbook(path, read_only=True)[c.sheet]
        rows = list(ws.iter_rows(values_only=True))
        head = [str(h).strip().lower() for h in rows[0]]
        return [dict(zip(head, r)) for r in rows[1:]]
    text = path.read_bytes().decode(ENCODING[c.encoding])
    rd = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    head = [h.strip().lower() for h in next(rd)]
    return [dict(zip(head, r)) for r in rd]


def header(path: Path) -> list[str]:
    c = C[ftype(path)]
    if c.format == "xlsx":
        ws = openpyxl.load_workbook(path, read_only=True)[c.sheet]
        return [str(h) for h in next(ws.iter_rows(values_only=True))]
    text = path.read_bytes().decode(ENCODING[c.encoding])
    return next(csv.reader([text.splitlines()[0]], delimiter=";"))


def files(root: Path, file_type: str) -> list[Path]:
    c = C[file_type]
    return sorted((p for p in (root / c.provider).iterdir() if c.match(p.name)), key=lambda p: c.match(p.name))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, start=START, months=MONTHS, scale=SCALE, seed=SEED)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The smallest supported scale, a year before the 2024 naturalisation reform."""
    out = tmp_path_factory.mktemp("tiny")
    generate(out, start="2023-01", months=12, scale=0.01, seed=2)
    return out


# ----------------------------------------------------------------------------- which files, which format


def test_file_set(corpus):
    names = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    months = [f"{2023 + (6 + i) // 12}-{(6 + i) % 12 + 1:02d}" for i in range(MONTHS)]
    expected = sorted(
        [f"jobcenter/jobcenter_{m}.csv" for m in months]
        + [f"auslaenderbehoerde/abh_bestand_{m}.csv" for m in months]
        + [f"auslaenderbehoerde/abh_einbuergerungen_{m}.csv" for m in months]
        + [f"wohnen/unterbringung_{m}.xlsx" for m in months]
        # 31.12.2022 (year before the start) and 31.12.2023; Dec 2024 is outside the window
        + ["bevoelkerung/bevoelkerung_2022.csv", "bevoelkerung/bevoelkerung_2023.csv"]
        # statistics days Oct 2023 and Oct 2024; school years ending July 2023 and July 2024
        + ["schulen/schulstatistik_2023.csv", "schulen/schulstatistik_2024.csv",
           "schulen/schulabgaenger_2022.csv", "schulen/schulabgaenger_2023.csv"]
        # examination years ending July 2023 and July 2024; day care on 1 March 2024;
        # care assistance and the engagement survey on 31 December 2023
        + ["gesundheitsamt/esu_2022.csv", "gesundheitsamt/esu_2023.csv", "jugendamt/kita_2024.csv",
           "sozialamt/hilfe_zur_pflege_2023.csv", "integration/engagement_2023.csv"]
    )
    assert names == expected


def test_encodings_and_line_ends(corpus):
    boms = Counter()
    for p in corpus.rglob("*.csv"):
        c = C[ftype(p)]
        data = p.read_bytes()
        data.decode(ENCODING[c.encoding])  # strict: raises on an undecodable byte
        if c.file_type == "jobcenter":
            boms[data.startswith(b"\xef\xbb\xbf")] += 1
        else:
            assert not data.startswith(b"\xef\xbb\xbf"), p.name
        if c.encoding == "cp1252":
            assert b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n"), p.name  # Windows line ends
        else:
            assert b"\r" not in data, p.name
    assert boms[True] and boms[False], boms  # the BOM comes on some jobcenter files only
    # School names carry umlauts, UTF-8 encoded.
    text = files(corpus, "schulstatistik")[0].read_bytes().decode("utf-8")
    assert re.search("[äöüÄÖÜß]", text)


def test_headers_match_contract(corpus):
    variants = set()
    for p in (q for q in corpus.rglob("*") if q.is_file()):
        c = C[ftype(p)]
        h = header(p)
        assert sorted(x.strip().lower() for x in h) == sorted(c.column_names), p.name
        variants.add(tuple(x.strip().lower() for x in h) == tuple(c.column_names))
        variants.add("case" if any(x.strip() != x.strip().lower() for x in h) and c.format == "csv" else "")
    assert True in variants and False in variants  # column order differs between files
    assert "case" in variants  # header spelling varies a little


def test_every_line_has_all_fields(corpus):
    for p in corpus.rglob("*.csv"):
        c = C[ftype(p)]
        text = p.read_bytes().decode(ENCODING[c.encoding])
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
        assert {len(r) for r in rows} == {len(c.columns)}, p.name


def test_value_formats(corpus):
    for p in (q for q in corpus.rglob("*") if q.is_file()):
        c = C[ftype(p)]
        period = c.match(p.name)
        rows = read(p)
        for col in c.columns:
            vals = [r[col.name] for r in rows]
            if c.format == "xlsx":
                if col.type == "date":
                    assert all(isinstance(v, dt.datetime) or DATE.match(v) for v in vals), p.name
                continue
            if not col.nullable:
                assert all(v != "" for v in vals), (p.name, col.name)
            if col.type == "date":
                assert all(DATE.match(v) for v in vals), (p.name, col.name)
                for v in set(vals):
                    dt.datetime.strptime(v, "%d.%m.%Y")
            elif col.type in ("int", "count"):
                nums = [v for v in vals if v != ""]  # empty only where nullable (checked above)
                assert all(re.fullmatch(r"-?\d+", v) for v in nums), (p.name, col.name)
                if col.type == "count":
                    assert all(int(v) >= 0 for v in nums)
                lo = col.min if col.min_from_period is None else int(period[:4]) + col.min_from_period
                hi = col.max if col.max_from_period is None else int(period[:4]) + col.max_from_period
                assert all((lo is None or int(v) >= lo) and (hi is None or int(v) <= hi) for v in nums), \
                    (p.name, col.name)
            elif col.type == "flag":
                assert set(vals) <= {"J", "N", ""}, (p.name, col.name)
            elif col.type == "month":
                assert set(vals) <= {period}
            elif col.name == c.period_column and c.period_of == "year_int":
                assert set(vals) == {period}, (p.name, col.name)
            elif col.type == "school_year":
                assert set(vals) <= {f"{period}/{(int(period) + 1) % 100:02d}"}
            elif col.type == "ags":
                assert set(vals) <= AGS
            elif col.values:
                assert set(vals) - {""} <= set(col.values), (p.name, col.name, set(vals) - set(col.values))
            elif col.reference == "staatsangehoerigkeit.code":
                assert set(vals) <= NAT and (not col.exclude or "000" not in vals), (p.name, col.name)
            elif col.reference == "aufenthaltsstatus.code":
                assert set(vals) <= STATUS
            if col.pattern:
                assert all(re.fullmatch(col.pattern, v) for v in vals)


def test_xlsx_sheet_and_dates(corpus):
    kinds = set()
    for p in files(corpus, "unterbringung"):
        wb = openpyxl.load_workbook(p)
        assert "Belegung" in wb.sheetnames
        ws = wb["Belegung"]
        head = [str(c.value).strip().lower() for c in ws[1]]
        j = head.index("stichtag") + 1
        ags = head.index("ags") + 1
        period = C["unterbringung"].match(p.name)
        y, m = int(period[:4]), int(period[5:])
        end = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1))
        for r in range(2, ws.max_row + 1):
            v = ws.cell(r, j).value
            kinds.add(type(v))
            assert (v.date() if isinstance(v, dt.datetime) else dt.datetime.strptime(v, "%d.%m.%Y").date()) == end
            assert ws.cell(r, ags).data_type == "s"  # AGS as text, leading zero kept
    assert kinds == {dt.datetime, str}  # real date cells on most files, text on some


def test_population_dense(corpus):
    for p in files(corpus, "bevoelkerung"):
        rows = read(p)
        keys = {(r["ags"], r["geschlecht"], r["altersgruppe"], r["staatsangehoerigkeit"]) for r in rows}
        assert len(rows) == len(keys) == 44 * 2 * 6 * 2
        assert {r["stichtag"] for r in rows} == {f"31.12.{C['bevoelkerung'].match(p.name)}"}
        total = sum(int(r["anzahl"]) for r in rows)
        foreign = sum(int(r["anzahl"]) for r in rows if r["staatsangehoerigkeit"] == "auslaendisch")
        assert 540_000 * SCALE * 0.9 < total < 540_000 * SCALE * 1.1
        assert 0.15 < foreign / total < 0.30


# ----------------------------------------------------------------------------- consistency the gate demands


def test_keys_unique(corpus):
    for p in (q for q in corpus.rglob("*") if q.is_file()):
        c = C[ftype(p)]
        rows = read(p)
        keys = [tuple(r[k] for k in c.key) for r in rows]
        assert len(keys) == len(set(keys)), p.name


def test_cross_field_rules(corpus):
    for p in files(corpus, "jobcenter"):
        year = int(C["jobcenter"].match(p.name)[:4])
        for r in read(p):
            assert not (r["arbeitslos"] == "J" and r["elb"] == "N")
            assert 1900 <= int(r["geburtsjahr"]) <= year
    for p in files(corpus, "abh_bestand"):
        for r in read(p):
            st = dt.datetime.strptime(r["stichtag"], "%d.%m.%Y")
            assert dt.datetime.strptime(r["einreisedatum"], "%d.%m.%Y") <= st
            assert 1900 <= int(r["geburtsjahr"]) <= st.year
            assert int(r["geburtsjahr"]) <= int(r["einreisedatum"][-4:])
    for p in files(corpus, "abh_einbuergerungen"):
        period = C["abh_einbuergerungen"].match(p.name)
        for r in read(p):
            assert r["einbuergerungsdatum"][3:] == f"{period[5:]}.{period[:4]}"
    over = 0
    for p in files(corpus, "unterbringung"):
        for r in read(p):
            assert r["belegt"] == sum(r[k] for k in ("davon_gestattung", "davon_schutzstatus",
                                                     "davon_duldung", "davon_sonstige"))
            over += r["belegt"] > r["plaetze"]
    assert over > 0  # over-occupancy happens now and then (a warning, not an error)


@pytest.mark.parametrize("which", ["corpus", "tiny"])
def test_volume_stable_and_all_municipalities(which, request):
    root = request.getfixturevalue(which)
    for ft in ("jobcenter", "abh_bestand", "unterbringung", "bevoelkerung"):
        counts = [len(read(p)) for p in files(root, ft)]
        for a, b in zip(counts, counts[1:]):
            assert abs(b - a) / a < 0.30, (ft, counts)
        if ft == "unterbringung":
            ids = [{r["einrichtung_id"] for r in read(p)} for p in files(root, ft)]
            assert all(len(a & b) >= 0.8 * len(a) for a, b in zip(ids, ids[1:]))  # mostly the same facilities
            assert min(counts) >= 6
    for ft in ("jobcenter", "abh_bestand"):
        for p in files(root, ft):
            assert {r["ags"] for r in read(p)} == AGS, p.name


@pytest.mark.parametrize("which", ["corpus", "tiny"])
def test_sgb2_rate_of_foreigners_stays_below_100(which, request):
    """ARB-01 (auslaendisch): foreigners under 65 on SGB II in a month over the foreign
    residents under 65 of the December before. The Jobcenter and the register are simulated
    apart; the population file keeps at least twice the Jobcenter's foreigners in every
    place, so even a village at the smallest scale cannot show a rate above 100 %."""
    root = request.getfixturevalue(which)
    pops = {int(C["bevoelkerung"].match(p.name)): read(p) for p in files(root, "bevoelkerung")}
    checked = 0
    for p in files(root, "jobcenter"):
        y = int(C["jobcenter"].match(p.name)[:4])
        den = Counter()
        for r in pops[y - 1]:
            if r["staatsangehoerigkeit"] == "auslaendisch" and r["altersgruppe"] != "65+":
                den[r["ags"]] += int(r["anzahl"])
        num = Counter(r["ags"] for r in read(p) if r["staatsangehoerigkeit"] != "000" and y - int(r["geburtsjahr"]) <= 64)
        assert all(2 * n <= den[a] for a, n in num.items()), p.name
        checked += 1
    assert checked >= 12


def test_people_persist_and_naturalisations_leave_the_register(corpus):
    bestand = files(corpus, "abh_bestand")
    nat = files(corpus, "abh_einbuergerungen")
    decided = 0
    for prev_p, cur_p, nat_p in zip(bestand, bestand[1:], nat[1:]):
        prev = {r["person_id"]: r for r in read(prev_p)}
        cur = {r["person_id"]: r for r in read(cur_p)}
        assert len(prev.keys() & cur.keys()) > 0.95 * len(prev)
        for r in read(nat_p):
            assert r["person_id"] in prev and r["person_id"] not in cur
            before = prev[r["person_id"]]
            assert r["bisherige_staatsangehoerigkeit"] == before["staatsangehoerigkeit"]
            assert (r["ags"], r["geburtsjahr"], r["geschlecht"]) == (before["ags"], before["geburtsjahr"], before["geschlecht"])
        decided += sum(1 for k in prev.keys() & cur.keys() if prev[k]["aufenthaltsstatus"] == "GESTATTUNG"
                       and cur[k]["aufenthaltsstatus"] in ("AE_FLUECHTLING", "AE_SUBSIDIAER", "AE_ASYL",
                                                           "AE_ABSCHIEBUNGSVERBOT", "DULDUNG"))
    assert decided > 0  # asylum decisions happen
    jc = files(corpus, "jobcenter")
    a, b = ({r["person_id"] for r in read(p)} for p in jc[:2])
    assert 0.9 * len(a) < len(a & b) < len(a)  # caseload persists, with exits


def test_header_only_naturalisation_files(tiny):
    sizes = {p.name: len(read(p)) for p in files(tiny, "abh_einbuergerungen")}
    empty = [n for n, k in sizes.items() if k == 0]
    assert empty and len(empty) < len(sizes), sizes
    for name in empty:
        lines = (tiny / "auslaenderbehoerde" / name).read_bytes().decode("cp1252").splitlines()
        assert len(lines) == 1 and "einbuergerungsdatum" in lines[0].lower()


# ----------------------------------------------------------------------------- realism / variety


@pytest.fixture(scope="module")
def years(tmp_path_factory) -> Path:
    """Four years of every yearly file, among them the four second-edition sources."""
    out = tmp_path_factory.mktemp("years")
    generate(out, start="2021-01", months=48, scale=0.02, seed=11)
    return out


def _ints(rows, col):
    return [int(r[col]) for r in rows if r[col] != ""]


def test_second_edition_files_for_every_year(years):
    for ft, expected in [("esu", ["2020", "2021", "2022", "2023"]), ("kita", ["2021", "2022", "2023", "2024"]),
                         ("hilfe_zur_pflege", ["2021", "2022", "2023", "2024"]),
                         ("engagement", ["2021", "2022", "2023", "2024"])]:
        assert [C[ft].match(p.name) for p in files(years, ft)] == expected, ft


def test_second_edition_sizes_at_district_scale():
    """Scale 1.0 is the district: about 5,200 examined children a year, 19,000 children in day
    care, 1,400 people on long-term care assistance. Drawn from a population built the way
    generate() builds it (the register at district scale), without writing a district's months."""
    import numpy as np

    from sources.generators import auslaenderbehoerde, bevoelkerung, gesundheitsamt, jugendamt, sozialamt
    from sources.generators.common import Reference, month_index

    ref = Reference.load()
    register = auslaenderbehoerde.Foreigners(np.random.default_rng(3), ref, 1.0, month_index("2022-12"), 5)
    pop22 = bevoelkerung.population(3, ref, 1.0, 2022, register.population_counts(2022))
    under6 = pop22.loc[pop22["altersgruppe"] == "00-05", "anzahl"].sum()
    assert 26_000 < under6 < 34_000
    esu = gesundheitsamt.esu(3, ref, 1.0, 2022, pop22, 9)
    assert 4_600 < len(esu) < 5_800
    kita = jugendamt.kita(3, ref, 1.0, 2023, pop22)
    assert 17_000 < kita["kinder"].sum() < 21_000
    assert 0.5 < kita["kinder"].sum() / under6 < 0.75  # REG-03: day-care rate of the under-6s
    care = sozialamt.Care(3, ref, 1.0, 9)
    for y in (2022, 2023, 2024):
        n = len(care.frame(y))
        assert 1_250 < n < 1_650, (y, n)
    assert sozialamt.CARE_PERSONS == 1_400 and gesundheitsamt.ESU_CHILDREN == 5_200 and jugendamt.KITA_CHILDREN == 19_000


def test_esu_rows_follow_the_contract_and_vary(years):
    langs, befunde, kita_empty, short = Counter(), Counter(), 0, 0
    for p in files(years, "esu"):
        y = int(C["esu"].match(p.name))
        rows = read(p)
        assert 80 < len(rows) < 160, (p.name, len(rows))  # ~5,200 x 0.02
        for r in rows:
            assert (r["u8"] == "") == (r["vorsorgeheft"] == "N"), r
            assert (r["masern_impfungen"] == "") == (r["impfpass"] == "N"), r
            day = dt.datetime.strptime(r["untersuchungsdatum"], "%d.%m.%Y").date()
            assert dt.date(y, 8, 1) <= day <= dt.date(y + 1, 7, 31) and day.weekday() < 5
            assert y - 7 <= int(r["geburtsjahr"]) <= y - 2
            assert r["masern_impfungen"] in ("", "0", "1", "2")
        langs.update(r["familiensprache"] for r in rows)
        befunde.update(r["sprachbefund"] for r in rows)
        kita_empty += sum(r["kita_monate"] == "" for r in rows)
        short += sum(m < 24 for m in _ints(rows, "kita_monate"))
        assert {r["staatsangehoerigkeit"] for r in rows} == {"deutsch", "auslaendisch"}
        assert {r["u8"] for r in rows} == {"J", "N", ""} and {r["masern_impfungen"] for r in rows} >= {"2", ""}
    assert set(langs) == {"deutsch", "deutsch_und_andere", "andere", ""}  # empty now and then
    assert 0 < langs[""] < 0.1 * sum(langs.values())
    assert set(befunde) == set(C["esu"].column("sprachbefund").values)
    assert kita_empty > 0 and short > 0  # REG-01 has something to count


def test_kita_counts_where_the_kita_stands(years):
    totals = []
    for p in files(years, "kita"):
        y = C["kita"].match(p.name)
        rows = read(p)
        assert {r["stichtag"] for r in rows} == {f"01.03.{y}"}
        assert {r["ags"] for r in rows} == AGS  # every municipality has day care
        assert all(int(r["kinder"]) > 0 for r in rows)  # cells without children are left out
        for col in ("betreuungsart", "altersgruppe", "herkunft", "familiensprache"):
            assert {r[col] for r in rows} == set(C["kita"].column(col).values), col
        total = sum(int(r["kinder"]) for r in rows)
        foreign = sum(int(r["kinder"]) for r in rows if r["herkunft"] == "auslaendisch")
        assert 0.2 < foreign / total < 0.6
        totals.append(total)
    assert all(19_000 * 0.02 * 0.75 < t < 19_000 * 0.02 * 1.3 for t in totals), totals
    assert len(set(totals)) > 1  # counts move from year to year


def test_care_register_persists_between_years(years):
    regs = [read(p) for p in files(years, "hilfe_zur_pflege")]
    for p, rows in zip(files(years, "hilfe_zur_pflege"), regs):
        y = int(C["hilfe_zur_pflege"].match(p.name))
        assert {r["stichtag"] for r in rows} == {f"31.12.{y}"}
        assert all(1 <= int(r["pflegegrad"]) <= 5 and 1900 <= int(r["geburtsjahr"]) <= y for r in rows)
        assert sum(y - int(r["geburtsjahr"]) >= 65 for r in rows) > 0.6 * len(rows)
        assert {r["leistungsort"] for r in rows} == {"ambulant", "stationaer"}
    for a, b in zip(regs, regs[1:]):
        ids_a, ids_b = {r["person_id"] for r in a}, {r["person_id"] for r in b}
        assert 0.3 * len(ids_a) < len(ids_a & ids_b) < len(ids_a)  # stays, with deaths and new entries
        assert abs(len(b) - len(a)) <= 0.3 * len(a)  # rule 8
    assert any(r["staatsangehoerigkeit"] != "000" for rows in regs for r in rows)


def test_engagement_survey_all_municipalities_some_silent(years):
    answers = []
    for p in files(years, "engagement"):
        rows = read(p)
        assert sorted(r["ags"] for r in rows) == sorted(AGS)  # exactly the 44, once each
        assert {r["jahr"] for r in rows} == {C["engagement"].match(p.name)}
        silent = [r for r in rows if r["ehrenamtliche"] == ""]
        assert 0 < len(silent) < 44 // 2
        answers.append({r["ags"]: r["ehrenamtliche"] for r in rows})
        assert len({r["integrationsgremium"] for r in rows}) >= 3
    assert any(a[k] != b[k] for a, b in zip(answers, answers[1:]) for k in a if a[k] and b[k])


@pytest.mark.parametrize("scale, seed", [(0.02, 11), (0.05, 12)])
def test_generated_second_edition_files_pass_the_gate(scale, seed, years, tmp_path):
    """Every generated file of the four new types passes the real gate, the cross-file rules
    (rule 8, the day-care truncation check) included, with each year against the one before."""
    from orchestration.extracts import parse_file
    from orchestration.gate import check_files

    root = years
    if (scale, seed) != (0.02, 11):
        root = tmp_path / "gen"
        generate(root, start="2022-01", months=36, scale=scale, seed=seed)
    for ft in ("esu", "kita", "hilfe_zur_pflege", "engagement"):
        c = C[ft]
        parsed = [parse_file(p, c, c.match(p.name)) for p in files(root, ft)]
        assert len(parsed) >= 2
        res = check_files(parsed, {}, set(), dt.date(2030, 1, 1))
        for p in parsed:
            errors = [(f.rule, f.message) for f in p.findings + res[p.path] if f.severity == "error"]
            assert not errors, (p.path.name, errors)
            assert p.row_count > 0



def test_variety_for_every_indicator(corpus):
    jc = read(files(corpus, "jobcenter")[-1])
    year = int(jc[0]["berichtsmonat"][:4])
    german = sum(r["staatsangehoerigkeit"] == "000" for r in jc) / len(jc)
    assert 0.35 < german < 0.65
    foreign = [r for r in jc if r["staatsangehoerigkeit"] != "000"]
    assert 0.25 < sum(r["fluchtkontext"] == "J" for r in foreign) / len(foreign) < 0.5
    ages = [year - int(r["geburtsjahr"]) for r in jc]
    assert min(ages) == 0 and max(ages) >= 70 and any(64 < a for a in ages)
    flucht_elb = [r for r in jc if r["elb"] == "J" and r["fluchtkontext"] == "J"]
    assert {r["integrationskurs"] for r in flucht_elb} == {"", "kein", "laufend", "abgeschlossen_b1",
                                                           "abgeschlossen_unter_b1", "abgebrochen"}
    elb = [r for r in jc if r["elb"] == "J"]
    assert 0.003 < sum(r["integration_beschaeftigung"] == "J" for r in elb) / len(elb) < 0.06
    assert 0.15 < sum(r["erwerbstaetig"] == "J" for r in elb) / len(elb) < 0.35
    assert 0.2 < sum(r["arbeitslos"] == "J" for r in elb) / len(elb) < 0.5
    # small municipalities with 1 or 2 people: the confidentiality rule gets exercised
    assert min(Counter(r["ags"] for r in jc).values()) <= 2

    abh = read(files(corpus, "abh_bestand")[-1])
    assert 118_000 * SCALE * 0.9 < len(abh) < 130_000 * SCALE * 1.1
    nat = Counter(r["staatsangehoerigkeit"] for r in abh)
    assert nat.most_common(1)[0][0] == "163"  # Turkey leads
    assert {"130", "137", "134", "154", "475", "423", "166"} <= set(nat)
    status = Counter(r["aufenthaltsstatus"] for r in abh)
    assert {"EU_FREIZUEGIGKEIT", "NE", "GESTATTUNG", "DULDUNG", "AE_VORUEBERGEHEND"} <= set(status)
    assert 0.35 < status["EU_FREIZUEGIGKEIT"] / len(abh) < 0.5
    eu = _ref("staatsangehoerigkeit.csv", where=lambda r: r["eu"] == "J" or r["ewr_ch"] == "J")
    assert all(r["aufenthaltsstatus"] == "EU_FREIZUEGIGKEIT" for r in abh if r["staatsangehoerigkeit"] in eu)

    unt = [r for p in files(corpus, "unterbringung") for r in read(p)]
    assert {r["art"] for r in unt} == {"VU", "AU"}
    assert sum(r["auszuege_privat"] for r in unt) > 0
    assert sum(r["davon_schutzstatus"] for r in unt if r["art"] == "VU") > 0

    pupils = read(files(corpus, "schulstatistik")[-1])
    assert any(r["klassenstufe"] in ("VKL", "VABO") for r in pupils)
    assert any(r["schulart"] == "GY" and r["klassenstufe"] in {str(g) for g in range(5, 11)} for r in pupils)
    assert {"deutsch", "auslaendisch"} == {r["staatsangehoerigkeit"] for r in pupils}
    assert len({r["schulnummer"] for r in pupils}) >= 8
    assert {r["schulart"] for r in pupils} == set(C["schulstatistik"].column("schulart").values)
    leavers = read(files(corpus, "schulabgaenger")[-1])
    assert any(r["abschluss"] == "ohne_hsa" for r in leavers)
    assert {"hsa", "msa", "ahr"} <= {r["abschluss"] for r in leavers}


def test_deterministic_by_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    pa = generate(a, start="2023-11", months=2, scale=0.02, seed=9)
    pb = generate(b, start="2023-11", months=2, scale=0.02, seed=9)
    generate(c, start="2023-11", months=2, scale=0.02, seed=10)
    assert [p.relative_to(a) for p in pa] == [p.relative_to(b) for p in pb]
    # monthly x2, population 2022 + 2023, care assistance and engagement 2023; no October, no
    # March, no July: no school, day-care or examination files
    assert len(pa) == 4 * 2 + 2 + 2
    for p in pa:
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes(), p.name
    assert all(p.read_bytes() != (c / p.relative_to(a)).read_bytes() for p in pa)


def test_bad_arguments(tmp_path):
    for kwargs, word in [({"start": "2023-13"}, "--start"), ({"start": "2023-1"}, "--start"),
                         ({"start": "x"}, "--start"), ({"months": 0}, "--months"), ({"months": -3}, "--months"),
                         ({"scale": 0}, "--scale"), ({"scale": float("nan")}, "--scale"), ({"seed": -1}, "--seed")]:
        with pytest.raises(ValueError, match=word):
            generate(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing written before the arguments are checked


@pytest.mark.parametrize("args, word", [
    (["--start", "2025-13"], "--start"), (["--months", "-1"], "--months"), (["--scale", "0"], "--scale"),
])
def test_cli_bad_arguments_exit_64_with_a_german_message(args, word, tmp_path):
    from conftest import BIN, REPO

    proc = subprocess.run([str(BIN / "imon"), "generate", "--out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 64, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("FEHLER: " + word) and "Traceback" not in proc.stderr + proc.stdout
    assert "erwartet" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_later_window_reproduces_the_files_it_shares(tmp_path):
    """issue 10: `imon generate --start <next month> --months 1` after a longer run writes the
    next month of the same district and rewrites the files both windows hold (the population
    of the December before) byte for byte, so a refresh sees an unchanged re-delivery."""
    first, nxt, whole = tmp_path / "first", tmp_path / "next", tmp_path / "whole"
    a = generate(first, start="2023-11", months=2, scale=0.02, seed=4)
    b = generate(nxt, start="2024-01", months=1, scale=0.02, seed=4)
    c = generate(whole, start="2023-11", months=3, scale=0.02, seed=4)
    rel = lambda root, ps: {p.relative_to(root).as_posix() for p in ps}  # noqa: E731
    shared = rel(first, a) & rel(nxt, b)
    assert shared == {"bevoelkerung/bevoelkerung_2023.csv"}
    for name in shared:
        assert (first / name).read_bytes() == (nxt / name).read_bytes(), name
    # the next month is the continuation of the earlier one, not a new district
    assert rel(first, a) | rel(nxt, b) == rel(whole, c)
    for name in rel(first, a) | rel(nxt, b):
        src = first / name if (first / name).exists() else nxt / name
        assert src.read_bytes() == (whole / name).read_bytes(), name


# ----------------------------------------------------------------------------- faults


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.split(b"\n")


def _cell(line: bytes, file_type: str, header_line: bytes, column: str) -> str:
    enc = "cp1252" if C[file_type].encoding == "cp1252" else "utf-8"
    head = [h.strip().lower() for h in next(csv.reader([header_line.decode(enc).rstrip("\r")], delimiter=";"))]
    return next(csv.reader([line.decode(enc).rstrip("\r")], delimiter=";"))[head.index(column)]


def _sheet(path: Path) -> list[tuple]:
    return list(openpyxl.load_workbook(path)["Belegung"].iter_rows(values_only=True))


def test_fault_registry():
    rules = {f.rule for f in FAULTS.values()}
    assert rules == {"R1.encoding", "R1.format", "R1.sheet", "R2.missing_column", "R2.format", "R2.range",
                     "R2.null", "R3.code", "R4.duplicate_key", "R5.period", "R6.cross_field", "R7.header_only",
                     "R7.municipalities", "R8.volume", "X.future_date", "X.municipality_missing",
                     "X.school_truncated", "X.kita_truncated"}
    assert {f.file_types[0] for f in FAULTS.values() if f.rule == "R6.cross_field"} == {
        "jobcenter", "abh_bestand", "unterbringung", "esu"}
    # every cross-field rule of esu on its own: the examination year, u8 both ways, measles
    assert {k for k in FAULTS if k.startswith("R6.cross_field:esu")} == {
        "R6.cross_field:esu", "R6.cross_field:esu:u8", "R6.cross_field:esu:u8_ohne_heft", "R6.cross_field:esu:masern"}
    assert {f.file_types[0] for f in FAULTS.values() if f.rule == "R8.volume"} == {
        c.file_type for c in C.values() if c.stock}
    for rule in ("R1.format", "R2.missing_column", "R2.format", "R2.null", "R3.code", "R4.duplicate_key",
                 "R5.period"):
        assert {f.file_types[0] for f in FAULTS.values() if f.rule == rule} == set(C), rule
    assert "R7.header_only:abh_einbuergerungen" not in FAULTS  # header-only is legal there
    assert all(k.startswith(f"{f.rule}:{f.file_types[0]}") and k.count(":") in (1, 2) for k, f in FAULTS.items())


@pytest.mark.parametrize("key", [k for k in FAULTS if not k.startswith("X.future_date")])
def test_fault_changes_the_file_where_it_says(key, corpus, years, tmp_path):
    fault = FAULTS[key]
    ft = fault.file_types[0]
    src = pick_source(corpus, fault) or pick_source(years, fault)  # years: yearly types with a year before
    assert src is not None, key
    dst = tmp_path / src.parent.name / src.name
    exp = fault.apply(src, dst)
    assert exp.rule == fault.rule
    assert dst.read_bytes() != src.read_bytes()
    is_xlsx = C[ft].format == "xlsx"

    if exp.line is not None:
        if is_xlsx:
            clean, broken = _sheet(src), _sheet(dst)
            head = [str(h).strip().lower() for h in clean[0]]
            r = exp.line - 1
            if fault.rule == "R4.duplicate_key":
                assert broken[r] == clean[r]
                ids = [row[head.index("einrichtung_id")] for row in broken[1:]]
                assert ids.count(clean[r][head.index("einrichtung_id")]) == 2
            else:
                j = head.index(exp.column)
                assert broken[r][j] != clean[r][j]
                assert [row for k, row in enumerate(broken) if k != r] == [row for k, row in enumerate(clean) if k != r]
            return
        clean, broken = _lines(src), _lines(dst)
        L = exp.line - 1
        if fault.rule == "R4.duplicate_key":
            assert broken[L] == clean[L] and broken.count(clean[L]) == 2 and broken[:L] == clean[:L]
            return
        # exactly the stated line changed, all others are byte-identical
        assert broken[L] != clean[L]
        assert broken[:L] == clean[:L] and broken[L + 1:] == clean[L + 1:]
        if fault.rule == "R1.encoding":
            enc = "cp1252" if C[ft].encoding == "cp1252" else "utf-8"
            clean[L].decode(enc)
            with pytest.raises(UnicodeDecodeError):
                broken[L].decode(enc)
        else:
            assert _cell(broken[L], ft, broken[0], exp.column) != _cell(clean[L], ft, clean[0], exp.column)
        return

    # file- or column-level faults
    if fault.rule == "R1.format":
        if is_xlsx:
            with pytest.raises(Exception):
                openpyxl.load_workbook(dst)
        else:
            assert b"\x00" in dst.read_bytes()
    elif fault.rule == "R1.sheet":
        assert "Belegung" not in openpyxl.load_workbook(dst).sheetnames
    elif fault.rule == "R2.missing_column":
        assert exp.column in [h.strip().lower() for h in header(src)]
        assert exp.column not in [h.strip().lower() for h in header(dst)]
        assert len(read(dst)) == len(read(src))
    else:
        n_src, rows = len(read(src)), read(dst)
        if fault.rule == "R7.header_only":
            assert rows == [] and n_src > 0
        elif fault.rule == "R8.volume":
            assert len(rows) < 0.7 * n_src
        elif fault.rule in ("X.school_truncated", "X.kita_truncated"):
            assert len(rows) < 0.5 * n_src
        elif fault.rule == "R7.municipalities":
            assert len(rows) == n_src - 1 and len({r["ags"] for r in read(src)} - {r["ags"] for r in rows}) == 1
        elif fault.rule == "X.municipality_missing":
            before = {r["ags"] for r in read(src)}
            gone = before - {r["ags"] for r in rows}
            # enough whole municipalities for the gate's truncation threshold (one alone is a warning)
            assert len(gone) >= max(MUNICIPALITIES_GONE_MIN, MUNICIPALITIES_GONE_SHARE * len(before))
            assert exp.column == "ags"
            assert 0.7 * n_src < len(rows) < n_src  # far from the volume rule
        else:
            raise AssertionError(f"unchecked fault {key}")


def test_future_date_fault(tmp_path):
    today = dt.date.today()
    out = tmp_path / "now"
    generate(out, start=f"{today:%Y-%m}", months=1, scale=0.05, seed=3)
    fault = FAULTS["X.future_date:abh_einbuergerungen"]
    src = pick_source(out, fault)
    if src is None:
        pytest.skip("heute ist Monatsletzter oder der Monat hat keine Einbürgerungen")
    dst = tmp_path / "broken" / src.name
    exp = fault.apply(src, dst)
    dates = [dt.datetime.strptime(r["einbuergerungsdatum"], "%d.%m.%Y").date() for r in read(dst)]
    assert dates[exp.line - 2] > today
    assert all(d <= today for k, d in enumerate(dates) if k != exp.line - 2)
    assert len(dates) == len(read(src))
    with pytest.raises(ValueError):  # the copy must keep the file name (file type and period)
        fault.apply(src, tmp_path / "x" / "abh_einbuergerungen_2020-01.csv")


def test_fault_not_applicable(tiny, tmp_path):
    # a past month cannot carry a future date consistent with its name
    past = next(p for p in files(tiny, "abh_einbuergerungen") if read(p))
    with pytest.raises(FaultNotApplicable):
        FAULTS["X.future_date:abh_einbuergerungen"].apply(past, tmp_path / past.name)
    empty = next(p for p in files(tiny, "abh_einbuergerungen") if not read(p))
    with pytest.raises(FaultNotApplicable):
        FAULTS["R2.null:abh_einbuergerungen"].apply(empty, tmp_path / empty.name)
    with pytest.raises(FaultNotApplicable):
        FAULTS["X.future_date:abh_einbuergerungen"].apply(empty, tmp_path / empty.name)


def test_one_generator_module_per_provider():
    """The generator is split the way the contracts are (issue 17): one module per provider
    folder of sources/contracts.yml, each writing into its own folder, besides `common`."""
    providers = {c.provider for c in C.values()}
    package = Path(__file__).resolve().parent.parent / "sources" / "generators"
    modules = {p.stem for p in package.glob("*.py")} - {"__init__", "common"}
    assert modules == providers
    for name in modules:  # a module writes only into its provider's folder
        text = (package / f"{name}.py").read_text(encoding="utf-8")
        assert set(re.findall(r'out_dir / "(\w+)"', text)) == {name}, name
