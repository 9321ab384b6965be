"""The BI layer (issue 13): Superset on the published set, dashboards as code, in a browser.

One real Superset (the project's .venv-bi, gunicorn on a free 127.0.0.1 port) per module,
set up exactly as `make bi` does it (bi/publish.py, then bi/admin.py up) on the session's
published set, with a PostgreSQL serving database, metadata database and reader role of its
own (dropped at the end). Headless Chromium (Debian chromium + chromium-driver) opens every
dashboard; the test is skipped only where those cannot be found.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from bi import bundle
from sources import catalogue

REPO = Path(__file__).resolve().parent.parent
BI_PY = REPO / ".venv-bi" / "bin" / "python"
ADMIN_DSN = os.environ.get("IMON_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DOCS = REPO / "docs"
SCREENSHOTS = {"imon-uebersicht": "bi-uebersicht.png", "imon-arbeit": "bi-arbeit.png"}
ADMIN = ("admin", "test-admin-not-secret")
ANALYST = ("analyst1", "test-analyst-not-secret")


# --------------------------------------------------------------------------- no server needed

def test_bundle_matches_catalogue():
    """bi/superset is generated from sources/indicators.yml: regenerate after a catalogue change
    (`python -m bi.bundle`); this fails on drift, as for the GX suites."""
    stale = bundle.drift()
    assert not stale, f"bi/superset ist veraltet, neu erzeugen mit `python -m bi.bundle`: {stale}"


def test_bundle_has_every_indicator_and_field():
    c = catalogue.load()
    files = bundle.build(c)
    import yaml

    charts = [yaml.safe_load(v) for k, v in files.items() if k.startswith("charts/")]
    for ind in c.indicators:
        mine = sorted(ch["viz_type"] for ch in charts
                      if [f["comparator"] for f in ch["params"]["adhoc_filters"]] == [ind.id])
        assert mine == ["echarts_timeseries_bar", "echarts_timeseries_line", "table"], ind.id
    for f in c.fields:
        assert f"dashboards/imon-{f.slug}.yaml" in files
    assert "dashboards/imon-uebersicht.yaml" in files


def test_new_indicator_appears_without_hand_editing(tmp_path):
    """A catalogue with one more indicator yields one more set of charts on its field's dashboard."""
    import yaml

    raw = yaml.safe_load(catalogue.CATALOGUE_FILE.read_text(encoding="utf-8"))
    extra = dict(raw["indicators"][0], id="ARB-99", name_de="Testindikator Neu")
    raw["indicators"].append(extra)
    path = tmp_path / "indicators.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    files = bundle.build(catalogue.load(path))
    arbeit = files["dashboards/imon-arbeit.yaml"]
    assert arbeit.count("ARB-99 Testindikator Neu: ") == 3
    assert "'ARB-99', 'Testindikator Neu'" in files[f"datasets/{bundle._slug(bundle.PG_DB_NAME)}/bi_werte.yaml"]
    assert files != bundle.build()


