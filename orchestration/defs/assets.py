"""The assets of a refresh, in lineage order.

inbox --(gate)--> raw.<file_type> (one asset per file type, grouped by provider)
      --> dbt models (staging, intermediate, marts; incremental by changed period)
      --> published_warehouse (atomic swap of the published DuckDB file), with
          postgres_serving (optional) and the report built in the same step (`publish`).
"""


import contextlib
import os
import sys
import threading
import uuid
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from orchestration import keycheck, projectcode
from orchestration import warehouse as wh
from orchestration.dbt import build_selection, keep_partial_parse, restore_partial_parse
from orchestration.ingest import ingest_file_type, read_acceptances
from orchestration.defs.resources import RefreshRun, dbt_project
from orchestration.publish import StagedPublish, read_published_state, stage_publish
from orchestration.runlock import dbt_pid_file
from orchestration.runlog import run_log_path
from orchestration.settings import get_settings, pause_point
from sources.contracts import Contract, load_contracts

# --- inbox -> raw -------------------------------------------------------------------------------


def ingest_asset(contract: Contract) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", contract.file_type])

    @dg.asset(
        key=key,
        group_name=contract.provider,
        kinds={"python", "duckdb"},
        description=(
            f"`{contract.pattern}` files from the inbox folder `{contract.provider}/`, gated "
            "(sources/contracts.yml, expectations/), archived and loaded into the internal warehouse "
            f"as `{contract.raw_table}` with person ids re-pseudonymised."
        ),
        check_specs=[
            dg.AssetCheckSpec("gate", asset=key, blocking=True,
                              description="Every new file of this type passed the delivery contract (docs/contract/sources.md rules 1-8 and our own)."),
            dg.AssetCheckSpec("gate_warnings", asset=key, blocking=False,
                              description="Soft rules (e.g. over-occupancy, unknown columns): reported, never blocking."),
        ],
    )
    def _ingest(context: dg.AssetExecutionContext, refresh: RefreshRun) -> dg.MaterializeResult:
        settings = get_settings()
        out = ingest_file_type(contract, settings, refresh.full, log=context.log.info)
        if out.loaded or out.quarantined:  # the gate ran: passed or blocked, the data docs say so
            from orchestration.data_docs import record_run
            from orchestration.gate import take_validation_runs

            record_run(settings.reports_dir / "data-docs", context.run.run_id, contract.file_type,
                       take_validation_runs({contract.file_type}), out)
        pause_point(f"ingest:{contract.file_type}")
        reports = [str(q.report_txt) for q in out.quarantined]
        return dg.MaterializeResult(
            metadata={
                "loaded": out.loaded,
                "unchanged": out.unchanged,
                "quarantined": [q.file_name for q in out.quarantined],
                "notes": out.notes,  # for operators: printed by `imon refresh` (refresh.outcome_of)
                "rows_loaded": out.rows_loaded,
                "seconds": {k: round(v, 3) for k, v in out.seconds.items()},
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="gate",
                    passed=out.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "reports": reports,
                        "failed_files": [f"{q.file_name}: {', '.join(q.rules)}" for q in out.quarantined],
                    },
                ),
                dg.AssetCheckResult(
                    check_name="gate_warnings",
                    passed=not out.warnings,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"warnings": out.warnings[:50]},
                ),
            ],
        )

    return _ingest


ingest_assets = [ingest_asset(c) for c in load_contracts().values()]


# --- raw -> marts (dbt) ---------------------------------------------------------------------------


def announce_changed_periods() -> tuple[bool, set[str]]:
    """Tell dbt which periods changed since the published set (table meta.changed_periods):
    the incremental models re-aggregate exactly these. Returns whether the project code changed
    since the models were built (then every model is rebuilt) and the file types that changed."""
    settings = get_settings()
    published = read_published_state(settings.published_db).files
    con = wh.connect(settings.internal_db)
    try:
        wh.write_changed_periods(con, published)
        file_types = {r[0] for r in con.execute("SELECT DISTINCT file_type FROM meta.changed_periods").fetchall()}
        return projectcode.changed(con), file_types
    finally:
        con.close()  # before dbt starts: dbt needs the DuckDB file lock


def prune_target_dirs(current: Path, keep: int = 5) -> None:
    """Each build writes its artefacts to a target dir of its own (~6 MB); keep the last few."""
    import shutil

    runs = sorted((p for p in current.parent.glob("monitoring_models-*") if p.is_dir() and p != current),
                  key=lambda p: p.stat().st_mtime)
    for old in runs[:max(0, len(runs) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def _dbt_echo(refresh: RefreshRun, settings, run_id: str):
    """Where dbt's lines go: dagster-dbt echoes each one to stdout; for `imon refresh` without
    --verbose they go to the run log instead of the console."""
    if refresh.quiet:
        return open(run_log_path(settings, run_id), "a", encoding="utf-8", buffering=1)
    return contextlib.nullcontext(sys.stdout)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def monitoring_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, refresh: RefreshRun):
    from orchestration.gate import stop_validation_worker

    # Every ingest step is upstream: the gate is done. Its GX worker (~200 MB, idle now) would
    # otherwise add to the peak memory of the dbt process (orchestration/gate/worker.py).
    stop_validation_worker()
    settings = get_settings()
    os.environ["IMON_INTERNAL_DB"] = str(settings.internal_db)
    # Unit tests pin the formulas on hand-made inputs; they run in `make test`, not every night.
    # No dbt.log: every line dbt prints goes to the run log already (-0.5 s per refresh).
    args = ["build", "--exclude-resource-type", "unit_test", "--log-level-file", "none"]
    code_changed, file_types = announce_changed_periods()
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    # The marts the run left out (defs/jobs.py refresh_subset): their tables stay as they are.
    skip_marts = {k.path[-1] for k in MART_KEYS if k not in context.selected_asset_keys}
    if code_changed and skip_marts:  # changed after the run was planned (a deploy meanwhile)
        raise RuntimeError("Projektcode während der Aktualisierung geändert: bitte erneut aktualisieren "
                           "(dann werden alle Modelle neu gebaut)")
    if refresh.full or code_changed:
        # Rebuilds every model from the raw tables (meta.changed_periods is not read): after a
        # deployed change of the project an incremental model may have new columns or logic, and
        # a new indicator needs its whole history (issue 12). Raw tables are not reloaded.
        args.append("--full-refresh")
        if code_changed and not refresh.full:
            context.log.info("Projektcode geändert (dbt-Projekt, Indikatorenkatalog oder Verträge): "
                             "alle Modelle werden neu gebaut")
        select = []
    else:
        select = build_selection(file_types, manifest, skip_marts) or []
        if select:
            context.log.info(f"dbt: nur was von den geänderten Dateiarten abhängt ({', '.join(sorted(file_types))})")
    # A target dir of our own (named as dagster-dbt names it), started with this data dir's saved parse.
    target_path = (Path(dbt_project.project_dir) / dbt_project.target_path
                   / f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}")
    restore_partial_parse(settings, target_path)
    results = yield from _dbt_build(context, dbt, refresh, settings, [*args, *select], manifest, translator,
                                    target_path, first=True)
    keep_partial_parse(settings, target_path)
    errored = _errored(results)
    again = [manifest["nodes"][r["unique_id"]]["name"] for r in results
             if r.get("status") in ("error", "runtime error", "skipped") and r["unique_id"] in manifest["nodes"]]
    blocked = any(r.get("status") == "fail" for r in results)
    if errored and again and not blocked:
        # One more try for what errored and what it held back (skipped), nothing else. dbt-duckdb's
        # threads share one DuckDB file; transient errors of that are reported (dbt-duckdb#513),
        # and a CI run under heavy load (four refreshes side by side) once failed in a model that
        # every other run builds. Not when a data test failed: that is a finding which blocks the
        # publish anyway, and what it held back must stay unbuilt. (A failed hook is no node to
        # select: it fails the step below.)
        context.log.warning(f"dbt: {_describe(errored)}; zweiter Versuch für {len(again)} Knoten")
        retry_path = target_path.with_name(target_path.name + "-retry")
        restore_partial_parse(settings, retry_path)
        second = yield from _dbt_build(context, dbt, refresh, settings, [*args, "--select", " ".join(again)],
                                       manifest, translator, retry_path, first=False)
        done = {r["unique_id"] for r in second}
        results = [r for r in results if r["unique_id"] not in done] + second
    prune_target_dirs(target_path)
    n_tests = sum(1 for r in results if r["unique_id"].startswith("test."))
    context.log.info(f"dbt: {len(results) - n_tests} Modelle/Seeds, {n_tests} Tests ausgeführt")
    # on the run (Dagster UI, bench): what this refresh built, against the whole project
    context.instance.add_run_tags(context.run.run_id, {"imon/dbt_nodes": str(len(results) - n_tests),
                                                       "imon/dbt_tests": str(n_tests)})
    # Failed tests arrive as failed (blocking) checks; anything else that went wrong in dbt
    # (a model error, a broken seed, a test that could not run) must fail the step so nothing
    # downstream publishes stale data.
    failed = _errored(results)
    if failed:
        raise RuntimeError(f"dbt build failed: {_describe(failed)}")


def _errored(results: list[dict]) -> list[dict]:
    """The nodes of dbt's run results that errored (a failed data test is `fail`, not here)."""
    return [r for r in results if r.get("status") in ("error", "runtime error")]


def _describe(results: list[dict]) -> str:
    return "; ".join(f"{r['unique_id']} ({_error_summary(r.get('message'))})" for r in results)


def _dbt_build(context, dbt: DbtCliResource, refresh: RefreshRun, settings, args: list[str], manifest, translator,
               target_path: Path, first: bool):
    """One dbt call, streamed as this step's outputs and check results; returns its run results."""
    # dagster-dbt adds its own `--select` of the step's assets when given the context, and dbt
    # unions several --select flags; so the call goes without the context, which is attached for
    # streaming (the events then become this step's outputs and check results, as with the
    # context; a node outside the run's selection is reported as a plain materialisation).
    invocation = dbt.cli(args, manifest=manifest, dagster_dbt_translator=translator,
                         raise_on_error=False, target_path=target_path)
    invocation.context, invocation.project = context, dbt_project
    pid_file = dbt_pid_file(settings)
    pid_file.write_text(str(invocation.process.pid))
    try:
        with _dbt_echo(refresh, settings, context.run.run_id) as out, contextlib.redirect_stdout(out):
            if first:
                pause_point("dbt")
            yield from invocation.stream()
    finally:
        pid_file.unlink(missing_ok=True)
    return invocation.get_artifact("run_results.json").get("results", [])


def _error_summary(message: str | None) -> str:
    """dbt's error for the console, without the values it may quote: DuckDB puts literals in single
    quotes ("Could not convert string '...'"), and a literal of a raw table is personal data.
    The full message is in the run log, which stays internal."""
    import re

    lines = [ln.strip() for ln in (message or "").splitlines() if ln.strip()]
    # dbt's first line only names the node ("Runtime Error in model x (path)"): the cause follows
    text = " ".join(ln for ln in lines if not ln.startswith(("Runtime Error in", "Database Error in")))
    text = re.sub(r"'[^']*'", "'…'", text or "ohne Meldung")
    return text[:300]


MART_KEYS = [k for k in monitoring_models.keys if k.path[0] == "marts"]
INDICATOR_VALUES = next(k for k in MART_KEYS if k.path[-1] == "indicator_values")


# --- marts -> published ---------------------------------------------------------------------------


def _check_summary(context: dg.AssetExecutionContext) -> dict[str, str]:
    """Outcome of every asset check of this run, for refresh_log."""
    out: dict[str, str] = {}
    try:
        records = context.instance.get_records_for_run(
            context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
        ).records
    except Exception:  # the summary is informative; never block a publish on it
        return out
    for rec in records:
        ev = rec.event_log_entry.dagster_event.event_specific_data
        name = f"{ev.asset_key.to_user_string()}:{ev.check_name}"
        out[name] = "passed" if ev.passed else ("warned" if ev.severity.value == "WARN" else "failed")
    return out


def refresh_mode(first: bool, full: bool, rebuilt: bool) -> str:
    """refresh_log.mode (docs/architecture.md, "The published warehouse"): initial = the first published set;
    full = `imon refresh --full` (every archived file reloaded, every model rebuilt);
    rebuild = the project code changed, every model rebuilt from the raw tables;
    incremental = new or re-delivered files, only their periods re-aggregated."""
    if first:
        return "initial"
    if full:
        return "full"
    return "rebuild" if rebuilt else "incremental"


PUBLISHED = dg.AssetKey("published_warehouse")
POSTGRES = dg.AssetKey("postgres_serving")
REPORT = dg.AssetKey("report")


@dg.multi_asset(
    name="publish",
    specs=[
        dg.AssetSpec(PUBLISHED, deps=MART_KEYS, group_name="publish", kinds={"duckdb"},
                     description="The published warehouse `$IMON_DATA_DIR/published/monitoring.duckdb`: the marts "
                     "(aggregates only) plus refresh_log/refresh_files, replaced in one atomic step."),
        dg.AssetSpec(POSTGRES, deps=[PUBLISHED], group_name="publish", kinds={"postgres"}, skippable=True,
                     description="The published marts in PostgreSQL schema `monitoring` (only when IMON_POSTGRES_DSN "
                     "is set), swapped in one transaction right after the DuckDB file. Always the current "
                     "published set, also when the DuckDB publish was skipped as identical: a refresh after a "
                     "failed PostgreSQL publish catches up."),
        dg.AssetSpec(REPORT, deps=[PUBLISHED], group_name="publish", kinds={"html"},
                     description="The static HTML report (reports/index.html) and the dbt docs "
                     "(reports/dbt-docs/index.html), both opening from disk without network."),
    ],
    can_subset=True,  # the UI may materialize the report or PostgreSQL alone, from the published set
)
def publish_set(context: dg.AssetExecutionContext, dbt: DbtCliResource, refresh: RefreshRun):
    """The published set and what goes out with it, in one step (issue 20): the next set is staged
    (orchestration/publish.py), PostgreSQL loads from it on a second thread while the report renders
    from it, and only then is it committed, with the duration of the whole refresh in refresh_log
    (the one the console and `imon status` show). PostgreSQL swaps and the report moves in right
    after the commit, never before it. A failing report or PostgreSQL does not hold back the
    DuckDB set (as before: the set is published, the run fails and says why; PostgreSQL catches up
    with the next refresh). Selected without `published_warehouse` (the Dagster UI), the report
    and/or PostgreSQL are made from the published set as it is."""
    import time

    from orchestration import serving
    from orchestration.report import prepare_report

    settings = get_settings()
    selected = context.selected_asset_keys
    clock = time.perf_counter()
    seconds: dict[str, float] = {}  # where the step's time went (bench: publish, postgres, report)

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(seconds.get(name, 0.0) + now - clock, 3)
        clock = now

    if PUBLISHED in selected:
        con = wh.connect(settings.internal_db, read_only=True)
        try:
            versions = wh.current_versions(con)
            code = projectcode.code_fingerprint()
            rebuilt = projectcode.recorded(con) != code
        finally:
            con.close()
        in_set = {(v.file_name, v.sha256) for v in versions}
        acceptances = [a for a in read_acceptances(settings) if (a["file_name"], a["sha256"]) in in_set]
        started_at = (refresh.started_at or context.instance.get_run_stats(context.run.run_id).start_time
                      or time.time())
        staged = stage_publish(
            settings.internal_db,
            settings.published_db,
            refresh_id=context.run.run_id,
            mode=refresh_mode(first=not settings.published_db.exists(), full=refresh.full, rebuilt=rebuilt),
            versions=versions,
            fingerprint=wh.fingerprint(versions),
            acceptances=acceptances,
            checks=_check_summary(context),
        )
    elif settings.published_db.exists():
        staged = None  # the report and/or PostgreSQL alone (e.g. from the Dagster UI), of the set as it is
    else:
        raise RuntimeError(f"Noch kein veröffentlichter Stand ({settings.published_db}): zuerst aktualisieren")
    new_set = isinstance(staged, StagedPublish)
    source = staged.path if new_set else settings.published_db
    pg = None
    if POSTGRES in selected and settings.postgres_dsn:
        serving.forget_postgres_published(settings.state_dir)  # a failure below leaves it marked as behind
        pg = _PostgresPublish(source, settings, staged.refresh_id if new_set else None)
        pg.start()
    elif POSTGRES in selected:
        context.log.info("IMON_POSTGRES_DSN not set: no PostgreSQL publish")
    lap("publish")
    errors: list[BaseException] = []
    prepared = docs = None
    try:
        if REPORT in selected:
            try:
                # the docs first: the report links them where they exist, so also after the very first run
                with _dbt_echo(refresh, settings, context.run.run_id) as out, contextlib.redirect_stdout(out):
                    docs = build_dbt_docs(dbt, settings.reports_dir / "dbt-docs")
                prepared = prepare_report(source, settings.reports_dir)
            except Exception as exc:  # the data set still goes out; the run fails below
                errors.append(exc)
            lap("report")
        if pg is not None:
            pg.loaded.wait()  # its reading of the staged file is done
            lap("postgres")
        duration = None
        if new_set:
            duration = time.time() - started_at
            staged.commit(duration)
            # The models now in the warehouse are built from this code, and a begun key change is done.
            con = wh.connect(settings.internal_db)
            try:
                projectcode.record(con, code)
                if settings.pseudonym_key:
                    keycheck.finish(con, settings.pseudonym_key)
            finally:
                con.close()
            lap("publish")
        if pg is not None:
            pg.release(committed=True, duration=duration)
    except BaseException:
        if new_set:
            staged.discard()  # unless committed: then it is gone already
        if prepared is not None:
            prepared.discard()
        raise
    finally:
        if pg is not None:
            pg.release(committed=False)  # no-op after the release above; else PostgreSQL stays as it was
            pg.join()
            lap("postgres")
    index = prepared.swap_in() if prepared is not None else None
    lap("report")
    if staged is not None:
        info = staged.info if new_set else staged
        context.log.info(f"published {info['indicator_rows']} indicator rows to {info['path']}")
        yield dg.MaterializeResult(
            asset_key=PUBLISHED,
            metadata={"path": info["path"], "tables": info["tables"], "indicator_rows": info["indicator_rows"],
                      "files": len(versions), "step_seconds": seconds})
    if pg is not None and pg.error is None:
        serving.record_postgres_published(settings.state_dir, settings.postgres_dsn,
                                          read_published_state(settings.published_db).refresh_id)
        yield dg.MaterializeResult(asset_key=POSTGRES,
                                   metadata={k: v for k, v in pg.info.items() if isinstance(v, (int, float))})
    if index is not None:
        context.log.info(f"report: {index}; dbt docs: {docs}")
        yield dg.MaterializeResult(asset_key=REPORT, metadata={"report": str(index), "dbt_docs": str(docs)})
    if pg is not None and pg.error is not None:
        errors.insert(0, pg.error)
    if errors:
        raise errors[0]


class _PostgresPublish(threading.Thread):
    """serving.publish_to_postgres from the staged set on a second thread (the load is PostgreSQL's
    and the drivers' work, the report's rendering Python's): it loads, says `loaded`, and swaps
    only after the DuckDB commit (`release(committed=True)`), with the duration filled in."""

    def __init__(self, source: Path, settings, refresh_id: str | None):
        super().__init__(name="postgres-publish", daemon=True)
        self.source, self.settings, self.refresh_id = source, settings, refresh_id
        self.loaded = threading.Event()
        self._go = threading.Event()
        self.duration: float | None = None
        self.committed = False
        self.info: dict = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        from orchestration import serving

        try:
            self.info = serving.publish_to_postgres(self.source, self.settings.postgres_dsn,
                                                    reader_role=self.settings.postgres_reader_role,
                                                    before_swap=self._before_swap)
        except BaseException as exc:
            self.error = exc
        finally:
            self.loaded.set()

    def release(self, committed: bool, duration: float | None = None) -> None:
        if not self._go.is_set():
            self.committed, self.duration = committed, duration
            self._go.set()

    def _before_swap(self, pg, staging: str) -> None:
        from orchestration.serving import quote_ident

        self.loaded.set()
        self._go.wait()
        if not self.committed:
            raise RuntimeError("DuckDB-Veröffentlichung nicht abgeschlossen: PostgreSQL bleibt unverändert")
        if self.refresh_id is not None:  # the duration the DuckDB set recorded at its commit
            pg.execute(f"UPDATE {quote_ident(staging)}.refresh_log SET duration_s = %s WHERE refresh_id = %s",
                       [self.duration, self.refresh_id])


def build_dbt_docs(dbt: DbtCliResource, dest_dir) -> str:
    """`dbt docs generate --static`: one self-contained HTML file (manifest and catalog inlined)."""
    import shutil
    import tempfile
    from pathlib import Path

    dest = Path(dest_dir)
    # The docs show the project and the warehouse's column types, which change only when the
    # dbt project does: regenerate only when the manifest is newer than the last docs.
    if (dest / "index.html").exists() and (dest / "index.html").stat().st_mtime >= dbt_project.manifest_path.stat().st_mtime:
        return str(dest / "index.html")
    with tempfile.TemporaryDirectory() as tmp:
        dbt.cli(["docs", "generate", "--static", "--target-path", tmp],
                manifest=dbt_project.manifest_path).wait()
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp) / "static_index.html", dest / "index.html")
    return str(dest / "index.html")
