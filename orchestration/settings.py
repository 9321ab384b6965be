"""Every setting of the pipeline in one place (docs/contract/warehouse.md, "Settings").

Read from the environment on each call, so tests and the CLI can point a
process at another data directory without re-importing anything. Kept free of
heavy imports: the no-op refresh path and `imon status` import this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
REFERENCE_DIR = DBT_PROJECT_DIR / "seeds"
TARGETS_FILE = REPO_ROOT / "orchestration" / "zielwerte.yml"

DISTRICT_CODE = "08116"
DISTRICT_NAME = "Landkreis Esslingen"


def _path(var: str, default: str) -> Path:
    p = Path(os.environ.get(var) or default)
    return p if p.is_absolute() else REPO_ROOT / p


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    data_dir: Path
    pseudonym_key: str | None
    postgres_dsn: str | None
    postgres_reader_role: str
    lock_timeout_s: float
    # The date the overdue computation uses (IMON_TODAY; unset: today in Europe/Berlin).
    today: date | None = None
    # Notifications (warehouse.md, "The data team is told"): all three of smtp, from, to set = on.
    notify_smtp: str | None = None  # host:port of the mail relay
    notify_smtp_user: str | None = None
    notify_smtp_password: str | None = None
    notify_from: str | None = None
    notify_to: tuple[str, ...] = ()

    @property
    def notify_enabled(self) -> bool:
        return bool(self.notify_smtp and self.notify_from and self.notify_to)

    # Everything below lives in IMON_DATA_DIR (warehouse.md: "everything the pipeline keeps").
    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def internal_db(self) -> Path:
        """The internal warehouse: person-level raw tables, dbt models. Never read by analysts."""
        return self.warehouse_dir / "internal.duckdb"

    @property
    def published_dir(self) -> Path:
        return self.data_dir / "published"

    @property
    def published_db(self) -> Path:
        return self.published_dir / "monitoring.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def state_dir(self) -> Path:
        """Small files the pipeline keeps about itself (acceptances, lock, work files)."""
        return self.data_dir / "state"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def bench_dir(self) -> Path:
        return self.data_dir / "bench"


def data_dir() -> Path:
    """IMON_DATA_DIR alone (causes.py needs it for a full disk, whatever else is set wrong)."""
    return _path("IMON_DATA_DIR", "data")


def landing_dir() -> Path:
    return _path("IMON_LANDING_DIR", "data/landing")


def get_settings() -> Settings:
    return Settings(
        landing_dir=landing_dir(),
        data_dir=data_dir(),
        pseudonym_key=os.environ.get("IMON_PSEUDONYM_KEY") or None,
        postgres_dsn=os.environ.get("IMON_POSTGRES_DSN") or None,
        postgres_reader_role=os.environ.get("IMON_POSTGRES_READER_ROLE") or "imon_reader",
        lock_timeout_s=float(os.environ.get("IMON_LOCK_TIMEOUT", "1800")),
        today=today_from_env(),
        notify_smtp=os.environ.get("IMON_NOTIFY_SMTP") or None,
        notify_smtp_user=os.environ.get("IMON_NOTIFY_SMTP_USER") or None,
        notify_smtp_password=os.environ.get("IMON_NOTIFY_SMTP_PASSWORD") or None,
        notify_from=os.environ.get("IMON_NOTIFY_FROM") or None,
        notify_to=tuple(a.strip() for a in (os.environ.get("IMON_NOTIFY_TO") or "").split(",") if a.strip()),
    )


def today_from_env() -> date:
    """IMON_TODAY=YYYY-MM-DD (tests, dry runs), else today's date in Europe/Berlin: a refresh at
    00:30 Berlin time is on the new day even though UTC still has the old one."""
    raw = (os.environ.get("IMON_TODAY") or "").strip()
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"IMON_TODAY={raw!r} ist kein Datum (erwartet JJJJ-MM-TT, z. B. 2025-03-31)") from None
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/Berlin")).date()


def quiet_telemetry() -> None:
    """Nothing may try the network: dbt and Dagster telemetry off before either is imported."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


def pause_point(name: str) -> None:
    """Test hook for kill-safety tests: with IMON_PAUSE_AT=<name>, a refresh announces that it
    reached point <name> (a marker file in IMON_PAUSE_MARKER_DIR or the state dir) and waits
    there, so a test can SIGKILL it at exactly that point. A no-op otherwise."""
    if os.environ.get("IMON_PAUSE_AT") != name:
        return
    import time

    marker_dir = Path(os.environ.get("IMON_PAUSE_MARKER_DIR") or get_settings().state_dir)
    marker_dir.mkdir(parents=True, exist_ok=True)
    (marker_dir / f"paused-{name}").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("IMON_PAUSE_SECONDS", "600")))
