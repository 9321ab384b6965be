"""The run's own logger: every record into the run log file, and (for `imon refresh` without
--verbose) one progress line per stage on the console instead of Dagster's console logger."""

import logging

import dagster as dg

from orchestration.runlog import ProgressHandler, file_handler, run_log_path
from orchestration.settings import get_settings


@dg.logger(
    config_schema={"progress": dg.Field(bool, default_value=False,
                                        description="print one progress line per stage to stdout")},
    description="Run log file in $IMON_DATA_DIR/dagster/logs/ (+ progress lines for the CLI).",
)
def imon_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    settings = get_settings()
    logger = logging.Logger(f"imon-{init_context.run_id}", level=logging.DEBUG)
    logger.addHandler(file_handler(run_log_path(settings, init_context.run_id or "unbekannt")))
    if init_context.logger_config["progress"]:
        logger.addHandler(ProgressHandler(postgres=bool(settings.postgres_dsn)))
    return logger