# --------------------------------------------------------------------------- the real server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def superset(refreshed, tmp_path_factory):
    psycopg = pytest.importorskip("psycopg")
    from psycopg.conninfo import make_conninfo

    if not BI_PY.exists():
        pytest.fail("Superset-Umgebung .venv-bi fehlt: `make bi-setup` (make test installiert sie)")
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"no PostgreSQL reachable at {ADMIN_DSN}: {exc}")
    tag = f"bi{os.getpid()}"
    serving, meta, role = f"imon_test_{tag}_serving", f"imon_test_{tag}_superset", f"imon_reader_{tag}"
    for name in (serving, meta):
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    root = tmp_path_factory.mktemp("bi")
    data = root / "data"
    (data / "published").mkdir(parents=True)
    shutil.copy2(refreshed / "data" / "published" / "monitoring.duckdb", data / "published")
    # The person-level layers next to it, as after `make run`: what SQL Lab must not reach.
    for sub in ("archive", "warehouse"):
        shutil.copytree(refreshed / "data" / sub, data / sub, ignore=shutil.ignore_patterns("*.lock"))
    base = ADMIN_DSN.rsplit("/", 1)[0]
    port = _free_port()
    env = dict(os.environ, IMON_DATA_DIR=str(data), IMON_BI_PORT=str(port),
               IMON_BI_SERVING_DSN=f"{base}/{serving}", IMON_BI_METADATA_DSN=f"{base}/{meta}",
               IMON_POSTGRES_READER_ROLE=role, IMON_BI_ADMIN_USER="admin",
               IMON_BI_ADMIN_PASSWORD="test-admin-not-secret", IMON_BI_ANALYST_PASSWORD=ANALYST[1])
    env.pop("IMON_POSTGRES_DSN", None)
    timings = {}

    def step(name, *cmd):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        timings[name] = round(time.perf_counter() - t0, 1)
        assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return proc.stdout

    try:
        step("publish", sys.executable, "-m", "bi.publish")  # the two steps of `make bi`
        step("up", str(BI_PY), "bi/admin.py", "up")
        out = step("analyst", str(BI_PY), "bi/admin.py", "analyst", ANALYST[0])  # make bi-analyst
        assert f"Analyse-Konto {ANALYST[0]} angelegt" in out and ANALYST[1] not in out
        yield {"url": f"http://127.0.0.1:{port}", "root": root, "env": env, "data": data, "step": step,
               "timings": timings, "reader_dsn": make_conninfo(f"{base}/{serving}", user=role),
               "published": data / "published" / "monitoring.duckdb"}
    finally:
        subprocess.run([str(BI_PY), "bi/admin.py", "stop"], env=env, cwd=REPO, capture_output=True,
                       timeout=120)
        print(f"\nBI-Zeiten (s): {timings}")
        for name in (serving, meta):
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def _login(url: str, user: str, password: str):
    """A logged-in HTTP session as the browser gets it: the form POST to /login/ gives the
    session cookie, the page after it the CSRF token that API POSTs need."""
    import re

    import requests

    s = requests.Session()
    page = s.get(f"{url}/login/", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or \
        re.search(r'"csrf_token":\s*"([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    r = s.post(f"{url}/login/", data={"username": user, "password": password,
                                      "csrf_token": token.group(1)}, timeout=30, allow_redirects=True)
    assert r.status_code == 200 and "session" in s.cookies, f"login {user} failed: {r.status_code}"
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', r.text)
    assert csrf, f"login {user} failed (no CSRF token after login)"
    s.headers.update({"X-CSRFToken": csrf.group(1), "Referer": url})
    s.base = url
    s.user = user
    return s


@pytest.fixture(scope="module")
def api(superset):
    return _login(superset["url"], *ADMIN)


@pytest.fixture(scope="module")
def analyst(superset):
    return _login(superset["url"], *ANALYST)


def _all(api, what: str) -> list[dict]:
    r = api.get(f"{api.base}/api/v1/{what}/", params={"q": "(page_size:100)"}, timeout=60)
    r.raise_for_status()
    return r.json()["result"]


def test_import_is_idempotent(superset, api):
    before = {k: sorted((o["id"], o.get("uuid")) for o in _all(api, k))
              for k in ("dashboard", "chart", "dataset", "database")}
    superset["step"]("import again", str(BI_PY), "bi/admin.py", "import")
    after = {k: sorted((o["id"], o.get("uuid")) for o in _all(api, k))
             for k in ("dashboard", "chart", "dataset", "database")}
    assert after == before
    c = catalogue.load()
    assert len(before["dashboard"]) == len(c.fields) + 1
    assert len(before["chart"]) == 3 * len(c.indicators) + 1


