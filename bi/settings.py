"""Settings of the BI layer (Superset), read from the environment like orchestration/settings.py.

Standard library only: imported by the project venv (bundle, publish step, tests) and by
Superset's own venv (superset_config.py, bi/admin.py), which has none of the project's
dependencies.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from orchestration.settings import REPO_ROOT, get_settings

BI_DIR = REPO_ROOT / "bi"
BUNDLE_DIR = BI_DIR / "superset"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/"

# What a BI client's DuckDB connection to the published file must run right after it is
# opened, in this order (issue 19). Without it DuckDB reads and writes any file the process
# may: read_csv on the archive, ATTACH of the internal warehouse, COPY TO, INSTALL/LOAD.
# With it only the already opened file is readable, and SQL cannot switch it back.
DUCKDB_LOCK = (("enable_external_access", False), ("lock_configuration", True))
ANALYST_ROLE = "Integrationsmonitor Analyse"


def lock_duckdb(con) -> None:
    """Apply DUCKDB_LOCK to an open DuckDB connection (DBAPI or duckdb's own) and verify
    it; raises PermissionError when it does not hold, so the caller's connection fails
    instead of running unlocked (fail closed)."""
    def current(name: str):
        return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]

    for name, value in DUCKDB_LOCK:
        if current(name) != value:
            con.execute(f"SET {name} = {str(value).lower()}")
    got = tuple((name, current(name)) for name, _ in DUCKDB_LOCK)
    if got != DUCKDB_LOCK:
        raise PermissionError(f"DuckDB-Verbindung nicht abgesichert: {got}")


@dataclass(frozen=True)
class BiSettings:
    host: str
    port: int
    workers: int
    admin_user: str
    admin_password: str | None
    secret_key: str | None
    metadata_dsn: str
    serving_dsn: str
    reader_role: str
    reader_password: str | None
    home: Path
    published_db: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "superset.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "superset.log"

    def reader_dsn(self) -> str:
        """The serving DSN as the read-only reader role (what Superset connects with)."""
        parts = urlsplit(self.serving_dsn)
        cred = quote(self.reader_role, safe="")
        if self.reader_password:
            cred += ":" + quote(self.reader_password, safe="")
        host = parts.hostname or "127.0.0.1"
        netloc = f"{cred}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(("postgresql", netloc, parts.path, parts.query, ""))

    def ensure_secrets(self) -> tuple[str, str]:
        """(secret key, admin password): from the environment, else generated once and kept
        (mode 0600) in the BI home, so a restart keeps sessions and encrypted passwords valid."""
        self.home.mkdir(parents=True, exist_ok=True)

        def kept(name: str, value: str | None) -> str:
            if value:
                return value
            path = self.home / name
            if not path.exists():
                path.touch(mode=0o600)
                path.write_text(secrets.token_urlsafe(32))
            return path.read_text().strip()

        return kept("secret_key", self.secret_key), kept("admin_password", self.admin_password)


def _require_url(var: str, value: str) -> str:
    """Superset takes SQLAlchemy URLs only (no key=value DSNs): say so clearly."""
    if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg2://")):
        raise ValueError(f"{var} muss eine URL der Form postgresql://user@host:port/db sein, nicht {value!r}")
    return value


def get_bi_settings() -> BiSettings:
    base = get_settings()
    home = Path(os.environ.get("IMON_BI_HOME") or base.data_dir / "bi")
    if not home.is_absolute():
        home = REPO_ROOT / home
    return BiSettings(
        host="127.0.0.1",
        port=int(os.environ.get("IMON_BI_PORT", "8088")),
        workers=int(os.environ.get("IMON_BI_WORKERS", "1")),
        admin_user=os.environ.get("IMON_BI_ADMIN_USER") or "admin",
        admin_password=os.environ.get("IMON_BI_ADMIN_PASSWORD") or None,
        secret_key=os.environ.get("IMON_BI_SECRET_KEY") or None,
        metadata_dsn=_require_url(
            "IMON_BI_METADATA_DSN", os.environ.get("IMON_BI_METADATA_DSN") or LOCAL_PG + "imon_superset"),
        serving_dsn=_require_url(
            "IMON_BI_SERVING_DSN (sonst IMON_POSTGRES_DSN)",
            os.environ.get("IMON_BI_SERVING_DSN") or base.postgres_dsn or LOCAL_PG + "imon_serving"),
        reader_role=base.postgres_reader_role,
        reader_password=os.environ.get("IMON_POSTGRES_READER_PASSWORD") or None,
        home=home,
        published_db=base.published_db,
    )
