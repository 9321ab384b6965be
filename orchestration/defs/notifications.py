"""E-mail for the runs `imon refresh` does not tell: those of the nightly schedule, the inbox
sensor or the Dagster UI (docs/notifications.md).

Two run status sensors, one per final status (Dagster's sensor reacts to one status; a run
worth a mail ends in either: published, blocked, failed), hand each such run's outcome, built from
its event log exactly as `imon refresh` builds it from its result (orchestration/outcome.py),
to the same `after_refresh` the CLI calls. Each run is told once: the sensor's cursor (Dagster
keeps it in the instance) moves past the run, and the notification state remembers the run id,
so a daemon killed between the mail and storing the cursor does not send it again. A sensor
first switched on starts at the newest run and does not tell old ones.
"""

import dagster as dg

from orchestration.defs.jobs import CLI_RUN_TAGS, refresh_job
from orchestration.settings import get_settings


def tell_run(context: dg.RunStatusSensorContext) -> None:
    """Returns None: Dagster then goes on to the next finished run in the same tick."""
    run = context.dagster_run
    if all(run.tags.get(k) == v for k, v in CLI_RUN_TAGS.items()):
        return  # `imon refresh` told it already
    settings = get_settings()
    if not settings.notify_enabled:
        return
    from orchestration.notify import after_refresh
    from orchestration.outcome import outcome_of_stored_run

    outcome = outcome_of_stored_run(context.instance, run.run_id, settings)
    after_refresh(outcome, settings, log=context.log.info)


def _notifier(status: dg.DagsterRunStatus, description: str):
    return dg.run_status_sensor(
        name=f"notify_on_{status.value.lower()}", run_status=status, monitored_jobs=[refresh_job],
        default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30, description=description,
    )(tell_run)


notify_on_success = _notifier(dg.DagsterRunStatus.SUCCESS,
                              "E-mail for refresh runs not started by `imon refresh`: blocked, or published again "
                              "after a blocked or failed one, overdue deliveries (docs/notifications.md).")
notify_on_failure = _notifier(dg.DagsterRunStatus.FAILURE,
                              "E-mail for refresh runs not started by `imon refresh` that failed or were blocked "
                              "(docs/notifications.md).")