def test_both_databases_registered_read_only(superset, api):
    dbs = {d["database_name"]: d for d in _all(api, "database")}
    assert set(dbs) == {bundle.PG_DB_NAME, bundle.DUCK_DB_NAME}
    for d in dbs.values():
        assert not d["allow_dml"] and not d["allow_file_upload"]
    detail = api.get(f"{api.base}/api/v1/database/{dbs[bundle.PG_DB_NAME]['id']}/connection", timeout=30).json()
    assert urlsplit(detail["result"]["sqlalchemy_uri"]).username == superset["env"]["IMON_POSTGRES_READER_ROLE"]
    with duckdb.connect(str(superset["published"]), read_only=True) as con:
        want = con.sql("SELECT count(*) FROM indicator_values").fetchone()[0]
    for name in dbs:
        r = api.post(f"{api.base}/api/v1/sqllab/execute/", json={
            "database_id": dbs[name]["id"], "sql": "SELECT count(*) AS n FROM indicator_values",
            "schema": "monitoring" if name == bundle.PG_DB_NAME else "main", "runAsync": False}, timeout=120)
        assert r.status_code == 200, r.text[:2000]
        assert r.json()["data"][0]["n"] == want
    # Writes are refused (Superset: no DML; PostgreSQL: read-only role; DuckDB: read_only file).
    r = api.post(f"{api.base}/api/v1/sqllab/execute/", json={
        "database_id": dbs[bundle.DUCK_DB_NAME]["id"], "sql": "DELETE FROM indicator_values",
        "schema": "main", "runAsync": False}, timeout=60)
    assert r.status_code >= 400
    with duckdb.connect(str(superset["published"]), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM indicator_values").fetchone()[0] == want


def _chart(api, slice_name: str) -> dict:
    hits = [c for c in _all(api, "chart") if c["slice_name"] == slice_name]
    assert len(hits) == 1, slice_name
    r = api.get(f"{api.base}/api/v1/chart/{hits[0]['id']}", timeout=30)
    r.raise_for_status()
    return r.json()["result"]


def _chart_data(api, chart: dict, columns: list, extra_filters: list | None = None) -> list[dict]:
    """POST /api/v1/chart/data with the query the chart's saved params describe."""
    params = json.loads(chart["params"])
    filters = [{"col": f["subject"], "op": f["operator"], "val": f["comparator"]}
               for f in params["adhoc_filters"]] + (extra_filters or [])
    query = {"columns": columns, "metrics": params.get("metrics") or [], "filters": filters,
             "row_limit": 100000, "orderby": [], "extras": {"where": "", "having": ""}}
    body = {"datasource": {"id": int(params["datasource"].split("__")[0]), "type": "table"}, "force": True,
            "queries": [query], "result_format": "json", "result_type": "full",
            "form_data": params}
    r = api.post(f"{api.base}/api/v1/chart/data", json=body, timeout=120)
    assert r.status_code == 200, r.text[:2000]
    return r.json()["result"][0]["data"]


def _labels():
    c = catalogue.load()
    return c, c.group_labels


def test_chart_numbers_equal_published_values(superset, api):
    """The numbers the time series and the comparison of one indicator show (chart-data API)
    are exactly `indicator_values` of the published file, suppressed cells included (None)."""
    c, groups = _labels()
    with duckdb.connect(str(superset["published"]), read_only=True) as con:
        ind_id = con.sql("SELECT indicator_id FROM indicator_values GROUP BY 1 "
                         "ORDER BY count(*) FILTER (WHERE is_suppressed) DESC, 1 LIMIT 1").fetchone()[0]
        rows = con.sql("SELECT period_end, region_name, group_code, value, is_suppressed, period "
                       "FROM indicator_values WHERE indicator_id = ?", params=[ind_id]).fetchall()
    ind = c.indicator(ind_id)
    head = f"{ind.id} {ind.name_de}"
    want = {(str(p), r, groups[g]): v for p, r, g, v, _, _ in rows}
    assert any(s for *_, s, _ in rows), "test data should contain suppressed cells"

    series = _chart(api, f"{head}: Zeitreihe")
    got = _chart_data(api, series, ["period_end", "region_name", "gruppe"])
    assert len(got) == len(want)
    as_date = lambda ms: time.strftime("%Y-%m-%d", time.gmtime(ms / 1000)) if isinstance(ms, (int, float)) \
        else str(ms)[:10]  # noqa: E731
    assert {(as_date(d["period_end"]), d["region_name"], d["gruppe"]): d["Wert"] for d in got} == want

    latest = max(p for p, *_ in rows)
    compare = _chart(api, f"{head}: Gemeindevergleich")
    got = _chart_data(api, compare, ["gebiet_anzeige", "gruppe", "is_suppressed"])
    expect = {(r + (f" {bundle.SUPPRESSED}" if s else ""), groups[g]): v
              for p, r, g, v, s, _ in rows if p == latest}
    assert {(d["gebiet_anzeige"], d["gruppe"]): d["Wert"] for d in got} == expect

    # The table shows suppressed cells as such, never as 0 or empty.
    table = _chart(api, f"{head}: Tabelle")
    got = _chart_data(api, table, ["region_name", "gruppe", "wert_anzeige", "is_suppressed"])
    assert got and all((d["wert_anzeige"] == bundle.SUPPRESSED) == d["is_suppressed"] for d in got)
    assert any(d["is_suppressed"] for d in got) or not any(s for p, *_, s, _ in rows if p == latest)

    # The overview lists every published indicator once (groups without insgesamt included).
    with duckdb.connect(str(superset["published"]), read_only=True) as con:
        published = {r[0] for r in con.sql("SELECT DISTINCT indicator_id FROM indicator_values").fetchall()}
    got = _chart_data(api, _chart(api, "Letzter Stand aller Indikatoren (Landkreis)"), ["indicator_id"])
    assert sorted(d["indicator_id"] for d in got) == sorted(published)

    # The period filter (Jinja in bi_vergleich) picks an earlier period.
    earlier = sorted({per for *_, per in rows})[0]
    got = _chart_data(api, compare, ["gebiet_anzeige", "gruppe"],
                      [{"col": "period", "op": "IN", "val": [earlier]}])
    expect = {(r + (f" {bundle.SUPPRESSED}" if s else ""), groups[g]): v
              for p, r, g, v, s, per in rows if per == earlier}
    assert {(d["gebiet_anzeige"], d["gruppe"]): d["Wert"] for d in got} == expect


def _browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Chromium oder chromium-driver nicht installiert (make browser): kein Browser-Test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1800", "--lang=de-DE", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # The driver path is given explicitly, so Selenium Manager never tries to download one.
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)


