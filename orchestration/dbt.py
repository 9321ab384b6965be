"""The dbt project as Dagster sees it, and keeping its manifest current.

`dbt parse` runs with the dbt project as working directory (parsed from
elsewhere, seed paths broke at build time) and only when a file of the project
is newer than the manifest, so a refresh does not pay for it every night.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, Settings, get_settings, quiet_telemetry

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
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


# --- dbt's saved parse, per data directory -------------------------------------------------------
# dbt re-parses the whole project (seconds) unless target/partial_parse.msgpack was written for
# the same vars, profile and target. The profile contains the path of the internal warehouse, so
# a parse saved for another data directory (tests, another checkout's `make run`) is useless.
# Each refresh therefore starts dbt with the parse its own last build saved and keeps the new one.


def partial_parse_cache(settings: Settings) -> Path:
    """Where a data directory keeps dbt's last saved parse (per project checkout: the parse
    records absolute paths of the project)."""
    digest = hashlib.sha256(str(DBT_PROJECT_DIR).encode()).hexdigest()[:12]
    return settings.state_dir / f"dbt-partial-parse-{digest}.msgpack"


def restore_partial_parse(settings: Settings, target_path: Path) -> bool:
    """Put the data directory's saved parse into a fresh dbt target dir (before dbt starts)."""
    cache = partial_parse_cache(settings)
    if not cache.exists():
        return False  # dagster-dbt then copies the project's target/partial_parse.msgpack
    target_path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache, target_path / PARTIAL_PARSE_FILE)
    return True


def keep_partial_parse(settings: Settings, target_path: Path) -> None:
    """After dbt: keep the parse it saved for the next refresh (atomic replace)."""
    saved = target_path / PARTIAL_PARSE_FILE
    if not saved.exists():
        return
    cache = partial_parse_cache(settings)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.copyfile(saved, tmp)
    os.replace(tmp, cache)


# --- what a refresh builds -------------------------------------------------------------------
# A month touches only what depends on the file types that changed (issue 20): the dbt nodes
# downstream of their raw sources and of the file registry (meta.file_versions, which every
# load changes), plus the marts, which are all published (a mart left out would stop the
# publish step in Dagster; each is a few hundred rows). Data tests follow dbt's eager indirect
# selection: every test with at least one selected parent runs, also one that joins a changed
# model to an unchanged seed. The seeds and the models of unchanged file types keep their
# tables, which were built from the same code: a code change or `--full` builds everything.
REGISTRY_SOURCE = "source:meta.file_versions+"
ALWAYS = "path:models/marts"


def build_selection(file_types: set[str] | list[str], manifest: dict) -> str | None:
    """The dbt --select of a refresh whose changed periods are of these file types; None when a
    file type has no raw source in the manifest (then build everything rather than miss one)."""
    sources = {(s["source_name"], s["name"]) for s in manifest.get("sources", {}).values()}
    if any(("raw", ft) not in sources for ft in file_types):
        return None
    return " ".join([*(f"source:raw.{ft}+" for ft in sorted(file_types)), REGISTRY_SOURCE, ALWAYS])
