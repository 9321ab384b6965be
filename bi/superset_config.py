"""Superset configuration of the Integrationsmonitor (loaded through SUPERSET_CONFIG_PATH).

Everything comes from the environment (bi/settings.py, documented in docs/bi.md); in
production the BI team may use their own config instead and only import the bundle.

No traffic leaves the machine: telemetry off, no map tiles, and a content security
policy that allows the server itself only (the shipped front end would otherwise load a
tracking pixel from an outside host).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:  # Superset's venv does not have the project installed
    sys.path.insert(0, str(_REPO))

from bi.settings import DUCKDB_LOCK, get_bi_settings, lock_duckdb  # noqa: E402

_bi = get_bi_settings()
SECRET_KEY, _ = _bi.ensure_secrets()
SQLALCHEMY_DATABASE_URI = _bi.metadata_dsn
DATA_DIR = str(_bi.home)

LOG_LEVEL = "WARNING"
SHOW_STACKTRACE = False

# German UI and number format.
BABEL_DEFAULT_LOCALE = "de"
LANGUAGES = {"de": {"flag": "de", "name": "Deutsch"}, "en": {"flag": "us", "name": "English"}}
D3_FORMAT = {"decimal": ",", "thousands": ".", "grouping": [3], "currency": ["", " €"]}
D3_TIME_FORMAT = {
    "dateTime": "%A, der %e. %B %Y, %X", "date": "%d.%m.%Y", "time": "%H:%M:%S",
    "periods": ["AM", "PM"],
    "days": ["Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"],
    "shortDays": ["So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"],
    "months": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
               "September", "Oktober", "November", "Dezember"],
    "shortMonths": ["Jan", "Feb", "Mrz", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"],
}

# The comparison dataset reads the period filter through Jinja (bi/bundle.py), so template
# processing stays on (Superset's sandboxed Jinja: no file or attribute access; docs/bi.md).
# All charts render at once (no lazy rendering of charts outside the viewport): the
# dashboards are small, and screenshots and the browser test see every chart.
FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": True, "DASHBOARD_VIRTUALIZATION": False}

# Nothing leaves the machine.
SCARF_ANALYTICS = False
MAPBOX_API_KEY = ""
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []
DECKGL_BASE_MAP = None
TALISMAN_ENABLED = True
_CSP = {
    "base-uri": ["'self'"],
    "default-src": ["'self'"],
    "img-src": ["'self'", "blob:", "data:"],
    "worker-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],
    "object-src": "'none'",
    "style-src": ["'self'", "'unsafe-inline'"],
    "script-src": ["'self'", "'strict-dynamic'"],
    "font-src": ["'self'", "data:"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'self'"],
}
TALISMAN_CONFIG = {
    "content_security_policy": _CSP,
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,  # TLS ends at the BI team's proxy
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG

# Analytics databases: a fresh connection per query (the published DuckDB file is replaced
# atomically on each refresh; a pooled connection would keep reading the old file).
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
PREVENT_UNSAFE_DB_CONNECTIONS = True


# ----------------------------------------------------------------- what SQL can reach (issue 19)
# Superset connects to exactly two analytics databases: the published DuckDB file and the
# PostgreSQL serving database as the reader role. Anything else an admin might register
# (the internal warehouse, :memory:, another file, PostgreSQL as a superuser) is refused
# before a connection is made, and URL options or connect_args from the UI are dropped.

def _published_only(url, params, username, security_manager, source):
    from sqlalchemy.engine.url import make_url

    s = get_bi_settings()
    url = make_url(str(url))
    backend = url.get_backend_name()
    if backend == "duckdb":
        target = Path(url.database or "").expanduser()
        if not url.database or not target.is_absolute() or target.resolve() != s.published_db.resolve():
            raise PermissionError(f"DuckDB nur auf der veröffentlichten Datei {s.published_db}")
        params = {k: v for k, v in params.items() if k == "poolclass"}
        # The lock is part of opening the file (config) and checked again on connect (below).
        params["connect_args"] = {"read_only": True, "config": dict(DUCKDB_LOCK)}
        return url.set(query={}), params
    if backend == "postgresql":
        if url.username != s.reader_role:
            raise PermissionError(f"PostgreSQL nur als Leserolle {s.reader_role}")
        return url, params
    raise PermissionError(f"Datenbanktyp {backend} ist hier nicht zugelassen")


DB_CONNECTION_MUTATOR = _published_only


def _register_duckdb_lock() -> None:
    """Every DuckDB connection any engine of this process opens is locked before its first
    query (SQLAlchemy `connect` event; duckdb-engine's connect_args cannot run SQL)."""
    from duckdb_engine import ConnectionWrapper
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _lock(dbapi_connection, _record):
        if isinstance(dbapi_connection, ConnectionWrapper):
            lock_duckdb(dbapi_connection)


_register_duckdb_lock()
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000

# Behind a proxy in production: honour X-Forwarded-* (docs/bi.md, "Production").
ENABLE_PROXY_FIX = os.environ.get("IMON_BI_PROXY_FIX", "") == "1"
