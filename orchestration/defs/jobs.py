"""The refresh job and what starts it: the nightly schedule and the inbox sensor.

All three entry points (CLI, schedule, sensor) run this one job definition.
"""


import hashlib
import json
import os
import time

import dagster as dg

from orchestration.settings import get_settings

# Set on the runs `imon refresh` executes: that process tells the data team the outcome itself,
# so the run status sensors (defs/notifications.py) skip these runs.
CLI_RUN_TAGS = {"imon/started_by": "imon refresh"}


refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,  # one process: 8 s instead of 69 s for the multiprocess executor
    description="Gate new extracts, load them, build the marts, check them and publish (docs/contract/warehouse.md).",
)


def refresh_subset(job: dg.JobDefinition, inbox_types: set[str], plan_marts: bool) -> dg.JobDefinition:
    """The refresh job for a delivery of these file types (`imon refresh` without --full):
    - without the ingest steps of file types that have no file in the inbox (a new month: one
      or four of eleven). Such a step would only report that it had nothing to do (~0.1 s and a
      dozen run events each), and raw.<type> would show a materialisation of unchanged data.
      Every type's freshness check stays (the delivery calendar concerns the types that did not
      deliver). A file that lands after the inbox was scanned waits for the next refresh.
    - with `plan_marts` (nothing else changed since the published set: no code change, no loaded
      but unpublished file), without the wide marts these file types cannot change
      (orchestration/dbt.py); the dbt step leaves out exactly the marts the run does not select.
    """
    from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

    from orchestration.dbt import unaffected
    from orchestration.defs.assets import MART_KEYS, monitoring_models

    skip: set[dg.AssetKey] = set()
    if plan_marts:
        manifest, _, _ = get_manifest_and_translator_from_dbt_assets([monitoring_models])
        kept = unaffected(inbox_types, manifest)
        skip = {k for k in MART_KEYS if kept is not None and k.path[-1] in kept[1]}
    graph = job.asset_layer.asset_graph

    def left_out(key: dg.AssetKey) -> bool:
        return (key.path[0] == "raw" and key.path[-1] not in inbox_types) or key in skip

    return job.get_subset(
        asset_selection={k for k in graph.executable_asset_keys if not left_out(k)},
        asset_check_selection={c for c in graph.asset_check_keys
                               if not left_out(c.asset_key) or (c.asset_key.path[0] == "raw" and c.name == "freshness")},
    )


def refresh_run_config(full: bool = False, rekey: bool = False, cli: bool = False, verbose: bool = False,
                       started_at: float = 0.0) -> dict:
    """Every run writes the run log file (logger `imon`). `imon refresh` shows one progress line
    per stage and sends dbt's per-node lines to the run log; with --verbose, and for runs of the
    schedule and sensor, Dagster's console logger shows everything at INFO (DEBUG engine events
    stay in the event log)."""
    quiet = cli and not verbose
    loggers = {"imon": {"config": {"progress": quiet}}}
    if not quiet:
        loggers["console"] = {"config": {"log_level": "INFO"}}
    config = {"full": full or rekey, "rekey": rekey, "quiet": quiet, "started_at": started_at}
    return {
        "resources": {"refresh": {"config": config}},
        "loggers": loggers,
    }


@dg.schedule(job=refresh_job, cron_schedule="0 2 * * *", execution_timezone="Europe/Berlin",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Nightly refresh at 02:00 Berlin time; skipped when nothing is new.")
def nightly_refresh(context: dg.ScheduleEvaluationContext):
    from orchestration.pending import pending

    settings = get_settings()
    if pending(settings).nothing_to_do:
        # A quiet night still checks the delivery calendar, as cron's `imon refresh` does: a
        # delivery that became overdue is told tonight (a run's outcome is told by the run
        # status sensors, defs/notifications.py).
        from orchestration.causes import EXIT_OK
        from orchestration.notify import after_refresh
        from orchestration.outcome import Outcome

        after_refresh(Outcome(EXIT_OK, "Nichts Neues: veröffentlichter Stand ist aktuell."), settings,
                      log=context.log.info)
        return dg.SkipReason("nothing new in the inbox and the published set is current")
    return dg.RunRequest(run_config=refresh_run_config())


def settle_seconds() -> float:
    """How long a file must rest before the sensor takes it; read per tick (tunable without a restart)."""
    return float(os.environ.get("IMON_SENSOR_SETTLE_SECONDS", "60"))


@dg.sensor(job=refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a refresh when new extracts have landed and stopped changing.")
def inbox_sensor(context: dg.SensorEvaluationContext):
    """Debounced: a file is taken only when its size and mtime are the same as at the previous
    evaluation and it was last written settle_seconds() ago, so a file still being copied waits."""
    from orchestration.ingest import scan_inbox
    from orchestration.warehouse import sha256_file

    files, _ = scan_inbox(get_settings().landing_dir)
    seen = json.loads(context.cursor) if context.cursor else {}
    now, settle = time.time(), settle_seconds()
    current, settled = {}, []
    for f in files:
        st = f.path.stat()
        sig = [st.st_size, st.st_mtime]
        current[str(f.path)] = sig
        if seen.get(str(f.path)) == sig and now - st.st_mtime >= settle:
            settled.append(f)
    context.update_cursor(json.dumps(current))
    if not files:
        return dg.SkipReason("inbox empty")
    if len(settled) < len(files):
        return dg.SkipReason(f"{len(files) - len(settled)} file(s) still settling")
    digest = hashlib.sha256(
        json.dumps(sorted((f.path.name, sha256_file(f.path)) for f in settled)).encode()
    ).hexdigest()[:32]
    return dg.RunRequest(run_key=f"inbox-{digest}", run_config=refresh_run_config())