# Per chart container: "" while loading, "error", "empty" (no data: Superset's "no results"
# message) or "ok" (a canvas, svg or table was drawn).
_CHART_STATES = """
return Array.from(document.querySelectorAll('[data-test="chart-container"]')).map(c => {
  if (c.querySelector('.ant-alert-error, .alert-danger, [data-test="error-message"]')
      || /Unexpected error|Unerwarteter Fehler|Fehler beim Laden/i.test(c.innerText)) return 'error';
  if (c.querySelector('[data-test="loading-indicator"], .loading')) return '';
  if (/keine Ergebnisse|No results/i.test(c.innerText)) return 'empty';
  return c.querySelector('canvas, svg, table') ? 'ok' : '';
});
"""


# The overview's table: rows drawn, and whether its last row and last column lie inside the
# chart (no column off the right edge, no scrolling inside the chart).
_TABLE_FITS = """
const c = document.querySelector('[data-test="chart-container"] table').closest('[data-test="chart-container"]');
const box = c.getBoundingClientRect();
const rows = c.querySelectorAll('tbody tr');
const right = Math.max(...Array.from(c.querySelectorAll('th, td')).map(e => e.getBoundingClientRect().right));
const bottom = rows[rows.length - 1].getBoundingClientRect().bottom;
return {rows: rows.length, inside: right <= box.right + 1 && bottom <= box.bottom + 1,
        box: [box.right, box.bottom], content: [right, bottom]};
"""


class _Net:
    """Network events of the page from Chrome's performance log (CDP)."""

    def __init__(self, driver):
        self.driver = driver
        self.requests: dict[str, str] = {}
        self.responses: dict[str, int] = {}
        self.failed: dict[str, dict] = {}

    def poll(self) -> None:
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            p = msg.get("params", {})
            if msg["method"] == "Network.requestWillBeSent":
                self.requests[p["requestId"]] = p["request"]["url"]
            elif msg["method"] == "Network.responseReceived":
                self.responses[p["requestId"]] = p["response"]["status"]
                self.requests.setdefault(p["requestId"], p["response"]["url"])
            elif msg["method"] == "Network.loadingFailed":
                self.failed[p["requestId"]] = p

    def chart_data(self) -> list[int]:
        return [self.responses[r] for r, u in self.requests.items()
                if "/api/v1/chart/data" in u and r in self.responses]

    def outside(self) -> tuple[list[str], list[str]]:
        """(requests that left 127.0.0.1, requests to outside hosts the browser blocked)."""
        left, blocked = [], []
        for rid, url in self.requests.items():
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "chrome") or parts.hostname == "127.0.0.1":
                continue
            (blocked if self.failed.get(rid, {}).get("blockedReason") else left).append(url)
        return left, blocked


def test_dashboards_render_in_browser(superset, api):
    """Every dashboard opens in headless Chromium, each chart's data request succeeds and
    no chart shows an error; no request leaves 127.0.0.1; screenshots go to docs/ with IMON_UPDATE_SCREENSHOTS=1."""
    url = superset["url"]
    # The content security policy allows the server itself only.
    csp = api.get(f"{url}/superset/dashboard/imon-uebersicht/", timeout=60).headers["Content-Security-Policy"]
    sources = {tok for part in csp.split(";") for tok in part.split()[1:]}
    assert sources and all(t in ("'self'", "'none'", "data:", "blob:", "'unsafe-inline'", "'strict-dynamic'")
                           or t.startswith("'nonce-") for t in sources), csp

    dashboards = sorted(_all(api, "dashboard"), key=lambda d: d["slug"])
    files = bundle.build()
    t0 = time.perf_counter()
    driver = _browser()
    net = _Net(driver)
    rendered = {}
    try:
        driver.get(f"{url}/health")
        driver.add_cookie({"name": "session", "value": api.cookies["session"], "path": "/"})
        for d in dashboards:
            import yaml

            layout = yaml.safe_load(files[f"dashboards/{d['slug']}.yaml"])["position"]
            n_charts = sum(1 for v in layout.values() if isinstance(v, dict) and v.get("type") == "CHART")
            net.poll()
            seen = len(net.chart_data())
            driver.get(f"{url}/superset/dashboard/{d['slug']}/")
            deadline = time.monotonic() + 180
            while True:
                net.poll()
                states = driver.execute_script(_CHART_STATES)
                if len(states) == n_charts and all(states) and len(net.chart_data()) - seen >= n_charts:
                    break
                assert time.monotonic() < deadline, f"{d['slug']}: charts not rendered: {states}"
                time.sleep(0.5)
            statuses = net.chart_data()[seen:]
            assert set(statuses) == {200}, f"{d['slug']}: chart data answers {statuses}"
            failed = [s for s in states if s == "error"]
            assert not failed, f"{d['slug']}: {len(failed)} charts show an error"
            empty = states.count("empty")
            rendered[d["slug"]] = (n_charts - empty, empty)
            assert d["dashboard_title"] in driver.page_source
            if d["slug"] == "imon-uebersicht":
                fit = driver.execute_script(_TABLE_FITS)
                with duckdb.connect(str(superset["published"]), read_only=True) as con:
                    n_published = con.sql("SELECT count(DISTINCT indicator_id) FROM indicator_values").fetchone()[0]
                assert fit["inside"] and fit["rows"] == n_published, fit
            if d["slug"] in SCREENSHOTS:
                time.sleep(1.0)  # let the ECharts animation finish
                shot = superset["root"] / SCREENSHOTS[d["slug"]]
                driver.save_screenshot(str(shot))
                assert shot.stat().st_size > 20_000, f"{d['slug']}: screenshot looks empty"
                if os.environ.get("IMON_UPDATE_SCREENSHOTS") == "1":  # tracked files only on request
                    shutil.copy(shot, DOCS / SCREENSHOTS[d["slug"]])
        net.poll()
        left, blocked = net.outside()
        assert not left, f"requests left 127.0.0.1: {left}"
        print(f"\n{len(dashboards)} Dashboards im Browser in {time.perf_counter() - t0:.1f} s "
              f"(Diagramme mit Daten, ohne Daten: {rendered}); blockiert (CSP): {blocked}")
        # The published indicators have data on their field's dashboard.
        with duckdb.connect(str(superset["published"]), read_only=True) as con:
            published = {r[0] for r in con.sql("SELECT DISTINCT indicator_id FROM indicator_values").fetchall()}
        c = catalogue.load()
        for f in c.fields:
            with_data = 3 * sum(1 for i in c.in_field(f.slug) if i.id in published)
            assert rendered[f"imon-{f.slug}"][0] >= with_data, (f.slug, rendered[f"imon-{f.slug}"])
    finally:
        driver.quit()


# --------------------------------------------------------------------------- issue 19: what SQL can reach

def _sql(session, db_id: int, sql: str, schema: str):
    return session.post(f"{session.base}/api/v1/sqllab/execute/", json={
        "database_id": db_id, "sql": sql, "schema": schema, "runAsync": False}, timeout=120)


