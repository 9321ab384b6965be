"""Resources of the refresh job, configured from the environment (orchestration/settings.py)."""


from contextlib import contextmanager
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject

from orchestration import dbt_warm
from orchestration.dbt import DBT_EXECUTABLE, dbt_env, ensure_manifest
from orchestration.runlock import refresh_lock
from orchestration.settings import DBT_PROJECT_DIR, get_settings

# Instead of DbtProject.prepare_if_dev() (only under `dagster dev`, and it looks for `dbt` on PATH):
# parse whenever a file of the dbt project is newer than the manifest, for every entry point.
ensure_manifest()
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class RefreshRun(dg.ConfigurableResource):
    """Options of one refresh, and its lock: held from the first step to the last, so a refresh
    started by the schedule, the sensor or the CLI never overlaps another one. With the lock
    held, the pseudonym key is checked before any step loads a file."""

    full: bool = False  # reload every archived version, rebuild every model
    rekey: bool = False  # with full: change the pseudonym key on purpose (--neuer-schluessel)
    quiet: bool = False  # dbt's per-node lines into the run log only (imon refresh without --verbose)
    # When the refresh began (epoch s; refresh.run_refresh): for `imon refresh` the start of its
    # process, so the duration in refresh_log and on the console includes the start-up (imports,
    # run set-up); 0 = the run's own start (schedule, sensor, UI).
    started_at: float = 0.0

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        settings = get_settings()
        with refresh_lock(settings):
            if settings.pseudonym_key:
                from orchestration import keycheck
                from orchestration import warehouse as wh

                con = wh.connect(settings.internal_db)
                try:
                    keycheck.begin(con, settings.pseudonym_key, rekey=self.full and self.rekey)
                finally:
                    con.close()
            yield self


class DbtCli(DbtCliResource):
    """DbtCliResource without two fixed costs per `cli()` call (private dagster-dbt API, checked
    for dagster-dbt 0.29; re-check on upgrades): its in-process dbt adapter (importing dbt-core
    and loading the profile, ~3 s), used only to fetch column metadata and row counts, which
    this project does not ask for; and a `dbt --version` subprocess (~2 s)."""

    def _initialize_dbt_core_adapter(self, args):
        return None

    @cached_property
    def _cli_version(self):
        # dagster-dbt asks `dbt --version` in a subprocess (~2 s) on every call; the dbt it runs
        # is the dbt-core installed beside it.
        from importlib.metadata import version as installed

        from packaging.version import parse

        return parse(installed("dbt-core"))


def make_dbt_resource() -> DbtCliResource:
    dbt_env()  # exports IMON_INTERNAL_DB and turns telemetry off for the dbt subprocess
    # `imon-dbt` runs the call in the dbt a refresh started ahead, or is plain dbt (dbt_warm.py)
    return DbtCli(
        project_dir=dbt_project, dbt_executable=dbt_warm.client_path() or DBT_EXECUTABLE,
        profiles_dir=str(DBT_PROJECT_DIR),
    )
