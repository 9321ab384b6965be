"""Superset configuration of the Integrationsmonitor (loaded through SUPERSET_CONFIG_PATH).

Everything comes from the environment (bi/settings.py, documented in the README); in
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

from bi.settings import get_bi_settings  # noqa: E402

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

# The comparison dataset reads the period filter through Jinja (bi/bundle.py).
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
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000

# Behind a proxy in production: honour X-Forwarded-* (README, "BI").
ENABLE_PROXY_FIX = os.environ.get("IMON_BI_PROXY_FIX", "") == "1"