def _attack_targets(superset) -> dict:
    """Person-level files next to the published one, and proof that they are readable
    without the lock (so a refusal below is the lock's doing, not a missing file)."""
    data = superset["data"]
    internal = data / "warehouse" / "internal.duckdb"
    pq = data / "archive" / "extrakt.parquet"
    with duckdb.connect() as plain:
        csv = next(p for p in sorted((data / "archive").rglob("*.csv"))
                   if "person_id" in [c[0] for c in plain.sql(f"DESCRIBE SELECT * FROM read_csv('{p}')").fetchall()])
        plain.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{pq}' (FORMAT parquet)")
        assert plain.sql(f"SELECT count(*) FROM read_parquet('{pq}')").fetchone()[0] > 0
        plain.execute(f"ATTACH '{internal}' AS internal (READ_ONLY)")
        assert plain.sql("SELECT count(*) FROM internal.raw.jobcenter").fetchone()[0] > 0
    return {"data": data, "csv": csv, "parquet": pq, "internal": internal}


def _attacks(t: dict, target: Path) -> dict[str, str]:
    return {
        "read_csv": f"SELECT * FROM read_csv('{t['csv']}')",
        "read_parquet": f"SELECT * FROM read_parquet('{t['parquet']}')",
        "glob": f"SELECT count(*) AS n FROM glob('{t['data']}/**')",
        "attach": f"ATTACH '{t['internal']}' AS internal (READ_ONLY)",
        "attach_select": f"ATTACH '{t['internal']}' AS internal (READ_ONLY);\nSELECT * FROM internal.raw.jobcenter",
        "copy_to": f"COPY (SELECT 42 AS x) TO '{target}'",
        "copy_from": f"COPY indicator_values FROM '{t['csv']}'",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "unlock": "SET enable_external_access = true",
        "unlock_config": "SET lock_configuration = false",
        "pg_read_file": "SELECT pg_read_file('/etc/hostname')",
        "pg_ls_dir": "SELECT pg_ls_dir('.')",
        "lo_import": "SELECT lo_import('/etc/hostname')",
        "lo_create": "SELECT lo_create(0)",
        "dblink": "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)",
        "create_extension": "CREATE EXTENSION dblink",
    }


def test_sql_lab_reaches_the_published_set_only(superset, api, analyst):
    """As the admin and as an analyst, on every database Superset knows: every way out to
    the file system, the internal warehouse or an extension fails and writes nothing;
    ordinary queries on the published tables still work (issue 19)."""
    t = _attack_targets(superset)
    written = superset["root"] / "written"
    written.mkdir()
    dbs = {d["database_name"]: d["id"] for d in _all(api, "database")}
    with duckdb.connect(str(superset["published"]), read_only=True) as con:
        want = con.sql("SELECT count(*) FROM indicator_values").fetchone()[0]
    passed = []
    for session in (api, analyst):
        for name, db_id in dbs.items():
            schema = "monitoring" if name == bundle.PG_DB_NAME else "main"
            r = _sql(session, db_id, "SELECT count(*) AS n FROM indicator_values", schema)
            assert r.status_code == 200 and r.json()["data"][0]["n"] == want, (session.user, name, r.text[:500])
            if name == bundle.DUCK_DB_NAME:
                r = _sql(session, db_id, "SELECT current_setting('enable_external_access') AS v, "
                                         "current_setting('lock_configuration') AS l", schema)
                assert r.status_code == 200 and r.json()["data"] == [{"v": False, "l": True}], r.text[:500]
            for what, sql in _attacks(t, written / f"{session.user}-{db_id}.csv").items():
                r = _sql(session, db_id, sql, schema)
                assert r.status_code >= 400, (session.user, name, what, r.text[:1000])
                assert "person_id" not in r.text and "bg_id" not in r.text, (session.user, name, what)
                passed.append((session.user, name, what))
    assert list(written.iterdir()) == []
    assert len(passed) == 2 * len(dbs) * len(_attacks(t, written))
    # The refusal is DuckDB's lock, not a parser of Superset's: the message says so.
    r = _sql(analyst, dbs[bundle.DUCK_DB_NAME], _attacks(t, written / "x")["read_csv"], "main")
    assert "disabled by configuration" in r.text, r.text[:1000]


