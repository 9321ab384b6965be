"""The static HTML report (orchestration/report.py) built from a hand-made published file.

The published file is generated here (the indicators of SPEC, first and second edition, 45
regions, 27 months, 4 years, 4 school years), with the confidentiality rule applied as the pipeline applies it, so that
suppressed (1 or 2) and undefined (denominator 0) values occur naturally. The headless-browser
test drives Debian's chromium over the DevTools protocol (--remote-debugging-pipe, stdlib only)
and is skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import json
import os
import random
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest
import yaml

from orchestration import report
from orchestration.evaluation import add_evaluation
from orchestration.report import build_report, fmt_de, write_report
from orchestration.settings import REFERENCE_DIR, REPO_ROOT, TARGETS_FILE
from sources import catalogue

CHROMIUM = Path("/usr/bin/chromium")
D = "08116"

# --------------------------------------------------------------------------- hand-made published file

# The published catalogue as the pipeline writes it (dbt seed generated from sources/indicators.yml):
# id, name_de, handlungsfeld (display name), unit, periodicity, definition, source, caveats. The
# fixture publishes the indicators of SPEC; PFL-02 is in the catalogue table without values (a
# page "noch keine Werte"); the field "zugang" has no published indicator (no page, "noch ohne").
CAT = catalogue.load()
FIELD_NAMES = {f.slug: f.name for f in CAT.fields}
WITHOUT_VALUES = {"PFL-02"}

# per group: (denominator per inhabitant, rate) for rates, (count per inhabitant,) for counts
SPEC: dict[str, dict[str, tuple]] = {
    "ARB-01": {"insgesamt": (0.80, 0.052), "deutsch": (0.64, 0.031), "auslaendisch": (0.16, 0.14)},
    "ARB-02": {"insgesamt": (0.028,), "deutsch": (0.015,), "auslaendisch": (0.013,), "fluchtkontext": (0.006,)},
    "ARB-03": {"insgesamt": (0.028 * 12, 0.022), "deutsch": (0.015 * 12, 0.024),
               "auslaendisch": (0.013 * 12, 0.02), "fluchtkontext": (0.006 * 12, 0.018)},
    "ARB-04": {"insgesamt": (0.028, 0.26), "deutsch": (0.015, 0.28), "auslaendisch": (0.013, 0.24),
               "fluchtkontext": (0.006, 0.2)},
    "SPR-01": {"fluchtkontext": (0.0015, 0.52)},
    "SPR-02": {"fluchtkontext": (0.006, 0.55)},
    "REC-01": {"insgesamt": (0.2,), "eu": (0.08,), "unbefristet": (0.05,), "befristet": (0.03,),
               "schutz_anerkannt": (0.025,), "schutz_offen": (0.006,), "schutz_abgelehnt": (0.002,),
               "sonstige": (0.003,)},
    "REC-02": {"insgesamt": (0.12, 0.42)},
    "REC-03": {"insgesamt": (0.002,)},
    "REC-04": {"insgesamt": (0.11, 0.02)},
    "BIL-01": {"insgesamt": (0.06, 0.41), "deutsch": (0.048, 0.45), "auslaendisch": (0.012, 0.24)},
    "BIL-02": {"insgesamt": (0.0025,)},
    "BIL-03": {"insgesamt": (0.01, 0.058), "deutsch": (0.008, 0.04), "auslaendisch": (0.002, 0.13)},
    "WOH-01": {"insgesamt": (0.006, 0.87), "VU": (0.003, 0.92), "AU": (0.003, 0.82)},
    "WOH-02": {"VU": (0.0028, 0.35)},
    "WOH-03": {"insgesamt": (0.0004,), "VU": (0.0002,), "AU": (0.0002,)},
    "DEM-01": {"insgesamt": (1.0, 0.19)},
    # second edition: a percentage per school year, rates per 1,000 and per 100, a count of municipalities
    "GES-02": {"insgesamt": (0.009, 0.93), "deutsch": (0.006, 0.95), "auslaendisch": (0.003, 0.89),
               "familiensprache_deutsch": (0.005, 0.95), "familiensprache_andere": (0.004, 0.9)},
    "PFL-01": {"insgesamt": (0.21, 0.0045), "deutsch": (0.18, 0.0042), "auslaendisch": (0.03, 0.0065)},
    "ENG-01": {"insgesamt": (0.6,)},  # share of municipalities with an integration body
    "ENG-02": {"insgesamt": (0.0025, 0.16)},  # AU occupants per inhabitant, volunteers per occupant
}
CATALOGUE = [(i.id, i.name_de, FIELD_NAMES[i.field], i.unit, i.periodicity, i.definition, ", ".join(i.sources),
              i.caveats or None) for i in CAT.indicators if i.id in SPEC or i.id in WITHOUT_VALUES]
PUBLISHED = [c for c in CATALOGUE if c[0] in SPEC]
RATE_FACTOR = {"prozent": 100.0, "je_1000": 1000.0, "je_100": 100.0}
NO_ANSWER = {"08116004", "08116019", "08116077"}  # ENG-02: municipalities that did not answer
TREND = {"ARB-01": -0.04, "SPR-02": 0.05, "BIL-03": -0.03, "WOH-01": 0.03, "REC-02": 0.02, "GES-02": 0.01,
         "ENG-01": 0.08}  # per year, relative

MONTHLY = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)][:27]  # 2023-01 .. 2025-03
YEARLY = ["2021", "2022", "2023", "2024"]
SCHOOL = ["2021/22", "2022/23", "2023/24", "2024/25"]


def _period_end(p: str) -> dt.date:
    if "/" in p:
        return dt.date(int(p[:4]) + 1, 7, 31)
    if "-" in p:
        y, m = int(p[:4]), int(p[5:])
        return dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)
    return dt.date(int(p), 12, 31)


def build_published(path: Path, with_evaluation: bool = True, seed: int = 11) -> None:
    """A published warehouse as the pipeline writes it (plus indicator_evaluation)."""
    rnd = random.Random(seed)
    with open(REFERENCE_DIR / "gemeinden.csv", encoding="utf-8") as f:
        gem = [(r["ags"], r["name"], int(r["einwohner_ca"])) for r in csv.DictReader(f)]
    vu_sites = {a for a, _, _ in sorted(gem, key=lambda g: -g[2])[:9]}  # VU only in the big towns
    units = {c[0]: c[3] for c in CATALOGUE}
    per = {c[0]: c[4] for c in CATALOGUE}
    rows = []
    for ind, groups in SPEC.items():
        periods = {"monat": MONTHLY, "jahr": YEARLY, "schuljahr": SCHOOL}[per[ind]]
        for g, spec in groups.items():
            factor = {a: rnd.uniform(0.6, 1.4) for a, _, _ in gem}
            for ti, p in enumerate(periods):
                years = ti / 12 if per[ind] == "monat" else ti
                trend = 1 + TREND.get(ind, 0.0) * years
                tot_num = tot_den = 0.0
                for ags, name, pop in gem:
                    no_site = ind.startswith("WOH") and g == "VU" and ags not in vu_sites
                    scale = 0 if no_site else pop * factor[ags] * rnd.uniform(0.95, 1.05)
                    if ind == "ENG-02" and ags in NO_ANSWER and ti == len(periods) - 1:
                        # no answer: no figures, not suppressed, not in the district's sums
                        rows.append((ind, p, _period_end(p), ags, name, g, None, None, None, units[ind], False))
                        continue
                    if units[ind] == "anzahl_gemeinden":
                        num, den = float(factor[ags] - 0.6 < 0.8 * spec[0] * trend), None
                    elif units[ind] == "anzahl":
                        num, den = float(round(scale * spec[0] * trend * rnd.uniform(0.97, 1.03))), None
                    else:
                        den = float(round(scale * spec[0]))
                        rate = spec[1] * trend * factor[ags] ** 0.5 * rnd.uniform(0.96, 1.04)
                        num = float(min(den, round(den * rate)))
                    if ind == "ARB-03" and den is not None:
                        den = den / 12  # average stock; the 12-month sum stays an integer
                    tot_num += num
                    tot_den += den or 0.0
                    rows.append(_row(ind, p, ags, name, g, num, den, units[ind]))
                rows.append(_row(ind, p, D, "Landkreis Esslingen", g, tot_num,
                                 tot_den if units[ind] in RATE_FACTOR else None, units[ind]))
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE indicator_values (indicator_id VARCHAR, period VARCHAR, period_end DATE,
        region_code VARCHAR, region_name VARCHAR, group_code VARCHAR, numerator DOUBLE, denominator DOUBLE,
        value DOUBLE, unit VARCHAR, is_suppressed BOOLEAN)""")
    frame = pd.DataFrame(rows, columns=["indicator_id", "period", "period_end", "region_code", "region_name",
                                        "group_code", "numerator", "denominator", "value", "unit", "is_suppressed"])
    con.register("frame", frame)
    con.execute("INSERT INTO indicator_values SELECT * FROM frame")  # executemany is slow for 60k rows
    con.unregister("frame")
    con.execute("""CREATE TABLE indicators (indicator_id VARCHAR, name_de VARCHAR, name_en VARCHAR,
        handlungsfeld VARCHAR, unit VARCHAR, periodicity VARCHAR, definition VARCHAR, source VARCHAR,
        caveats VARCHAR)""")
    con.executemany("INSERT INTO indicators VALUES (?,?,?,?,?,?,?,?,?)",
                    [(c[0], c[1], c[1], c[2], c[3], c[4], c[5], c[6], c[7]) for c in CATALOGUE])
    con.execute("""CREATE TABLE refresh_log (refresh_id VARCHAR, published_at TIMESTAMP, mode VARCHAR,
        fingerprint VARCHAR, file_count INTEGER, files VARCHAR)""")
    con.execute("INSERT INTO refresh_log VALUES ('r1', TIMESTAMP '2025-04-02 03:15:00', 'full', 'abc', 120, '[]')")
    if with_evaluation:
        add_evaluation(con, TARGETS_FILE)
    con.close()


