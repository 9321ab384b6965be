"""The dbt project as Dagster sees it, and keeping its manifest current.

`dbt parse` runs with the dbt project as working directory (parsed from
elsewhere, seed paths broke at build time) and only when a file of the project
is newer than the manifest, so a refresh does not pay for it every night.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, get_settings, quiet_telemetry

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
_SOURCES = ("models", "seeds", "macros", "tests", "dbt_project.yml", "profiles.yml")


def dbt_env() -> dict[str, str]:
    """Environment for every dbt call: where the internal warehouse is, no telemetry."""
    quiet_telemetry()
    env = dict(os.environ)
    env["IMON_INTERNAL_DB"] = str(get_settings().internal_db)
    env["DBT_PROFILES_DIR"] = str(DBT_PROJECT_DIR)
    return env


def manifest_is_stale() -> bool:
    if not MANIFEST.exists():
        return True
    built = MANIFEST.stat().st_mtime
    for name in _SOURCES:
        p = DBT_PROJECT_DIR / name
        files = [p] if p.is_file() else (p.rglob("*") if p.exists() else [])
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return True
    return False


def ensure_manifest() -> Path:
    if manifest_is_stale():
        proc = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet"], cwd=DBT_PROJECT_DIR, env=dbt_env(),
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    return MANIFEST