def test_no_connection_beyond_the_published_set(superset, api):
    """The admin cannot register (or test) a connection to the internal warehouse, an
    in-memory DuckDB or PostgreSQL as a superuser, and options smuggled into the DuckDB
    entry (connect config, URL query) do not lift the lock."""
    t = _attack_targets(superset)
    before = sorted(d["id"] for d in _all(api, "database"))
    superuser = superset["env"]["IMON_BI_SERVING_DSN"]
    for n, uri in enumerate((f"duckdb:///{t['internal']}", "duckdb:///:memory:", superuser,
                             f"duckdb:///{superset['published']}?enable_external_access=true")):
        body = {"database_name": f"Versuch {n}", "sqlalchemy_uri": uri, "expose_in_sqllab": True,
                "configuration_method": "sqlalchemy_form"}
        r = api.post(f"{api.base}/api/v1/database/test_connection/", json=body, timeout=60)
        if n < 3:
            assert r.status_code >= 400, (uri, r.text[:500])
            r = api.post(f"{api.base}/api/v1/database/", json=body, timeout=60)
            assert r.status_code >= 400, (uri, r.text[:500])
    assert sorted(d["id"] for d in _all(api, "database")) == before

    duck = next(d for d in _all(api, "database") if d["database_name"] == bundle.DUCK_DB_NAME)
    r = api.get(f"{api.base}/api/v1/database/{duck['id']}/connection", timeout=30)
    extra = r.json()["result"]["extra"]
    assert json.loads(extra)["engine_params"]["connect_args"]["config"]["enable_external_access"] is False
    opened = json.dumps({"engine_params": {"connect_args": {
        "read_only": True, "config": {"enable_external_access": True},
        "preload_extensions": ["httpfs"]}}})
    r = api.put(f"{api.base}/api/v1/database/{duck['id']}", json={"extra": opened}, timeout=60)
    try:
        r = _sql(api, duck["id"], f"SELECT * FROM read_csv('{t['csv']}')", "main")
        assert r.status_code >= 400 and "person_id" not in r.text, r.text[:500]
    finally:
        r = api.put(f"{api.base}/api/v1/database/{duck['id']}", json={"extra": extra}, timeout=60)
        assert r.status_code == 200, r.text[:500]