def _row(ind, p, ags, name, g, num, den, unit):
    ab = den * 12 if ind == "ARB-03" and den is not None else den  # rule applies to the 12-month sum
    if unit in ("anzahl", "anzahl_gemeinden"):
        sup = unit == "anzahl" and num in (1.0, 2.0)  # municipalities are never suppressed
        return (ind, p, _period_end(p), ags, name, g, None if sup else num, None, None if sup else num, unit, sup)
    sup = num in (1.0, 2.0) or ab in (1.0, 2.0)
    val = None if sup or den == 0 else RATE_FACTOR[unit] * num / den
    return (ind, p, _period_end(p), ags, name, g, None if sup else num, None if sup else den, val, unit, sup)


# --------------------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    db = root / "published" / "monitoring.duckdb"
    db.parent.mkdir()
    build_published(db)
    t0 = time.monotonic()
    # a fixed "generated at", so the screenshots in docs/ only change when the report does
    index = write_report(db, root / "reports", now=dt.datetime(2025, 4, 2, 7, 30))
    return SimpleNamespace(db=db, out=root / "reports", index=index, seconds=time.monotonic() - t0)


def q(db: Path, sql: str, params=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def embedded_json(page: Path) -> dict:
    m = re.search(r'<script type="application/json" id="imon-data">(.*?)</script>', page.read_text(encoding="utf-8"),
                  re.S)
    assert m, f"no embedded data in {page.name}"
    return json.loads(m.group(1).replace("<\\/", "</"))


class TableParser(HTMLParser):
    """Collects tables: list of {attrs, head: [..], rows: [(tr attrs, [cell text])]}."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row, self._in_head = [], None, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"attrs": a, "head": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self.tables:
            self._row = (a, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.tables[-1]["head"] if self._in_head else self._row[1]).append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if not self._in_head:
                self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(page: Path) -> list[dict]:
    p = TableParser()
    p.feed(page.read_text(encoding="utf-8"))
    return p.tables


def latest_table(page: Path, group: str) -> dict:
    t = [t for t in tables_of(page) if "latest" in t["attrs"].get("class", "") and t["attrs"].get("data-group") == group]
    assert len(t) == 1
    return t[0]


# --------------------------------------------------------------------------- static tests

def test_fixture_has_suppressed_undefined_and_real_zeros(built):
    n_sup, n_undef, n_zero = q(built.db, """SELECT count(*) FILTER (is_suppressed),
        count(*) FILTER (NOT is_suppressed AND value IS NULL), count(*) FILTER (value = 0)
        FROM indicator_values""")[0]
    assert n_sup > 50 and n_undef > 50 and n_zero > 0
    assert q(built.db, "SELECT count(DISTINCT indicator_id), count(DISTINCT region_code) FROM indicator_values")[0] \
        == (len(SPEC), 45)
    # the rule: suppressed rows carry no figure at all
    assert q(built.db, "SELECT count(*) FROM indicator_values WHERE is_suppressed AND "
                       "(value IS NOT NULL OR numerator IS NOT NULL OR denominator IS NOT NULL)")[0][0] == 0


def test_all_pages_and_downloads_exist(built):
    out = built.out
    assert built.index == out / "index.html" and built.index.is_file()
    with_values = {i.field for i in CAT.indicators if i.id in SPEC}
    for f in CAT.fields:  # a page per field with published values, in the catalogue's order in the nav
        assert (out / f"{f.slug}.html").is_file() == (f.slug in with_values), f.slug
        assert (out / "downloads" / f"handlungsfeld_{f.slug}.csv").is_file() == (f.slug in with_values)
        assert (out / "downloads" / f"handlungsfeld_{f.slug}.xlsx").is_file() == (f.slug in with_values)
    nav = re.findall(r'<li><a href="([a-z]+)\.html"', (out / "arbeit.html").read_text(encoding="utf-8"))
    assert nav == ["index"] + [f.slug for f in CAT.fields if f.slug in with_values]
    assert "zugang" not in with_values  # the fixture leaves one field without data
    pending = re.search(r'<p class="hint pending">(.*?)</p>', built.index.read_text(encoding="utf-8")).group(1)
    assert FIELD_NAMES["zugang"] in pending and FIELD_NAMES["arbeit"] not in pending
    for c in CATALOGUE:
        assert (out / f"indikator-{c[0].lower()}.html").is_file(), c[0]
        for f in (f"{c[0]}.xlsx", f"{c[0]}_aktuell.csv", f"{c[0]}_zeitreihe.csv"):
            if c[0] in SPEC:
                assert (out / "downloads" / f).stat().st_size > 100, f
            else:
                assert not (out / "downloads" / f).exists(), f
    for ind in WITHOUT_VALUES:
        assert "noch keine Werte veröffentlicht" in (out / f"indikator-{ind.lower()}.html").read_text(encoding="utf-8")
        field = FIELD_NAMES[CAT.indicator(ind).field]
        overview = {a.get("data-indicator"): c for t in tables_of(built.index) for a, c in t["rows"]}
        assert overview[ind][1:] == ["noch keine Daten"], overview[ind]
        card = re.search(rf'<div class="card" data-indicator="{ind}">.*?</div></div>',
                         (out / f"{CAT.indicator(ind).field}.html").read_text(encoding="utf-8")).group(0)
        assert "noch keine Daten" in card, field
        matrix = [t for t in tables_of(out / f"{CAT.indicator(ind).field}.html")
                  if "matrix" in t["attrs"].get("class", "")][0]
        assert not any(h.startswith(ind) for h in matrix["head"])  # no column of dashes
    assert (out / "downloads" / "zielerreichung.csv").is_file()
    assert not list(out.glob(".bericht-*")), "staging folder left behind"
    # reasonably sized: data only on the indicator pages
    sizes = {p.name: p.stat().st_size for p in out.glob("*.html")}
    assert max(sizes.values()) < 1_500_000, sizes
    assert sizes["index.html"] < 150_000 and sizes["arbeit.html"] < 300_000
    assert built.seconds < 30


def test_pages_are_offline_and_german(built):
    for page in built.out.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert '<html lang="de">' in text
        # nothing loaded from the network: no external src/href, no fetch of local files
        assert not re.search(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', text, re.I), page.name
        assert "fetch(" not in text and "XMLHttpRequest" not in text and "@import" not in text
        if page.stem in {f"indikator-{i.lower()}" for i in WITHOUT_VALUES}:
            continue  # shows no number, needs no footnote
        assert "· = aus Datenschutzgründen nicht ausgewiesen" in text, page.name
        assert "– = nicht definiert (Nenner 0)" in text, page.name


def test_embedded_series_match_the_warehouse(built):
    """Every value of every indicator is in its page's JSON at full precision; suppressed as "s",
    a municipality without answer as "n"."""
    for c in PUBLISHED:
        data = embedded_json(built.out / f"indikator-{c[0].lower()}.html")
        pidx = {p: i for i, p in enumerate(data["periods"])}
        rows = q(built.db, "SELECT period, region_code, group_code, value, is_suppressed, numerator "
                           "FROM indicator_values WHERE indicator_id = ?", [c[0]])
        assert rows
        for period, region, group, value, sup, num in rows:
            got = data["series"][group][region][pidx[period]]
            if sup:
                assert got == "s", (c[0], period, region, group)
            elif num is None:
                assert got == "n", (c[0], period, region, group)
            elif value is None:
                assert got is None, (c[0], period, region, group)
            else:
                assert got == value, (c[0], period, region, group)  # same double: JS shows fmt_de's digits
        assert data["periods"] == [p for p, _ in q(built.db, "SELECT DISTINCT period, period_end FROM indicator_values "
                                                           "WHERE indicator_id = ? ORDER BY period_end", [c[0]])]
        assert data["regions"][0] == [D, "Landkreis Esslingen"]


def test_latest_table_numbers_and_symbols(built):
    page = built.out / "indikator-arb-04.html"
    latest = q(built.db, "SELECT max(period) FROM indicator_values WHERE indicator_id='ARB-04'")[0][0]
    rows = q(built.db, """SELECT e.region_code, e.value, e.is_suppressed, v.numerator, e.change_year_before
                          FROM indicator_evaluation e JOIN indicator_values v
                          USING (indicator_id, period, region_code, group_code)
                          WHERE indicator_id='ARB-04' AND period=? AND group_code='fluchtkontext'""", [latest])
    t = latest_table(page, "fluchtkontext")
    assert t["head"][:4] == ["Gebiet", "Wert (%)", "Zähler", "Nenner"]
    i_yb = t["head"].index("ggü. Vorjahresmonat (Pp.)")
    cells = {a["data-region"]: c for a, c in t["rows"]}
    assert len(cells) == 45 and t["rows"][0][0]["data-region"] == D
    n_sup = 0
    for region, value, sup, num, ch in rows:
        c = cells[region]
        if sup:
            n_sup += 1
            assert c[1] == "·" and c[2] == "·" and c[3] == "·", region
        else:
            assert c[1] == fmt_de(value, 1), region
            assert c[2] == fmt_de(num, 0), region
        assert c[i_yb] == fmt_de(ch, 1, signed=True), region
    assert n_sup > 0, "fixture should have suppressed rates in small municipalities"
    # counts use the German thousands separator
    arb02 = latest_table(built.out / "indikator-arb-02.html", "insgesamt")
    district = q(built.db, "SELECT value FROM indicator_values WHERE indicator_id='ARB-02' AND period=? "
                           "AND region_code=? AND group_code='insgesamt'", [latest, D])[0][0]
    assert district >= 1000
    assert arb02["rows"][0][1][1] == fmt_de(district, 0) and "." in arb02["rows"][0][1][1]


def test_undefined_values_show_a_dash_not_zero(built):
    row = q(built.db, """SELECT indicator_id, period, region_code, group_code FROM indicator_values
                         WHERE value IS NULL AND NOT is_suppressed AND indicator_id='WOH-01' AND group_code='VU'
                         ORDER BY period DESC LIMIT 1""")[0]
    t = latest_table(built.out / "indikator-woh-01.html", "VU")
    cells = {a["data-region"]: c for a, c in t["rows"]}
    assert cells[row[2]][1] == "–"


def test_field_page_matrix_matches_latest_values(built):
    t = [t for t in tables_of(built.out / "sprache.html") if "matrix" in t["attrs"].get("class", "")][0]
    latest = q(built.db, "SELECT max(period) FROM indicator_values WHERE indicator_id='SPR-01'")[0][0]
    vals = dict((r, (v, s)) for r, v, s in q(
        built.db, "SELECT region_code, value, is_suppressed FROM indicator_values WHERE indicator_id='SPR-01' "
                  "AND period=?", [latest]))
    seen_sup = False
    for attrs, cells in t["rows"]:
        v, sup = vals[attrs["data-region"]]
        shown = re.sub(r"\s*(über|unter|gleich)$", "", cells[1])  # SPR-01: columns 1 (value) and 2
        if sup:
            seen_sup = True
            assert shown == "·"
        else:
            assert shown == fmt_de(v, 1), attrs
    assert seen_sup


def test_index_lists_every_district_target_with_its_status(built):
    targets = q(built.db, """SELECT e.indicator_id, e.group_code, e.status FROM indicator_evaluation e
        JOIN (SELECT indicator_id, max(period_end) pe FROM indicator_values GROUP BY 1) l
          ON l.indicator_id = e.indicator_id AND l.pe = e.period_end
        WHERE e.region_code = ? AND e.target_value IS NOT NULL""", [D])
    assert len(targets) >= 5
    t = [t for t in tables_of(built.index) if "targets" in t["attrs"].get("class", "")][0]
    shown = {(a["data-indicator"], a["data-group"]): c for a, c in t["rows"]}
    assert len(shown) == len(targets)
    for ind, grp, status in targets:
        assert shown[(ind, grp)][6] == (status or ""), (ind, grp)
    assert "Beispiel" in built.index.read_text(encoding="utf-8")  # demo targets are marked as such


def test_downloads_match_the_warehouse(built):
    import openpyxl

    latest = q(built.db, "SELECT max(period) FROM indicator_values WHERE indicator_id='ARB-01'")[0][0]
    rows = {(r, g): (v, s) for r, g, v, s in q(
        built.db, "SELECT region_code, group_code, value, is_suppressed FROM indicator_values "
                  "WHERE indicator_id='ARB-01' AND period=?", [latest])}
    with open(built.out / "downloads" / "ARB-01_aktuell.csv", encoding="utf-8-sig") as f:
        data = list(csv.reader(f, delimiter=";"))
    head, body = data[0], data[1:]
    assert len(body) == len(rows)
    labels = {"Insgesamt": "insgesamt", "Deutsche": "deutsch", "Ausländer/-innen": "auslaendisch"}
    for line in body:
        v, s = rows[(line[0], labels[line[2]])]
        assert line[4] == ("·" if s else fmt_de(v, 1, grouping=False, minus="-"))
    wb = openpyxl.load_workbook(built.out / "downloads" / "ARB-01.xlsx", read_only=True)
    assert wb.sheetnames == ["Aktueller Stand", "Zeitreihe", "Erläuterungen"]
    ws_rows = list(wb["Aktueller Stand"].iter_rows(values_only=True))
    for line in ws_rows[1:]:
        v, s = rows[(line[0], labels[line[2]])]
        if s:
            assert line[4] == "·"
        else:
            assert line[4] == pytest.approx(v)  # full precision in Excel, formatted there
    ts = list(wb["Zeitreihe"].iter_rows(values_only=True))
    periods = [p for p, _ in q(built.db, "SELECT DISTINCT period, period_end FROM indicator_values "
                                         "WHERE indicator_id='ARB-01' ORDER BY period_end")]
    assert list(ts[0][3:]) == periods
    assert len(ts) - 1 == 45 * 3
    # what Excel shows (orchestration/xlsx.py): bold frozen header with a filter, a rate with
    # one decimal, a suppressed cell as right-aligned text, the notes sheet
    full = openpyxl.load_workbook(built.out / "downloads" / "ARB-01.xlsx")
    ws = full["Aktueller Stand"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb == "FFEEF2F5"
    value_cells = [r[4] for r in ws.iter_rows(min_row=2)]
    assert {c.number_format for c in value_cells if isinstance(c.value, float)} == {"#,##0.0"}
    assert {c.alignment.horizontal for c in value_cells if c.value == "·"} <= {"right"}
    notes = full["Erläuterungen"]
    assert notes["A1"].font.b and notes.freeze_panes is None and notes.column_dimensions["A"].width > 100


def test_xlsx_writer_escapes_text_and_writes_the_same_bytes_for_the_same_content(tmp_path):
    import openpyxl

    from orchestration.xlsx import Sheet, write_workbook

    rows = [[("Gebiet", "head"), ("Wert", "head")],
            [("A & B <Süd> \"x\"", "text"), (1234.5, "n1")],
            [(" führend\x01", "text"), ("·", "symbol")],
            [(None, "text"), (-0.25, "s1")]]
    for name in ("a.xlsx", "b.xlsx"):
        write_workbook(tmp_path / name, [Sheet("Zeitreihe", rows, [28, 10]), Sheet("Erläuterungen", [], [120], False)])
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    wb = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert list(wb["Zeitreihe"].iter_rows(values_only=True)) == [
        ("Gebiet", "Wert"), ('A & B <Süd> "x"', 1234.5), (" führend", "·"), (None, -0.25)]
    assert wb["Zeitreihe"]["B4"].number_format == "+#,##0.0;-#,##0.0;0.0"
    assert wb["Zeitreihe"]["B3"].alignment.horizontal == "right" and wb["Zeitreihe"]["A1"].font.b


def test_report_without_evaluation_table_evaluates_in_memory(tmp_path):
    db = tmp_path / "monitoring.duckdb"
    build_published(db, with_evaluation=False)
    before = db.read_bytes()
    index = write_report(db, tmp_path / "reports")
    assert index.is_file()
    assert db.read_bytes() == before, "the published file must not be written"
    assert "auf Kurs" in index.read_text(encoding="utf-8") or "beobachten" in index.read_text(encoding="utf-8") \
        or "nicht auf Kurs" in index.read_text(encoding="utf-8")


def test_rebuild_removes_stale_pages_and_keeps_foreign_files(built, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(built.out, out)
    (out / "indikator-xyz-99.html").write_text("alt")
    (out / "downloads" / "XYZ-99.xlsx").write_text("alt")
    (out / "checks-run1.json").write_text("{}")  # written by the refresh, not ours
    index = build_report(SimpleNamespace(published_db=built.db, reports_dir=out))  # the API the CLI calls
    assert index == out / "index.html"
    assert not (out / "indikator-xyz-99.html").exists() and not (out / "downloads" / "XYZ-99.xlsx").exists()
    assert (out / "checks-run1.json").exists()


def _kpi(page: Path, group: str = "insgesamt") -> str:
    m = re.search(rf'<div class="big" id="kpi-{group}">(.*?)</div>', page.read_text(encoding="utf-8"))
    return m.group(1)


def _latest_value(db: Path, ind: str, region: str = D, group: str = "insgesamt"):
    return q(db, """SELECT value FROM indicator_values WHERE indicator_id = ? AND region_code = ? AND group_code = ?
                    ORDER BY period_end DESC LIMIT 1""", [ind, region, group])[0][0]


def test_units_of_the_second_edition_are_shown_as_such(built):
    """je_1000, je_100 and anzahl_gemeinden: their own unit in heads, key figures and downloads, never %."""
    out = built.out
    expect = {  # indicator -> (head of the latest table, key-figure suffix)
        "PFL-01": (["Gebiet", "Wert (je 1.000)", "Zähler", "Nenner", "ggü. Vorjahr (je 1.000)",
                    "Abweichung vom Kreiswert (je 1.000)", "Lage"], " je 1.000"),
        "ENG-02": (["Gebiet", "Wert (je 100)", "Zähler", "Nenner", "ggü. Vorjahr (je 100)",
                    "Abweichung vom Kreiswert (je 100)", "Lage"], " je 100"),
        "ENG-01": (["Gebiet", "Wert (Gemeinden)", "ggü. Vorjahr"], " Gemeinden"),
        "GES-02": (["Gebiet", "Wert (%)", "Zähler", "Nenner", "ggü. Vorjahr (Pp.)", "Abweichung vom Kreiswert (Pp.)",
                    "Lage"], " %"),
    }
    for ind, (head, suffix) in expect.items():
        page = out / f"indikator-{ind.lower()}.html"
        unit = next(c[3] for c in CATALOGUE if c[0] == ind)
        t = latest_table(page, "insgesamt")
        assert t["head"][:len(head)] == head, ind
        dec = 0 if unit in ("anzahl", "anzahl_gemeinden") else 1
        assert _kpi(page) == fmt_de(_latest_value(built.db, ind), dec) + suffix, ind
        assert t["rows"][0][1][1] == fmt_de(_latest_value(built.db, ind), dec), ind
        if unit != "prozent":
            assert not any("%" in c for _, cells in t["rows"] for c in cells), ind
            assert "Pp." not in "".join(t["head"]), ind
        assert f"Einheit: {report.UNITS[unit].label}" in page.read_text(encoding="utf-8")
        data = embedded_json(page)
        assert data["suffix"] == report.UNITS[unit].suffix and data["rate"] == (unit not in ("anzahl_gemeinden",))
    # ENG-01 counts municipalities: the district is their number, nothing is ever suppressed
    assert q(built.db, "SELECT count(*) FROM indicator_values WHERE indicator_id='ENG-01' AND is_suppressed")[0][0] == 0
    assert _latest_value(built.db, "ENG-01") == q(built.db, """SELECT sum(value) FROM indicator_values
        WHERE indicator_id='ENG-01' AND region_code <> ? AND period = '2024'""", [D])[0][0]
    # the field page's matrix and its download name the units
    t = [t for t in tables_of(out / "engagement.html") if "matrix" in t["attrs"].get("class", "")][0]
    assert [h for h in t["head"] if h.startswith(("Wert", "ggü."))] == [
        "Wert (Gemeinden)", "ggü. Vorjahr", "Wert (je 100)", "ggü. Vorjahr (je 100)"]
    with open(out / "downloads" / "handlungsfeld_pflege.csv", encoding="utf-8-sig") as f:
        units = {line[2]: line[6] for line in csv.reader(f, delimiter=";")}
    assert units["PFL-01"] == "je 1.000"
    # the overview's targets of new indicators in their units (example targets of zielwerte.yml)
    targets = {(a["data-indicator"]): c for a, c in
               [t for t in tables_of(built.index) if "targets" in t["attrs"].get("class", "")][0]["rows"]}
    assert targets["GES-02"][3].startswith("≥ 95,0 % bis 2027") and "Beispiel" in targets["GES-02"][3]
    assert targets["ENG-01"][3].startswith("≥ 30 bis 2028")
    assert targets["ENG-01"][2] == fmt_de(_latest_value(built.db, "ENG-01"), 0)
    assert targets["ENG-01"][6] in ("auf Kurs", "beobachten", "nicht auf Kurs")


def test_non_answering_municipalities_show_keine_angabe_not_suppressed(built):
    page = built.out / "indikator-eng-02.html"
    latest = q(built.db, "SELECT max(period) FROM indicator_values WHERE indicator_id='ENG-02'")[0][0]
    silent = {r for r, in q(built.db, """SELECT region_code FROM indicator_values WHERE indicator_id='ENG-02'
        AND period=? AND numerator IS NULL AND NOT is_suppressed""", [latest])}
    assert silent == NO_ANSWER
    cells = {a["data-region"]: c for a, c in latest_table(page, "insgesamt")["rows"]}
    for region, c in cells.items():
        if region in silent:
            assert c[1] == "– keine Angabe" and c[2] == "–" and c[3] == "–", region
        else:
            assert "keine Angabe" not in c[1], region
    text = page.read_text(encoding="utf-8")
    assert report.NOTE_NO_ANSWER in text and report.NOTE_NO_ANSWER in (built.out / "engagement.html").read_text(
        encoding="utf-8")
    assert report.NOTE_NO_ANSWER not in (built.out / "indikator-pfl-01.html").read_text(encoding="utf-8")
    # nothing is derived from a missing answer; the downloads say "keine Angabe", not "·" or 0
    assert q(built.db, """SELECT count(*) FROM indicator_evaluation WHERE indicator_id='ENG-02' AND period=?
        AND region_code IN (SELECT unnest(?)) AND value IS NULL AND change_year_before IS NULL
        AND diff_to_district IS NULL AND NOT is_suppressed""", [latest, sorted(silent)])[0][0] == len(silent)
    with open(built.out / "downloads" / "ENG-02_aktuell.csv", encoding="utf-8-sig") as f:
        lines = list(csv.reader(f, delimiter=";"))
    assert lines[0][4] == "Wert (je 100)"
    assert {line[0] for line in lines[1:] if line[4] == "keine Angabe"} == silent


def test_docs_are_linked_only_where_they_exist(built, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(built.out, out)

    def links(page: str) -> list[str]:
        m = re.search(r'<p class="docs">(.*?)</p>', (out / page).read_text(encoding="utf-8"), re.S)
        return re.findall(r'href="([^"]+)"', m.group(1)) if m else []

    assert links("index.html") == []
    (out / "data-docs").mkdir()
    (out / "data-docs" / "index.html").write_text("<html></html>")
    write_report(built.db, out)
    for page in ("index.html", "arbeit.html", "indikator-arb-01.html"):
        assert links(page) == ["data-docs/index.html"], page
    (out / "dbt-docs").mkdir()
    (out / "dbt-docs" / "index.html").write_text("<html></html>")
    write_report(built.db, out)
    assert links("indikator-eng-02.html") == ["data-docs/index.html", "dbt-docs/index.html"]
    assert all((out / href).is_file() for href in links("index.html"))  # relative to the page


def test_catalogue_texts_are_escaped(built, tmp_path):
    """Autoescaping: a name or definition with markup is shown as text, never as HTML."""
    db = tmp_path / "monitoring.duckdb"
    shutil.copy(built.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE indicators SET name_de = '<b>Quote</b> & \"mehr\"', "
                    "definition = '<script>alert(1)</script>' WHERE indicator_id = 'ARB-02'")
    write_report(db, tmp_path / "reports")
    for page in ("indikator-arb-02.html", "arbeit.html", "index.html"):
        text = (tmp_path / "reports" / page).read_text(encoding="utf-8")
        assert "&lt;b&gt;Quote&lt;/b&gt; &amp;" in text, page
        assert "<b>Quote</b>" not in text and "<script>alert(1)" not in text, page
    data = embedded_json(tmp_path / "reports" / "indikator-arb-02.html")
    assert data["name"] == '<b>Quote</b> & "mehr"'  # JSON keeps the text; the page never parses it as HTML


def test_german_number_format():
    assert fmt_de(1234.5, 1) == "1.234,5"
    assert fmt_de(1234567, 0) == "1.234.567"
    assert fmt_de(-0.04, 1) == "0,0"
    assert fmt_de(-0.25, 1, signed=True) == "−0,3"  # half away from zero, like JavaScript's toFixed
    assert fmt_de(0.25, 1, signed=True) == "+0,3"
    assert fmt_de(None, 1) == "–" and fmt_de("s", 1) == "·"
    assert fmt_de(-1234.5, 1, grouping=False, minus="-") == "-1234,5"


# --------------------------------------------------------------------------- headless browser

class Chromium:
    """Chromium driven over the DevTools protocol on a pipe (fd 3/4): no port, no extra package."""

    def __init__(self, profile: Path):
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()
        # lift the child's ends to fds >= 10 first, so moving them onto 3/4 cannot clobber one another
        lifted = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w)]
        os.close(to_r)
        os.close(from_w)
        to_r, from_w = lifted
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        self.log = open(profile.parent / "chromium.log", "wb")
        # bash moves our pipe ends to fds 3 and 4, where --remote-debugging-pipe expects them
        self.proc = subprocess.Popen(["bash", "-c", f'exec 3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-; exec "$@"',
                                      "bash", str(CHROMIUM), *args],
                                     pass_fds=(to_r, from_w), stdout=self.log, stderr=self.log)
        os.close(to_r)
        os.close(from_w)
        self._buf, self._id, self.events = b"", 0, []

    def _read_message(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read_message(timeout)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name: str, session: str, timeout: float = 30) -> dict:
        for e in self.events:
            if e.get("method") == name and e.get("sessionId") == session:
                return e
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self._read_message(deadline - time.monotonic())
            self.events.append(m)
            if m.get("method") == name and m.get("sessionId") == session:
                return m
        raise TimeoutError(name)

    def open(self, url: str, width: int = 1280, height: int = 1000) -> str:
        """A fresh tab (the previous one closed) with the page loaded and report.js finished."""
        if getattr(self, "_target", None):
            self.send("Target.closeTarget", {"targetId": self._target})
        self._target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.send("Target.attachToTarget", {"targetId": self._target, "flatten": True})["sessionId"]
        self.session = s
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=s)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=s)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=s)
        self.wait_event("Page.loadEventFired", s)
        deadline = time.monotonic() + 15
        while not self.eval(s, "window.__reportReady === true"):
            assert time.monotonic() < deadline, "report.js did not finish"
            time.sleep(0.05)
        return s

    def eval(self, session: str, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def screenshot(self, session: str, path: Path, width: int = 1280, max_height: int = 4000) -> None:
        import base64

        h = int(self.eval(session, "document.documentElement.scrollHeight"))
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": min(h, max_height), "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        time.sleep(0.3)  # the resize handler redraws the charts (debounced 150 ms)
        png = self.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        path.write_bytes(base64.b64decode(png))

    def problems(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions, log errors and any non-local request so far."""
        try:  # collect what arrived since the last command
            while True:
                self.events.append(self._read_message(0.2))
        except TimeoutError:
            pass
        out = []
        for e in self.events:
            if e.get("sessionId") != self.session:
                continue
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(("file://", "data:", "blob:", "about:")):
                    out.append(f"network: {url}")
        return out

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)
        self.log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium fehlt (Debian-Paket chromium: apt-get install -y chromium); "
                    "Browser-Test übersprungen")
    root = tmp_path_factory.mktemp("chromium")
    b = Chromium(root / "profile")
    yield b
    b.close()


