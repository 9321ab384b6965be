"""The Dagster instance (run history) from dagster.yaml at the repository root."""

from __future__ import annotations

import os

from orchestration.settings import REPO_ROOT, Settings, get_settings


def instance_env(settings: Settings | None = None) -> dict[str, str]:
    """The variables dagster.yaml reads; exported for the CLI, `make dev` and tests."""
    settings = settings or get_settings()
    return {
        "IMON_DAGSTER_DIR": str(settings.dagster_home),
        "IMON_DAGSTER_COMPUTE_LOGS_DIR": str(settings.dagster_home / "compute_logs"),
        "DAGSTER_HOME": str(REPO_ROOT),
    }


def instance_file() -> str:
    return "dagster.postgres.yaml" if os.environ.get("IMON_DAGSTER_PG_URL") else "dagster.yaml"


def get_instance(settings: Settings | None = None):
    from dagster import DagsterInstance

    env = instance_env(settings)
    os.environ.update(env)
    os.makedirs(env["IMON_DAGSTER_DIR"], exist_ok=True)
    return DagsterInstance.from_config(str(REPO_ROOT), config_filename=instance_file())