def test_reader_role_reads_the_published_schema_only(superset):
    """The PostgreSQL role Superset reads as, tested as that role: no server files, no
    COPY to or from a file, no dblink, no large objects (also in a read-write
    transaction); the only tables it can see are the published ones."""
    psycopg = pytest.importorskip("psycopg")
    target = superset["root"] / "pg-written.csv"
    refused = ["SELECT pg_read_file('/etc/hostname')", "SELECT pg_read_binary_file('/etc/hostname')",
               "SELECT pg_ls_dir('.')", "SELECT pg_stat_file('.')",
               f"COPY (SELECT 42) TO '{target}'", "COPY monitoring.indicator_values FROM '/etc/hostname'",
               "COPY (SELECT 1) TO PROGRAM 'true'",
               "SELECT lo_import('/etc/hostname')", "SELECT lo_create(0)", "SELECT lo_from_bytea(0, 'x')",
               "SELECT lo_export(1, '/tmp/x')",
               "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)", "CREATE EXTENSION dblink",
               "CREATE TABLE monitoring.x (i int)", "CREATE TEMP TABLE x (i int)"]
    with psycopg.connect(superset["reader_dsn"], autocommit=True) as con:
        for sql in refused:
            for rw in (False, True):
                with pytest.raises(psycopg.Error):
                    with con.transaction():
                        if rw:
                            con.execute("SET TRANSACTION READ WRITE")
                        con.execute(sql)
        schemas = con.execute("SELECT DISTINCT table_schema FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
        assert schemas == [("monitoring",)]
        assert con.execute("SELECT count(*) FROM indicator_values").fetchone()[0] > 0
    assert not target.exists()


def test_analyst_sees_dashboards_not_the_connections(superset, api, analyst):
    """An analyst account (`make bi-analyst`) sees every dashboard and its data, but not the
    connection details and may not change a database."""
    assert sorted(d["slug"] for d in _all(analyst, "dashboard")) == sorted(d["slug"] for d in _all(api, "dashboard"))
    overview = next(c for c in _all(api, "chart") if c["slice_name"].startswith("Letzter Stand"))
    r = analyst.get(f"{analyst.base}/api/v1/chart/{overview['id']}/data/", timeout=120)
    assert r.status_code == 200 and r.json()["result"][0]["data"], r.text[:500]
    duck = next(d for d in _all(api, "database") if d["database_name"] == bundle.DUCK_DB_NAME)
    assert analyst.get(f"{analyst.base}/api/v1/database/{duck['id']}/connection", timeout=30).status_code in (401, 403, 404)
    assert analyst.put(f"{analyst.base}/api/v1/database/{duck['id']}", json={"extra": "{}"},
                       timeout=30).status_code in (401, 403, 404)


# --------------------------------------------------------------------------- issue 17

def test_every_chart_answers_with_published_values(superset, api):
    """GET /api/v1/chart/{id}/data/ (the saved query context: alerts, reports, thumbnails,
    cache warm-up, API clients) answers for every chart with the published values."""
    c, groups = _labels()
    with duckdb.connect(str(superset["published"]), read_only=True) as con:
        rows = con.sql("SELECT indicator_id, period_end, region_name, group_code, value, is_suppressed, "
                       "period FROM indicator_values").fetchall()
    latest = {}
    for ind, p, *_ in rows:
        latest[ind] = max(latest.get(ind, p), p)
    as_date = lambda ms: time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))  # noqa: E731
    charts = _all(api, "chart")
    assert len(charts) == 3 * len(c.indicators) + 1
    import requests
    from concurrent.futures import ThreadPoolExecutor

    def fetch(ch):  # a request of its own per thread, with the session's cookie
        return requests.get(f"{api.base}/api/v1/chart/{ch['id']}/data/", cookies=api.cookies,
                            headers=dict(api.headers), timeout=300)

    with ThreadPoolExecutor(4) as pool:  # the server has 8 threads; the checks are independent
        answers = list(pool.map(fetch, charts))
    checked = {}
    for ch, r in zip(charts, answers):
        assert r.status_code == 200, (ch["slice_name"], r.text[:500])
        got = r.json()["result"][0]["data"]
        kind = ch["slice_name"].rsplit(": ", 1)[-1]
        ind = ch["slice_name"].split(" ", 1)[0]
        mine = [row for row in rows if row[0] == ind]
        if kind == "Zeitreihe":
            assert {(as_date(d["period_end"]), d["region_name"], d["gruppe"]): d["Wert"] for d in got} == \
                {(str(p), reg, groups[g]): v for _, p, reg, g, v, _, _ in mine}, ch["slice_name"]
        elif kind == "Gemeindevergleich":
            assert {(d["gebiet_anzeige"], d["gruppe"]): d["Wert"] for d in got} == \
                {(reg + (f" {bundle.SUPPRESSED}" if s else ""), groups[g]): v
                 for _, p, reg, g, v, s, _ in mine if p == latest[ind]}, ch["slice_name"]
        elif kind == "Tabelle":
            assert {(d["region_name"], d["gruppe"], d["period"], d["wert_anzeige"] == bundle.SUPPRESSED)
                    for d in got} == {(reg, groups[g], per, s) for _, p, reg, g, v, s, per in mine
                                      if p == latest[ind]}, ch["slice_name"]
        else:
            assert sorted(d["indicator_id"] for d in got) == sorted({r[0] for r in rows})
        checked[kind] = checked.get(kind, 0) + 1
    n = len(c.indicators)
    assert checked == {"Zeitreihe": n, "Gemeindevergleich": n, "Tabelle": n,
                       "Letzter Stand aller Indikatoren (Landkreis)": 1}


def test_bi_up_fails_clearly_when_the_port_is_taken(tmp_path):
    """Another server on the port: `bi/admin.py up` (make bi) and `start` stop at once with
    a German message naming the port and IMON_BI_PORT, exit non-zero, leave no pid file."""
    if not BI_PY.exists():
        pytest.fail("Superset-Umgebung .venv-bi fehlt: `make bi-setup` (make test installiert sie)")
    home = tmp_path / "bi"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # listens, never answers /health
        port = sock.getsockname()[1]
        env = dict(os.environ, IMON_DATA_DIR=str(tmp_path / "data"), IMON_BI_PORT=str(port),
                   IMON_BI_HOME=str(home))
        for cmd in ("up", "start"):
            proc = subprocess.run([str(BI_PY), "bi/admin.py", cmd], env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=120)
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, out
            assert f"Port {port}" in out and "IMON_BI_PORT" in out and "belegt" in out, out
            assert "Superset läuft" not in out
            assert not (home / "superset.pid").exists()