def test_overview_renders_offline_without_errors(built, browser, tmp_path):
    s = browser.open(built.index.as_uri())
    assert browser.problems() == []
    status_cells = browser.eval(s, "Array.from(document.querySelectorAll('table.targets .badge')).map(e => e.textContent)")
    assert status_cells and set(status_cells) <= {"auf Kurs", "beobachten", "nicht auf Kurs"}
    shot = tmp_path / "overview.png"
    browser.screenshot(s, shot)
    assert shot.stat().st_size > 20_000
    docs = REPO_ROOT / "docs"
    save_screenshot(shot, docs / "report-overview.png")
    fs = browser.open((built.out / "arbeit.html").as_uri())
    assert browser.problems() == []
    browser.screenshot(fs, tmp_path / "field.png")
    save_screenshot(tmp_path / "field.png", docs / "report-field.png")


BARS_JS = ("Object.fromEntries(Array.from(document.querySelectorAll('#chart-bar text.bar-value'))"
           ".map(t => [t.getAttribute('data-region'), t.textContent]))")
PATHS_JS = "document.querySelectorAll('#chart-line path[data-series]').length"


def expected_bars(db: Path, ind: str, group: str, suffix: str = " %", dec: int = 1,
                  district: bool = True) -> dict[str, str]:
    latest = q(db, "SELECT max(period) FROM indicator_values WHERE indicator_id=?", [ind])[0][0]
    return {r: ("·" if sup else (fmt_de(v, dec) + suffix if v is not None else "–")) for r, v, sup in q(
        db, "SELECT region_code, value, is_suppressed FROM indicator_values WHERE indicator_id=? "
            "AND period=? AND group_code=?", [ind, latest, group]) if district or r != D}


def test_indicator_page_chart_and_target_line(built, browser, tmp_path):
    s = browser.open((built.out / "indikator-arb-01.html").as_uri())
    assert browser.problems() == []
    assert browser.eval(s, BARS_JS) == expected_bars(built.db, "ARB-01", "insgesamt")
    # one line (the district) until municipalities are ticked
    assert browser.eval(s, PATHS_JS) == 1
    label = browser.eval(s, "document.querySelector('#chart-line .target-label').textContent")
    assert label.startswith("Ziel 2026: ≤ 5,0 %")
    browser.eval(s, "document.getElementById('cb-08116004').click(); document.getElementById('cb-08116019').click()")
    assert browser.eval(s, PATHS_JS) == 3
    assert browser.eval(s, "Array.from(document.querySelectorAll('#chart-legend > span')).map(e => e.textContent)") \
        == ["Landkreis Esslingen", "Altbach", "Esslingen am Neckar"]
    assert browser.problems() == []
    shot = tmp_path / "indicator.png"
    browser.screenshot(s, shot)
    assert shot.stat().st_size > 20_000
    save_screenshot(shot, REPO_ROOT / "docs" / "report-indicator.png")


def test_indicator_page_group_switch_tooltip_and_sorting(built, browser):
    s = browser.open((built.out / "indikator-arb-04.html").as_uri())
    browser.eval(s, "const g = document.getElementById('group-select'); g.value = 'fluchtkontext';"
                    "g.dispatchEvent(new Event('change'))")
    exp = expected_bars(built.db, "ARB-04", "fluchtkontext")
    assert "·" in exp.values()
    got = browser.eval(s, BARS_JS)
    assert got == exp
    assert "0,0 %" not in {got[r] for r, v in exp.items() if v == "·"}
    visible = browser.eval(s, "Array.from(document.querySelectorAll('table.latest')).filter(t => t.offsetParent)"
                              ".map(t => t.dataset.group)")
    assert visible == ["fluchtkontext"]
    # tooltip at the last period shows the district in German number format
    browser.eval(s, "const r = document.querySelector('#chart-line rect'); const b = r.getBoundingClientRect();"
                    "r.dispatchEvent(new MouseEvent('mousemove', {clientX: b.right - 1, clientY: b.top + 5, bubbles: true}))")
    tip = browser.eval(s, "document.querySelector('#chart-line .tooltip').textContent")
    assert f"Landkreis Esslingen: {exp[D]}" in tip
    # sorting a column keeps the district on top, symbols at the bottom
    browser.eval(s, "document.querySelector('table.latest[data-group=fluchtkontext] th[data-col=\"1\"]').click()")
    order = browser.eval(s, "Array.from(document.querySelectorAll('table.latest[data-group=fluchtkontext] tbody tr'))"
                            ".map(r => r.cells[1].textContent)")
    assert order[0] == exp[D].removesuffix(" %")
    assert order[-1] in ("·", "–")
    assert browser.problems() == []


