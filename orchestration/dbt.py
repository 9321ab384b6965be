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

from orchestration.files import write_atomic
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
# a parse saved for another data directory (tests, another checkout's `make run`) is useless as
# it is. Each refresh therefore starts dbt with the parse its own last build saved and keeps the
# new one. A data directory that was moved or copied (a restore from backup, every test's copy of
# a shared state) still has a parse that fits in all but the path: it is re-stamped for the path
# of this warehouse (`_restamp`), so dbt need not parse again. Should dbt compute its stamp
# differently one day, it simply parses again, as before.


def partial_parse_cache(settings: Settings) -> Path:
    """Where a data directory keeps dbt's last saved parse (per project checkout: the parse
    records absolute paths of the project)."""
    digest = hashlib.sha256(str(DBT_PROJECT_DIR).encode()).hexdigest()[:12]
    return settings.state_dir / f"dbt-partial-parse-{digest}.msgpack"


def _saved_for(cache: Path) -> Path:
    return cache.with_name(cache.name + ".path")  # the warehouse path the parse was saved for


def restore_partial_parse(settings: Settings, target_path: Path) -> bool:
    """Put the data directory's saved parse into a fresh dbt target dir (before dbt starts)."""
    cache = partial_parse_cache(settings)
    if not cache.exists():
        return False  # dagster-dbt then copies the project's target/partial_parse.msgpack
    target_path.mkdir(parents=True, exist_ok=True)
    here = str(settings.internal_db)
    try:
        saved_for = _saved_for(cache).read_text(encoding="utf-8")
    except OSError:
        saved_for = None
    if saved_for is not None and saved_for != here and _restamp(cache, target_path / PARTIAL_PARSE_FILE, here):
        return True
    shutil.copyfile(cache, target_path / PARTIAL_PARSE_FILE)
    return True


def _restamp(src: Path, dest: Path, warehouse: str) -> bool:
    """Copy a saved parse with its profile stamp computed for `warehouse` (dbt's
    build_manifest_state_check: the sorted connection info of the profile, pretty-printed and
    hashed). False when that cannot be done; the caller then copies it as it is."""
    try:
        import pprint

        import msgpack
        from dbt.adapters.duckdb.credentials import DuckDBCredentials
        from dbt.contracts.files import FileHash

        parse = msgpack.unpackb(src.read_bytes(), raw=False, strict_map_key=False)
        creds = DuckDBCredentials(database=Path(warehouse).stem, schema="main", path=warehouse)
        stamp = FileHash.from_contents(pprint.pformat(sorted(creds.connection_info())))
        parse["state_check"]["profile_hash"] = {"name": stamp.name, "checksum": stamp.checksum}
        dest.write_bytes(msgpack.packb(parse, use_bin_type=True))
        return True
    except Exception:  # noqa: BLE001 (an optimisation: dbt parses again)
        return False


def keep_partial_parse(settings: Settings, target_path: Path) -> None:
    """After dbt: keep the parse it saved for the next refresh (atomic replace)."""
    saved = target_path / PARTIAL_PARSE_FILE
    if not saved.exists():
        return
    cache = partial_parse_cache(settings)
    write_atomic(cache, saved.read_bytes())
    write_atomic(_saved_for(cache), str(settings.internal_db))


# --- what a refresh builds -------------------------------------------------------------------
# A month touches only what depends on the file types that changed (issue 20): the dbt nodes
# downstream of their raw sources and of the file registry (meta.file_versions, which every
# load changes), plus the marts, which are all published (a mart left out would stop the
# publish step in Dagster; each is a few hundred rows). Data tests follow dbt's eager indirect
# selection: every test with at least one selected parent runs, also one that joins a changed
# model to an unchanged seed. The seeds and the models of unchanged file types keep their
# tables, which were built from the same code: a code change or `--full` builds everything.
#
# The registry reaches every field's model (int_indicators_<field>) through
# int_indicator_periods, but a field model reads only its own indicators' periods, and those
# follow only the file types its indicators' `published_when` names (sources/indicators.yml).
# A field model that is not downstream of a changed raw table and none of whose indicators
# names a changed file type therefore builds the same table again: it is left out, with its tests.
# The same holds one level up for the wide marts (wide_<field>, sources/catalogue.py): one whose
# indicators all belong to such fields keeps its table. Those marts are left out of the Dagster
# run too (orchestration/defs/jobs.py), so the publish does not wait for them. The other marts
# are small and always built: they span all indicators, and dbt would drop with an unbuilt
# mart every test that also reads it (relationships to `indicators`).
REGISTRY = ("meta", "file_versions")
ALWAYS = "path:models/marts"
FIELD_MODEL = "int_indicators_{field}"


def unaffected(file_types: set[str] | list[str], manifest: dict) -> tuple[list[str], list[str]] | None:
    """(field models, wide marts) whose tables a change of these file types leaves as they are, by
    model name; None when a file type has no raw source in the manifest (then build everything
    rather than miss one)."""
    from sources.catalogue import load as load_catalogue
    from sources.catalogue import wide_tables

    changed = set(file_types)
    sources = {(s["source_name"], s["name"]): uid for uid, s in manifest.get("sources", {}).items()}
    if any(("raw", ft) not in sources for ft in changed):
        return None
    downstream = _descendants(manifest, [sources["raw", ft] for ft in changed])
    models = {n["name"]: uid for uid, n in manifest.get("nodes", {}).items() if n.get("resource_type") == "model"}
    cat = load_catalogue()
    named: dict[str, set[str]] = {}
    for ind in cat.indicators:
        rule = ind.published_when
        named.setdefault(ind.field, set()).update([rule.get("driver"), *(n.get("file") for n in rule.get("needs", []))])
    still = {f for f, fts in named.items()
             if not fts & changed and FIELD_MODEL.format(field=f) in models
             and models[FIELD_MODEL.format(field=f)] not in downstream}
    fields = sorted(FIELD_MODEL.format(field=f) for f in still)
    kept = [name for name, inds in wide_tables(cat).items() if name in models and {i.field for i in inds} <= still]
    return fields, sorted(kept)


def build_selection(file_types: set[str] | list[str], manifest: dict, skip_marts: set[str] = frozenset()) -> list[str] | None:
    """The dbt selection arguments (`--select`, `--exclude`) of a refresh whose changed periods
    are of these file types, without the marts `skip_marts` (the ones the Dagster run does not
    select); None when a file type has no raw source in the manifest (build everything)."""
    kept = unaffected(file_types, manifest)
    if kept is None:
        return None
    fields, marts = kept
    if not set(skip_marts) <= set(marts):  # cannot happen while the run's plan used these file types
        raise RuntimeError(f"dbt: Marts {', '.join(sorted(set(skip_marts) - set(marts)))} hängen von "
                           "geänderten Dateiarten ab, sind aber nicht im Lauf; bitte erneut aktualisieren")
    select = " ".join([*(f"source:raw.{ft}+" for ft in sorted(file_types)), f"source:{'.'.join(REGISTRY)}+", ALWAYS])
    exclude = [*fields, *sorted(skip_marts)]
    return ["--select", select, *(["--exclude", " ".join(exclude)] if exclude else [])]


def _descendants(manifest: dict, roots: list[str]) -> set[str]:
    children = manifest.get("child_map", {})
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen
