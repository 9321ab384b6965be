"""Entry point for `dagster dev` and the CLI: everything is defined in orchestration/defs/."""

import gc

import dagster as dg

from orchestration.defs.assets import ingest_assets, monitoring_models, publish_set
from orchestration.defs.checks import delivery_freshness, mart_checks
from orchestration.defs.jobs import inbox_sensor, nightly_refresh, refresh_job
from orchestration.defs.loggers import imon_logger
from orchestration.defs.notifications import notify_on_failure, notify_on_success
from orchestration.defs.resources import RefreshRun, make_dbt_resource

defs = dg.Definitions(
    assets=[*ingest_assets, monitoring_models, publish_set],
    asset_checks=[*mart_checks, delivery_freshness],
    jobs=[refresh_job],
    schedules=[nightly_refresh],
    sensors=[inbox_sensor, notify_on_success, notify_on_failure],
    resources={"dbt": make_dbt_resource(), "refresh": RefreshRun()},
    # Dagster's console logger stays available (--verbose, schedule and sensor runs); the run
    # config (defs/jobs.py refresh_run_config) picks which loggers a run uses.
    loggers={"console": dg.colored_console_logger, "imon": imon_logger},
)

# What is imported and defined so far (Dagster, dbt-core, pydantic models: ~250k objects) lives as
# long as the process. Moved out of the cyclic collector's sight, a full collection no longer
# walks it (1.4 s each under load, measured; the ingest collects once per batch to hand Arrow
# memory back): the objects stay alive either way, only the needless scans go.
gc.freeze()