def test_count_and_school_year_pages_render(built, browser):
    for ind in ("bil-02", "rec-01", "dem-01"):
        s = browser.open((built.out / f"indikator-{ind}.html").as_uri())
        assert browser.problems() == [], ind
        assert browser.eval(s, "document.querySelectorAll('#chart-line path[data-series]').length") == 1, ind
        n_bars = browser.eval(s, "document.querySelectorAll('#chart-bar text.bar-value').length")
        assert n_bars == (44 if ind != "dem-01" else 45), ind  # counts: no district bar


def test_second_edition_units_in_the_browser(built, browser):
    """Bars, tooltips and axis in the unit of the indicator; a missing answer is "–  keine Angabe"."""
    AXIS_JS = "Array.from(document.querySelectorAll('#chart-line svg > text')).map(t => t.textContent)"
    NOTES_JS = ("Object.fromEntries(Array.from(document.querySelectorAll('#chart-bar text.bar-note'))"
                ".map(t => [t.previousSibling.getAttribute('data-region'), t.textContent]))")
    s = browser.open((built.out / "indikator-pfl-01.html").as_uri())
    assert browser.problems() == []
    assert browser.eval(s, BARS_JS) == expected_bars(built.db, "PFL-01", "insgesamt", " je 1.000")
    assert "je 1.000" in browser.eval(s, AXIS_JS) and "in %" not in browser.eval(s, AXIS_JS)
    assert browser.eval(s, "document.querySelector('#chart-bar').textContent").count("Kreiswert") == 1

    s = browser.open((built.out / "indikator-eng-02.html").as_uri())
    assert browser.problems() == []
    exp = expected_bars(built.db, "ENG-02", "insgesamt", " je 100")
    assert browser.eval(s, BARS_JS) == exp
    notes = browser.eval(s, NOTES_JS)
    assert {r for r, t in notes.items() if t == "keine Angabe"} == NO_ANSWER
    assert all(exp[r] == "–" for r in NO_ANSWER)

    s = browser.open((built.out / "indikator-eng-01.html").as_uri())
    assert browser.problems() == []
    # counts of municipalities: no district bar, no unit after the 0/1 of a municipality
    assert browser.eval(s, BARS_JS) == expected_bars(built.db, "ENG-01", "insgesamt", "", 0, district=False)
    assert "Gemeinden" in browser.eval(s, AXIS_JS)
    browser.open((built.out / "engagement.html").as_uri())
    assert browser.problems() == []


