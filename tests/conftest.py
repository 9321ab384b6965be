"""Shared, expensive fixtures: one generated history, one real refresh, reused by every test.

The base history covers 2023-01 .. 2025-01 (25 months: full naturalisation years 2023
and 2024, twelve-month windows from 2023-12, two school years). The extracts of the
month after (2025-02) are generated too but kept back as the "next delivery" that
incremental, re-delivery and broken-delivery tests put into the inbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

START, MONTHS, SCALE, SEED = "2023-01", 26, 0.02, 7
NEXT_MONTH = "2025-02"
TEST_KEY = "test-key-not-secret"


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """All generated extracts (26 months) in the inbox layout."""
    from sources.generator import generate

    out = tmp_path_factory.mktemp("generated")
    generate(out, start=START, months=MONTHS, scale=SCALE, seed=SEED)
    return out


@pytest.fixture(scope="session")
def base_extracts(generated, tmp_path_factory) -> Path:
    """The 25-month history without the files of NEXT_MONTH."""
    out = tmp_path_factory.mktemp("base_extracts")
    for f in generated.rglob("*"):
        if f.is_file() and NEXT_MONTH not in f.name:
            dest = out / f.relative_to(generated)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    return out


@pytest.fixture(scope="session")
def next_month_files(generated) -> dict[str, Path]:
    """file_type -> the generated file of NEXT_MONTH (monthly types only)."""
    from sources.contracts import identify

    out = {}
    for f in generated.rglob(f"*{NEXT_MONTH}*"):
        contract, _ = identify(f)
        out[contract.file_type] = f
    return out


def env_for(data_dir: Path, landing: Path, **extra) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        IMON_DATA_DIR=str(data_dir),
        IMON_LANDING_DIR=str(landing),
        IMON_PSEUDONYM_KEY=TEST_KEY,
        IMON_LOCK_TIMEOUT="120",
    )
    env.pop("IMON_POSTGRES_DSN", None)
    env.update(extra)
    return env


def imon(*args: str, env: dict[str, str], timeout: float = 600, check_rc: int | None = None):
    """Run the real CLI in a subprocess, as the data team does."""
    proc = subprocess.run([str(BIN / "imon"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if check_rc is not None and proc.returncode != check_rc:
        raise AssertionError(f"imon {' '.join(args)} exited {proc.returncode}, expected {check_rc}\n"
                             f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-5000:]}")
    return proc


def copy_landing(src: Path, landing: Path) -> None:
    shutil.copytree(src, landing, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def refreshed(base_extracts, tmp_path_factory) -> Path:
    """A data directory after one real `imon refresh` of the base history (published).
    Tests must not modify it: copy it with `clone_state` first."""
    root = tmp_path_factory.mktemp("refreshed")
    data, landing = root / "data", root / "landing"
    copy_landing(base_extracts, landing)
    began = time.time()
    proc = imon("refresh", env=env_for(data, landing), check_rc=0)
    # what the operator saw, and how long the process took from outside (test_operator_output)
    (root / "first-refresh.out").write_text(proc.stdout)
    (root / "first-refresh.seconds").write_text(f"{time.time() - began:.3f}")
    return root


@pytest.fixture
def clone_state(refreshed, tmp_path):
    """A private copy of the refreshed state (data dir + empty inbox) for a test that changes it."""

    def _clone() -> tuple[Path, Path, dict[str, str]]:
        data, landing = tmp_path / "data", tmp_path / "landing"
        shutil.copytree(refreshed / "data", data, ignore=shutil.ignore_patterns("*.lock"))
        landing.mkdir(exist_ok=True)
        return data, landing, env_for(data, landing)

    return _clone


# A real closed port: PostgreSQL refuses the connection. The password must never be printed.
CLOSED_PORT_DSN = "postgresql://postgres:geheim123@127.0.0.1:1/monitoring?connect_timeout=3"


@pytest.fixture(scope="session")
def pg_refused_refresh(refreshed, next_month_files, tmp_path_factory) -> dict:
    """One `imon refresh --full` with the next Jobcenter month whose PostgreSQL publish is refused
    (CLOSED_PORT_DSN), on a copy of the refreshed state. Three tests assert on this one run
    (test_operator_output: the cause line; test_bi_recipes: DuckDB stays a whole set;
    test_publish_targets: exit 1, then it catches up on a copy of `data`). Everything they read
    is taken here, right after the run, so the order of the tests does not matter."""
    import duckdb

    root = tmp_path_factory.mktemp("pg-refused")
    data, landing = root / "data", root / "landing"
    shutil.copytree(refreshed / "data", data, ignore=shutil.ignore_patterns("*.lock"))
    src = next_month_files["jobcenter"]
    (landing / "jobcenter").mkdir(parents=True)
    shutil.copy2(src, landing / "jobcenter" / src.name)
    env = env_for(data, landing)

    def published_state() -> dict:
        con = duckdb.connect(str(data / "published" / "monitoring.duckdb"), read_only=True)
        try:
            rid, mode = con.execute(
                "SELECT refresh_id, mode FROM refresh_log ORDER BY published_at DESC LIMIT 1").fetchone()
            return {"refresh_id": rid, "mode": mode,
                    "refresh_log_rows": con.execute("SELECT count(*) FROM refresh_log").fetchone()[0],
                    "indicator_rows": con.execute("SELECT count(*) FROM indicator_values").fetchone()[0],
                    "periods": {p for (p,) in con.execute("SELECT DISTINCT period FROM indicator_values").fetchall()}}
        finally:
            con.close()

    before = published_state()
    proc = imon("refresh", "--full", env={**env, "IMON_POSTGRES_DSN": CLOSED_PORT_DSN})
    run_log = next((ln.split(": ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith("Laufprotokoll: ")), None)
    return {"root": root, "data": data, "landing": landing, "env": env, "proc": proc, "before": before,
            "after": published_state(), "inbox_file": landing / "jobcenter" / src.name,
            "inbox_file_left": (landing / "jobcenter" / src.name).exists(),
            "run_log": run_log, "run_log_text": Path(run_log.split(" (")[0]).read_text() if run_log else ""}
