"""The delivery calendar: which files are overdue, since when, which arrived late.

Real generated deliveries (the session's `generated` history, 2023-01 .. 2025-02) with gaps cut
into them (files deleted), read by the same function `imon status` uses, checked at dates
around month ends, year ends and a leap day (IMON_TODAY / Settings.today).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import date, datetime

import pytest

from conftest import env_for, imon


@pytest.fixture(scope="module")
def gapped(generated, tmp_path_factory):
    """The generated inbox with gaps: a month of jobcenter and unterbringung missing, the 2024
    population file missing, the first kita year missing, engagement never delivered. Every file
    "arrived" the day before it was due, except hilfe_zur_pflege_2024 (a month late)."""
    from sources.contracts import identify

    root = tmp_path_factory.mktemp("gapped")
    landing = root / "landing"
    shutil.copytree(generated, landing)
    for name in ["jobcenter/jobcenter_2024-06.csv", "wohnen/unterbringung_2024-01.xlsx",
                 "bevoelkerung/bevoelkerung_2024.csv", "jugendamt/kita_2023.csv"]:
        (landing / name).unlink()
    shutil.rmtree(landing / "integration")
    for f in landing.rglob("*.*"):
        contract, period = identify(f)
        arrived = contract.due.of(period).toordinal() - 1
        if f.name == "hilfe_zur_pflege_2024.csv":
            arrived = date(2025, 5, 2).toordinal()
        ts = datetime.fromordinal(arrived).replace(hour=9).timestamp()
        os.utime(f, (ts, ts))
    return root


def _status(root, today: date):
    from orchestration.deliveries import delivery_status
    from orchestration.settings import get_settings

    env = env_for(root / "data", root / "landing")
    old = dict(os.environ)
    os.environ.update({k: env[k] for k in ("IMON_DATA_DIR", "IMON_LANDING_DIR")})
    try:
        settings = dataclasses.replace(get_settings(), today=today)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return {s.file_type: s for s in delivery_status(settings)}


def _overdue(st) -> dict[str, int]:
    return {o.period: o.days for o in st.overdue}


def test_calendar_rows_match_the_contract_table():
    from sources.contracts import load_contracts

    c = load_contracts()
    assert c["jobcenter"].due.of("2024-12") == date(2025, 1, 20)  # year end: the following January
    assert c["abh_bestand"].due.of("2024-01") == date(2024, 2, 15)
    assert c["abh_einbuergerungen"].due.of("2025-11") == date(2025, 12, 15)
    assert c["unterbringung"].due.of("2024-02") == date(2024, 3, 10)
    assert c["bevoelkerung"].due.of("2024") == date(2025, 9, 30)
    assert c["schulstatistik"].due.of("2024") == date(2025, 3, 31)
    assert c["schulabgaenger"].due.of("2024") == date(2025, 12, 31)
    assert c["esu"].due.of("2024") == date(2025, 10, 31)
    assert c["kita"].due.of("2024") == date(2024, 11, 30)
    assert c["hilfe_zur_pflege"].due.of("2024") == date(2025, 3, 31)
    assert c["engagement"].due.of("2024") == date(2025, 4, 30)
    assert all(x.due is not None for x in c.values())  # a new source brings its row


def test_a_missing_month_is_overdue_the_day_after_its_due_date(gapped):
    assert "2024-06" not in _overdue(_status(gapped, date(2024, 7, 20))["jobcenter"])  # due today: not yet
    st = _status(gapped, date(2024, 7, 21))["jobcenter"]
    assert _overdue(st) == {"2024-06": 1}
    o = st.overdue[0]
    assert (o.file_name, o.due) == ("jobcenter_2024-06.csv", date(2024, 7, 20))
    assert "jobcenter_2024-06.csv" in o.line() and "20.07.2024" in o.line()


def test_leap_february_counts_29_days(gapped):
    # unterbringung_2024-01 was due 10.02.2024; on 01.03.2024 that is 20 days (29 February counted).
    assert _overdue(_status(gapped, date(2024, 3, 1))["unterbringung"]) == {"2024-01": 20}
    assert _overdue(_status(gapped, date(2024, 2, 10))["unterbringung"]) == {}


def test_over_a_year_end_every_missing_month_is_listed(gapped):
    # Nothing after 2025-02 was delivered: on 21.01.2026, 2025-03 .. 2025-12 are overdue
    # (2025-12 was due 20.01.2026, yesterday), plus the old gap 2024-06.
    jc = _overdue(_status(gapped, date(2026, 1, 21))["jobcenter"])
    assert sorted(jc) == ["2024-06"] + [f"2025-{m:02d}" for m in range(3, 13)]
    assert jc["2025-12"] == 1 and jc["2025-03"] == (date(2026, 1, 21) - date(2025, 4, 20)).days
    assert "2025-12" not in _overdue(_status(gapped, date(2026, 1, 20))["jobcenter"])


def test_yearly_files_late_and_first_delivery_starts_the_calendar(gapped):
    st = _status(gapped, date(2025, 9, 30))
    assert _overdue(st["bevoelkerung"]) == {}  # due 30.09.2025: today, not yet overdue
    st = _status(gapped, date(2025, 10, 1))
    assert _overdue(st["bevoelkerung"]) == {"2024": 1}
    # kita 2023 never came, but kita's calendar starts with its first delivery (2024)
    assert _overdue(st["kita"]) == {}
    assert st["kita"].last_period == "2024" and st["kita"].next_due == date(2025, 11, 30)
    assert "2025" in _overdue(_status(gapped, date(2025, 12, 1))["kita"])
    # a source that never delivered is never overdue
    assert st["engagement"].last_period is None and st["engagement"].overdue == []
    # hilfe_zur_pflege_2024 arrived on 02.05.2025, due 31.03.2025: late, not overdue
    assert st["hilfe_zur_pflege"].late == [("2024", date(2025, 3, 31), date(2025, 5, 2))]
    assert _overdue(st["hilfe_zur_pflege"]) == {}
    # the school year: its file is named by the first year, shown as YYYY/YY
    from orchestration.deliveries import period_label

    assert period_label("schulstatistik", "2024") == "2024/25" and period_label("esu", "2099") == "2099/00"


def test_a_quarantined_file_is_not_overdue(gapped, tmp_path):
    root = tmp_path / "q"
    shutil.copytree(gapped, root)
    q = root / "data" / "quarantine"
    q.mkdir(parents=True)
    (q / "20240725T020000_jobcenter_2024-06.csv").write_text("kaputt")
    (q / "20240725T020000_jobcenter_2024-06.csv.report.txt").write_text("Bericht")
    assert _overdue(_status(root, date(2024, 8, 1))["jobcenter"]) == {}


def test_imon_status_lists_overdue_files_for_imon_today(gapped):
    env = env_for(gapped / "data", gapped / "landing", IMON_TODAY="2024-07-25")
    out = imon("status", env=env, check_rc=0).stdout
    assert "Lieferungen (Stand 25.07.2024): 2 überfällig" in out, out  # jobcenter 2024-06, unterbringung 2024-01
    assert "ÜBERFÄLLIG jobcenter_2024-06.csv (jobcenter, Zeitraum 2024-06): fällig am 20.07.2024, seit 5 Tag(en)" in out
    assert "engagement           noch keine Lieferung" in out
    env["IMON_TODAY"] = "25.07.2024"
    proc = imon("status", env=env, check_rc=1)
    assert "FEHLER: IMON_TODAY='25.07.2024' ist kein Datum (erwartet JJJJ-MM-TT" in proc.stdout


def test_the_data_docs_have_a_page_of_deliveries(gapped, tmp_path):
    from orchestration.data_docs import render_deliveries
    from orchestration.settings import get_settings

    root = tmp_path / "p"
    shutil.copytree(gapped, root)
    env = env_for(root / "data", root / "landing")
    old = dict(os.environ)
    os.environ.update({k: env[k] for k in ("IMON_DATA_DIR", "IMON_LANDING_DIR")})
    try:
        settings = dataclasses.replace(get_settings(), today=date(2025, 10, 1))
    finally:
        os.environ.clear()
        os.environ.update(old)
    page = render_deliveries(settings)
    html = page.read_text(encoding="utf-8")
    assert page == root / "data" / "reports" / "data-docs" / "lieferungen.html"
    from orchestration.deliveries import delivery_status, overdue

    n = len(overdue(delivery_status(settings)))  # every month since 2025-03 of four types, the gaps, bevoelkerung 2024
    assert n > 4 * 5 and "Stand 01.10.2025" in html and f"{n} Lieferung(en) überfällig" in html
    assert "bevoelkerung_2024.csv (fällig 30.09.2025, 1 Tag(e))" in html
    assert "2024: fällig 31.03.2025, eingetroffen 02.05.2025" in html  # hilfe_zur_pflege, late
    assert "noch keine Lieferung" in html and "http" not in html.replace('lang="de"', "")
    index = (page.parent / "index.html").read_text(encoding="utf-8")
    assert 'href="lieferungen.html"' in index