def test_browser_probe_catches_errors_and_network_requests(browser, tmp_path):
    """The probe above would notice a broken page: console error, exception, request off the disk."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="http://192.0.2.1/x.png"><script>console.error("kaputt");'
                   'window.__reportReady = true; setTimeout(function () { null.x; }, 0);</script></body></html>')
    browser.open(bad.as_uri())
    problems = browser.problems()
    assert any(p.startswith("console.error") for p in problems), problems
    assert any(p.startswith("exception") for p in problems), problems
    assert any(p == "network: http://192.0.2.1/x.png" for p in problems), problems


def save_screenshot(shot: Path, dest: Path) -> None:
    """The screenshots in docs/ are refreshed only on request (IMON_UPDATE_SCREENSHOTS=1), so a
    test run never changes tracked files."""
    if os.environ.get("IMON_UPDATE_SCREENSHOTS") == "1":
        dest.parent.mkdir(exist_ok=True)
        shutil.copy(shot, dest)


# --------------------------------------------------------------------------- the real pipeline

def test_report_of_a_real_refresh_follows_the_catalogue(refreshed):
    """The report that `imon refresh` wrote (tests/conftest.py): a page per field with published
    values, in the catalogue's order; the others named as without data; every published indicator
    with its page in its unit; the dbt docs (built before the report) linked, the data docs where
    they exist."""
    data = refreshed / "data"
    out, db = data / "reports", data / "published" / "monitoring.duckdb"
    index = (out / "index.html").read_text(encoding="utf-8")
    published = dict(q(db, "SELECT DISTINCT v.indicator_id, v.unit FROM indicator_values v"))
    assert published
    with_values = [f for f in CAT.fields if any(i.field == f.slug and i.id in published for i in CAT.indicators)]
    nav = re.findall(r'<li><a href="([a-z]+)\.html"', index)
    assert nav == ["index"] + [f.slug for f in with_values]
    without = [f for f in CAT.fields if f not in with_values]
    pending = re.search(r'<p class="hint pending">(.*?)</p>', index)
    if without:
        assert all(f.name in pending.group(1) for f in without)
        assert not any((out / f"{f.slug}.html").exists() for f in without)
    else:
        assert pending is None
    for ind, unit in published.items():
        page = (out / f"indikator-{ind.lower()}.html").read_text(encoding="utf-8")
        assert f"Einheit: {report.UNITS[unit].label}" in page, ind
        assert embedded_json(out / f"indikator-{ind.lower()}.html")["suffix"] == report.UNITS[unit].suffix
    assert f'<span class="pill">{len(published)} Indikatoren</span>' in index
    docs = re.findall(r'href="([a-z-]+/index\.html)"', re.search(r'<p class="docs">(.*?)</p>', index, re.S).group(1))
    assert "dbt-docs/index.html" in docs and (out / "dbt-docs" / "index.html").is_file()
    assert ("data-docs/index.html" in docs) == (out / "data-docs" / "index.html").is_file()


def test_a_refresh_makes_only_the_downloads_whose_content_changed(built, tmp_path):
    """Issue 20: a download whose content is unchanged is taken over from the previous report
    (not written again); the downloads of a changed indicator and of its field are made anew,
    and every download equals what a report made from scratch holds."""
    out, db, now = tmp_path / "reports", tmp_path / "monitoring.duckdb", dt.datetime(2025, 4, 2, 7, 30)
    shutil.copytree(built.out, out)  # copy2: modification times kept
    shutil.copy2(built.db, db)
    with duckdb.connect(str(db)) as con:  # ARB-01 changes, nothing else
        for (t,) in con.execute("SELECT table_name FROM duckdb_columns() WHERE column_name = 'value' "
                                "AND table_name IN (SELECT table_name FROM duckdb_columns() "
                                "WHERE column_name = 'indicator_id')").fetchall():
            con.execute(f"UPDATE {t} SET value = value + 1 WHERE indicator_id = 'ARB-01' AND value IS NOT NULL")
    downloads = out / "downloads"
    before = {p.name: p.stat().st_mtime_ns for p in downloads.iterdir() if not p.name.startswith(".")}
    time.sleep(0.05)
    write_report(db, out, now=now)
    after = {p.name: p.stat().st_mtime_ns for p in downloads.iterdir() if not p.name.startswith(".")}
    assert after.keys() == before.keys()
    remade = {n for n in after if after[n] != before[n]}
    assert {"ARB-01.xlsx", "ARB-01_aktuell.csv", "ARB-01_zeitreihe.csv", "handlungsfeld_arbeit.xlsx"} <= remade
    assert "SPR-02.xlsx" not in remade and "handlungsfeld_sprache.csv" not in remade
    assert len(remade) < len(after) / 3, sorted(remade)

    import openpyxl

    fresh = tmp_path / "fresh"
    write_report(db, fresh, now=now)
    for name in after:
        if name.endswith(".csv"):
            assert (downloads / name).read_bytes() == (fresh / "downloads" / name).read_bytes(), name
        else:
            got, want = (openpyxl.load_workbook(d / "downloads" / name, read_only=True) for d in (out, fresh))
            assert [list(ws.iter_rows(values_only=True)) for ws in got] == \
                   [list(ws.iter_rows(values_only=True)) for ws in want], name


def report_pages(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.html")}


def stated_stand(page: bytes) -> str:
    """The data stand a page states in its footer."""
    return re.search(r'<p class="stand">[^<]*?Datenstand (\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr)',
                     page.decode("utf-8")).group(1)


def test_a_report_renders_only_the_pages_whose_inputs_changed(built, tmp_path, monkeypatch):
    """Issue 20: a page is kept byte for byte while its inputs stay the same (its data, the
    code and templates, the navigation, the linked docs, the stand it states) and its file is
    intact; it is rendered when any of them changes. A kept page states the publication since
    which its data is unchanged, the overview (made every time) the stand of the whole set."""
    out, db, now = tmp_path / "reports", tmp_path / "monitoring.duckdb", dt.datetime(2025, 4, 2, 7, 30)
    shutil.copytree(built.out, out)  # copy2: modification times kept
    shutil.copy2(built.db, db)
    first, second = "02.04.2025, 03:15 Uhr", "02.05.2025, 03:15 Uhr"  # refresh_log of the fixture, and next

    def rebuild(targets_file: Path = TARGETS_FILE) -> tuple[dict, dict, set[str]]:
        before = report_pages(out)
        time.sleep(0.01)  # a file written again gets another modification time
        write_report(db, out, targets_file=targets_file, now=now)
        after = report_pages(out)
        return before, after, {n for n in after if n not in before or after[n][0] != before[n][0]}

    # The same published set again: the overview only, every other page the very same file.
    before, after, remade = rebuild()
    assert remade == {"index.html"} and after.keys() == before.keys()
    assert all(after[n] == before[n] for n in after if n != "index.html")

    # A new publication in which one Zielwert changed (REC-02: 50 -> 47.5 %): the pages showing
    # it, each with the new target and the new stand; the others keep the stand of the first.
    assert "REC-02" in SPEC
    doc = yaml.safe_load(TARGETS_FILE.read_text(encoding="utf-8"))
    entry = next(e for e in doc["zielwerte"] if e["indicator_id"] == "REC-02")
    entry["target"] = 47.5
    targets = tmp_path / "zielwerte.yml"
    targets.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with duckdb.connect(str(db)) as con:
        add_evaluation(con, targets)
        con.execute("INSERT INTO refresh_log (refresh_id, published_at) VALUES ('r2', TIMESTAMP '2025-05-02 03:15:00')")
    before, after, remade = rebuild()
    assert remade == {"index.html", "indikator-rec-02.html", "rechtsstatus.html"}
    assert "≥ 47,5 % bis 2027" in after["indikator-rec-02.html"][1].decode("utf-8")
    assert "≥ 47,5 % bis 2027" in after["index.html"][1].decode("utf-8")
    assert {n: stated_stand(after[n][1]) for n in remade - {"index.html"}} == dict.fromkeys(remade - {"index.html"},
                                                                                       second)
    assert {stated_stand(after[n][1]) for n in after.keys() - remade} == {first}
    assert f'<span class="pill">Datenstand: {second}</span>' in after["index.html"][1].decode("utf-8")
    assert f"veröffentlichter Datenstand {second}. Bericht erzeugt am" in after["index.html"][1].decode("utf-8")

    # A deleted page, an altered page, a deleted download: made anew, and as they were
    # (a page is a function of its inputs, the stand included).
    intact = report_pages(out)
    (out / "indikator-spr-01.html").unlink()
    (out / "indikator-arb-02.html").write_text("verändert", encoding="utf-8")
    (out / "downloads" / "WOH-01.xlsx").unlink()
    before, after, remade = rebuild()
    again = {"indikator-spr-01.html", "indikator-arb-02.html", "indikator-woh-01.html"}
    assert remade == again | {"index.html"}
    assert all(after[n][1] == intact[n][1] for n in again) and stated_stand(after["indikator-spr-01.html"][1]) == first
    assert (out / "downloads" / "WOH-01.xlsx").stat().st_size > 100

    # Another template (here the CSS, inlined in every page): every page, each with its stand.
    assets = tmp_path / "report_assets"
    shutil.copytree(report.ASSETS_DIR, assets)
    (assets / "report.css").write_text((assets / "report.css").read_text(encoding="utf-8") + "\n/* neu */\n",
                                       encoding="utf-8")
    monkeypatch.setattr(report, "ASSETS_DIR", assets)
    before, after, remade = rebuild()
    assert remade == set(after) == set(before)
    assert all("/* neu */" in after[n][1].decode("utf-8") for n in after)
    assert all(stated_stand(after[n][1]) == stated_stand(before[n][1]) for n in after if n != "index.html")
    monkeypatch.undo()

    # A broken manifest: every page anew; not knowing since when, each states the current stand.
    before, after, remade = rebuild()  # back to the shipped templates
    (out / report.MANIFEST_FILE).write_text("{", encoding="utf-8")
    before, after, remade = rebuild()
    assert remade == set(after) and {stated_stand(p) for _, p in after.values()} == {second}

    # A field losing its last values leaves the navigation: every page anew, its pages removed.
    with duckdb.connect(str(db)) as con:
        for t in ("indicator_values", "indicator_evaluation"):
            con.execute(f"DELETE FROM {t} WHERE indicator_id LIKE 'ENG-%'")
    before, after, remade = rebuild()
    gone = {"engagement.html", "indikator-eng-01.html", "indikator-eng-02.html"}
    assert gone <= before.keys() and not gone & after.keys()
    assert remade == set(after)
    assert all('href="engagement.html"' not in p.decode("utf-8") for _, p in after.values())
