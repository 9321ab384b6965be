"""Operations: how a refresh behaves when it is killed, doubled, read during, re-fed or scheduled.

Real processes and real signals: `imon refresh` runs as a subprocess on a clone of the
session's `refreshed` state (25 months published) with the next month in the inbox, and is
stopped with SIGKILL at the pause points of orchestration/settings.py (IMON_PAUSE_AT).
The expensive refreshes run side by side in module fixtures (each one 30-70 s); the tests
then only assert on what they left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import BIN, NEXT_MONTH, REPO, copy_landing, env_for, imon

KILL_POINTS = ["ingest:jobcenter", "dbt", "checks", "publish"]


# --- helpers --------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def published(data: Path) -> Path:
    return data / "published" / "monitoring.duckdb"


def indicator_values(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT * FROM indicator_values ORDER BY ALL").fetchall()
    finally:
        con.close()


def latest_refresh(db: Path) -> tuple:
    """(indicator rows, id of the newest refresh_log row, refresh_log rows): one published version."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT (SELECT count(*) FROM indicator_values),"
            " (SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1),"
            " (SELECT count(*) FROM refresh_log)"
        ).fetchone()
    finally:
        con.close()


def clone(refreshed: Path, root: Path) -> tuple[Path, Path]:
    data, landing = root / "data", root / "landing"
    shutil.copytree(refreshed / "data", data, ignore=shutil.ignore_patterns("*.lock"))
    landing.mkdir(parents=True, exist_ok=True)
    return data, landing


def deliver(files, landing: Path) -> dict[str, str]:
    """Put extracts into the inbox (provider folder layout); returns name -> sha256."""
    out = {}
    for f in files:
        dest = landing / f.parent.name / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
        out[f.name] = sha256(dest)
    return out


def assert_nothing_lost(delivered: dict[str, str], landing: Path, data: Path) -> None:
    """Every delivered file is still in the inbox or, unchanged, in the archive."""
    for name, sha in delivered.items():
        in_inbox = [p for p in landing.rglob(name) if sha256(p) == sha]
        stem, suffix = Path(name).stem, Path(name).suffix
        archived = [p for p in (data / "archive").rglob(f"{stem}.{sha[:16]}{suffix}") if sha256(p) == sha]
        assert in_inbox or archived, f"{name} ({sha[:12]}) is neither in the inbox nor in the archive"


def start_refresh(env: dict, log: Path, *args: str) -> subprocess.Popen:
    # Own session: a SIGKILL of the refresh alone leaves its dbt child orphaned, as a crash would.
    return subprocess.Popen([str(BIN / "imon"), "refresh", *args], env=env, cwd=REPO,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"refresh ended (rc {proc.returncode}) before {path.name}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} not reached within {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live process below `pid`."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            pass
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child in (c for c, pp in parent.items() if pp == p):
            try:
                out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(child)
    return out


def imported_gx(pid: int) -> bool:
    """GX is loaded in that process: it brings scipy's extension modules, which nothing else
    of a refresh imports (a pure-Python import leaves no trace in /proc/<pid>/maps)."""
    return "/site-packages/scipy/" in Path(f"/proc/{pid}/maps").read_text()


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def finish(proc: subprocess.Popen, log: Path, timeout: float = 600) -> tuple[int, str]:
    rc = proc.wait(timeout=timeout)
    return rc, log.read_text()


# --- the reference: a fresh data dir that gets all 26 months at once ---------------------------


@pytest.fixture(scope="module")
def from_scratch(generated, tmp_path_factory) -> list[tuple]:
    root = tmp_path_factory.mktemp("scratch26")
    data, landing = root / "data", root / "landing"
    copy_landing(generated, landing)
    imon("refresh", env=env_for(data, landing), check_rc=0)
    return indicator_values(published(data))


# --- 1. SIGKILL at each point -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(refreshed, next_month_files, tmp_path_factory) -> dict[str, dict]:
    """One clone per kill point, all killed side by side, then each refreshed again normally."""
    runs: dict[str, dict] = {}
    for point in KILL_POINTS:
        root = tmp_path_factory.mktemp("kill-" + point.replace(":", "-"))
        data, landing = clone(refreshed, root)
        r = dict(root=root, data=data, landing=landing,
                 delivered=deliver(next_month_files.values(), landing),
                 published_sha=sha256(published(data)), published_before=latest_refresh(published(data)))
        env = env_for(data, landing, IMON_PAUSE_AT=point, IMON_PAUSE_MARKER_DIR=str(root / "markers"))
        r["log"] = root / "killed.log"
        r["proc"] = start_refresh(env, r["log"])
        runs[point] = r
    for point, r in runs.items():
        wait_for(r["root"] / "markers" / f"paused-{point}", r["proc"], r["log"])
        pid_file = r["data"] / "state" / "dbt.pid"
        r["dbt_pid"] = int(pid_file.read_text()) if point == "dbt" else None
        workers = [pid for pid, cmd in descendants(r["proc"].pid).items() if "orchestration.gate.worker" in cmd]
        r["gx_workers"] = workers
        r["gx_in_refresh"] = imported_gx(r["proc"].pid)
        r["gx_in_worker"] = [imported_gx(pid) for pid in workers]
        os.kill(r["proc"].pid, signal.SIGKILL)
        r["killed_rc"] = r["proc"].wait(timeout=30)
        r["dbt_alive_after_kill"] = r["dbt_pid"] is not None and alive(r["dbt_pid"])
        r["gx_workers_gone"] = [gone_within(pid, 5) for pid in workers]
        # What the kill left behind, observed before anything else touches the state.
        r["published_sha_after_kill"] = sha256(published(r["data"]))
        r["readable_after_kill"] = latest_refresh(published(r["data"]))
        r["lost"] = None
        try:
            assert_nothing_lost(r["delivered"], r["landing"], r["data"])
        except AssertionError as e:
            r["lost"] = str(e)
    for r in runs.values():  # the next normal refresh, side by side again
        r["log2"] = r["root"] / "recovery.log"
        r["proc2"] = start_refresh(env_for(r["data"], r["landing"]), r["log2"])
    for r in runs.values():
        r["rc2"], r["out2"] = finish(r["proc2"], r["log2"])
    return runs


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_leaves_published_intact_and_next_refresh_completes(killed, from_scratch, point):
    r = killed[point]
    assert r["killed_rc"] == -signal.SIGKILL
    # The published file is untouched and still answers queries.
    assert r["published_sha_after_kill"] == r["published_sha"]
    assert r["readable_after_kill"] == r["published_before"]
    assert r["lost"] is None, r["lost"]
    # The next refresh completes normally and publishes what a from-scratch refresh of the same files gives.
    assert r["rc2"] == 0, r["out2"][-4000:]
    assert "VERÖFFENTLICHT" in r["out2"]
    assert not list(r["landing"].rglob("*.*")), "inbox not emptied by the recovery refresh"
    assert_nothing_lost(r["delivered"], r["landing"], r["data"])
    assert not list((r["data"] / "published").glob(".*.tmp-*")), "temp file of the killed publish left behind"
    assert indicator_values(published(r["data"])) == from_scratch
    after = latest_refresh(published(r["data"]))
    assert after[2] == r["published_before"][2] + 1  # exactly one new history row
    if point == "dbt":
        print(f"dbt {r['dbt_pid']} still running after its parent was killed: {r['dbt_alive_after_kill']}")
        # The orphaned dbt (its parent was killed) is stopped by the next refresh, and its pid file goes.
        assert r["dbt_pid"] and not alive(r["dbt_pid"])
        assert not (r["data"] / "state" / "dbt.pid").exists()


@pytest.mark.parametrize("point", KILL_POINTS)
def test_gx_runs_in_its_worker_which_a_kill_leaves_no_orphan(killed, point):
    """`imon refresh` gates in its GX worker (orchestration/gate/worker.py): while the ingest runs,
    GX is loaded there and not in the refresh process; the worker is gone once dbt starts, and
    a SIGKILL of the refresh ends it too (no orphan left running)."""
    r = killed[point]
    if point.startswith("ingest:"):
        assert len(r["gx_workers"]) == 1, "no GX worker below the refresh while it gates"
        assert r["gx_in_worker"] == [True] and not r["gx_in_refresh"]
        assert r["gx_workers_gone"] == [True], f"GX worker {r['gx_workers']} still running after the kill"
    else:
        assert r["gx_workers"] == [], "the GX worker outlived the gate"
        assert not r["gx_in_refresh"]


def test_orphaned_dbt_is_reaped_when_the_lock_is_taken(tmp_path, monkeypatch):
    """state/dbt.pid names a process still running with "dbt" in its command line: the next
    refresh kills it as soon as it holds the lock. A pid reused by another program is left alone."""
    from orchestration.runlock import refresh_lock
    from orchestration.settings import get_settings

    monkeypatch.setenv("IMON_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    settings.state_dir.mkdir(parents=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    orphan = subprocess.Popen([*sleeper, "dbt", "build"])
    bystander = subprocess.Popen(sleeper)
    try:
        (settings.state_dir / "dbt.pid").write_text(str(orphan.pid))
        with refresh_lock(settings, timeout_s=5):
            pass
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert not (settings.state_dir / "dbt.pid").exists()

        (settings.state_dir / "dbt.pid").write_text(str(bystander.pid))
        with refresh_lock(settings, timeout_s=5):
            pass
        assert bystander.poll() is None, "a process that is not dbt was killed"
    finally:
        for p in (orphan, bystander):
            p.kill()
            p.wait()


# --- 2. two refreshes at once ----------------------------------------------------------------------
# Runs inside the incremental refresh of `refreshed_under_readers` below (one refresh of the next
# month serves both): while it holds the lock (paused 8 s in dbt), an impatient and a patient
# second refresh start.


def test_concurrent_refreshes_wait_or_stop_clearly(refreshed_under_readers, from_scratch):
    r = refreshed_under_readers["incremental"]
    rc, out = r["impatient"]
    assert rc == 1, out
    assert "Eine andere Aktualisierung läuft noch" in out and f"PID {r['proc'].pid}" in out
    assert "Nichts wurde verändert" in out
    assert r["first_alive_after_impatient"], "the first refresh did not survive the second one"

    assert r["rc"] == 0, r["out"][-4000:]
    assert "VERÖFFENTLICHT" in r["out"]
    rc, out = r["patient"]
    assert rc == 0, out[-4000:]
    assert "warte" in out  # it did wait
    assert "Nichts Neues" in out  # and found the work done, instead of building it twice
    assert r["values"] == from_scratch
    assert r["after"][2] == 2  # refresh_log: initial + the first


# --- 3. + 4. readers during refreshes; incremental == full == from scratch --------------------------

READER = textwrap.dedent("""
    import json, sys, time, duckdb
    from pathlib import Path
    db, out, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    with open(out, "w") as f:
        while not stop.exists():
            try:
                con = duckdb.connect(db, read_only=True)
                try:
                    row = con.execute(
                        "SELECT (SELECT count(*) FROM indicator_values),"
                        " (SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1),"
                        " (SELECT count(*) FROM refresh_log)").fetchone()
                finally:
                    con.close()
                f.write(json.dumps({"state": list(row)}) + "\\n")
            except Exception as e:
                f.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\\n")
            f.flush()
            time.sleep(0.02)
""")


@pytest.fixture(scope="module")
def refreshed_under_readers(refreshed, next_month_files, tmp_path_factory) -> dict[str, dict]:
    """The next month, once incrementally and once with --full, each with a reader querying the
    published file in a loop from before the refresh starts until after it ended. The
    incremental one pauses 8 s in dbt, holding the lock, while an impatient and a patient
    second refresh start on the same data dir (test_concurrent_refreshes_wait_or_stop_clearly)."""
    runs = {}
    for mode in ("full", "incremental"):  # the full one first: it runs while the other pauses
        root = tmp_path_factory.mktemp(f"readers-{mode}")
        data, landing = clone(refreshed, root)
        deliver(next_month_files.values(), landing)
        r = dict(root=root, data=data, before=latest_refresh(published(data)),
                 reads=root / "reads.jsonl", stop=root / "stop", log=root / "refresh.log")
        (root / "reader.py").write_text(READER)
        r["reader"] = subprocess.Popen([sys.executable, str(root / "reader.py"), str(published(data)),
                                        str(r["reads"]), str(r["stop"])])
        time.sleep(1.0)
        if mode == "full":
            r["proc"] = start_refresh(env_for(data, landing), r["log"], "--full")
        else:  # holds the lock for sure while two more refreshes start (test_concurrent_refreshes_...)
            markers = root / "markers"
            r["proc"] = start_refresh(env_for(data, landing, IMON_PAUSE_AT="dbt", IMON_PAUSE_SECONDS="8",
                                              IMON_PAUSE_MARKER_DIR=str(markers)), r["log"])
            wait_for(markers / "paused-dbt", r["proc"], r["log"])
            impatient_log, patient_log = root / "impatient.log", root / "patient.log"
            impatient = start_refresh(env_for(data, landing, IMON_LOCK_TIMEOUT="1"), impatient_log)
            r["patient_proc"] = start_refresh(env_for(data, landing, IMON_LOCK_TIMEOUT="600"), patient_log)
            r["patient_log"] = patient_log
            r["impatient"] = finish(impatient, impatient_log, timeout=120)
            r["first_alive_after_impatient"] = r["proc"].poll() is None
        runs[mode] = r
    for r in runs.values():
        r["rc"], r["out"] = finish(r["proc"], r["log"])
        if "patient_proc" in r:
            r["patient"] = finish(r["patient_proc"], r["patient_log"])
        time.sleep(1.0)
        r["stop"].touch()
        r["reader"].wait(timeout=30)
        r["after"] = latest_refresh(published(r["data"]))
        r["values"] = indicator_values(published(r["data"]))
    return runs


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_readers_see_whole_versions_only(refreshed_under_readers, mode):
    r = refreshed_under_readers[mode]
    assert r["rc"] == 0, r["out"][-4000:]
    reads = [json.loads(line) for line in r["reads"].read_text().splitlines()]
    errors = [x["error"] for x in reads if "error" in x]
    assert not errors, f"{len(errors)} of {len(reads)} reads failed, e.g. {errors[:3]}"
    seen = {tuple(x["state"]) for x in reads}
    assert seen <= {tuple(r["before"]), tuple(r["after"])}, f"a read saw a mixed state: {seen}"
    assert seen == {tuple(r["before"]), tuple(r["after"])}, "the reader did not span the refresh"
    assert len(reads) > 50


def test_incremental_equals_full_equals_from_scratch(refreshed_under_readers, from_scratch):
    inc, full = refreshed_under_readers["incremental"], refreshed_under_readers["full"]
    assert inc["rc"] == 0 and full["rc"] == 0
    assert any(row[1] == NEXT_MONTH for row in inc["values"]), "the new month was not published"
    assert inc["values"] == from_scratch
    assert full["values"] == from_scratch
    con = duckdb.connect(str(published(full["data"])), read_only=True)
    modes = [m for (m,) in con.execute("SELECT mode FROM refresh_log ORDER BY published_at").fetchall()]
    con.close()
    assert modes[-1] == "full"


def dbt_step_outcome(data: Path, run_id: str) -> tuple[set[str], set[str]]:
    """(asset keys materialised, checks evaluated) by the dbt step of a run, from its Dagster
    event log: what the run shows in the UI's lineage."""
    import dataclasses

    import dagster as dg

    from orchestration.instance import get_instance
    from orchestration.settings import get_settings

    instance = get_instance(dataclasses.replace(get_settings(), data_dir=data, landing_dir=data))
    try:
        mats = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                            limit=10_000).records
        checks = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                              limit=10_000).records
        tags = instance.get_run_by_id(run_id).tags
    finally:
        instance.dispose()
    in_dbt = [r.event_log_entry for r in mats + checks if r.event_log_entry.step_key == "monitoring_models"]
    built = {e.dagster_event.asset_key.to_user_string() for e in in_dbt
             if e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"}
    tested = {e.dagster_event.event_specific_data.check_name for e in in_dbt
              if e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"}
    # the run's tags count the same (seeds and models; dbt nodes without an asset have none)
    n_checks = sum(1 for e in in_dbt if e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION")
    assert int(tags["imon/dbt_tests"]) == n_checks and int(tags["imon/dbt_nodes"]) >= len(built)
    return built, tested


def test_new_month_builds_only_what_depends_on_its_file_types(refreshed_under_readers):
    """Issue 20: a month of the monthly file types runs the dbt nodes downstream of their raw
    tables and of the file registry (but not the field models its file types do not feed), plus the marts; yearly sources and seeds keep their tables
    (the values are the same as from scratch: test above). A test joining a changed model to an
    unchanged seed still runs; --full builds and tests everything."""
    built, tested = {}, {}
    for mode in ("incremental", "full"):
        r = refreshed_under_readers[mode]
        built[mode], tested[mode] = dbt_step_outcome(r["data"], r["after"][1])
    inc, full = built["incremental"], built["full"]
    assert "staging/stg_jobcenter__recipients" in inc and "marts/indicator_values" in inc
    skipped_marts = {f"marts/{m}" for m in ("wide_bildung", "wide_demografie", "wide_gesundheit", "wide_pflege",
                                            "wide_zugang_jahr", "wide_zugang_schuljahr")}
    assert {k for k in full if k.startswith("marts/")} - skipped_marts <= inc, "the other marts are rebuilt"
    assert skipped_marts <= full and not skipped_marts & inc
    # esu is yearly (not in the next month), gemeinden a seed: built by --full only
    for key in ("staging/stg_gesundheitsamt__school_entry_examinations", "reference/gemeinden"):
        assert key in full and key not in inc, key
    # Field models reach the file registry; only those whose indicators name a delivered file
    # type are built (ENG-02 needs unterbringung), the others keep their tables (values: test above).
    for field in ("arbeit", "sprache", "rechtsstatus", "wohnen", "engagement"):
        assert f"intermediate/int_indicators_{field}" in inc, field
    for field in ("bildung", "demografie", "gesundheit", "zugang", "pflege"):
        assert f"intermediate/int_indicators_{field}" in full and f"intermediate/int_indicators_{field}" not in inc, field
    assert len(inc) < len(full) and len(tested["incremental"]) < len(tested["full"])
    # the wide marts of fields the delivered types do not feed are not in the run at all
    assert "marts/wide_arbeit" in inc and "marts/wide_bildung" in full and "marts/wide_bildung" not in inc
    # The data dir is a copy of another (the session's refreshed state): dbt's saved parse, made
    # for the other warehouse path, was re-stamped for this one instead of a full parse.
    r = refreshed_under_readers["incremental"]
    run_log = (r["data"] / "dagster" / "logs" / f"refresh-{r['after'][1]}.log").read_text()
    assert "Found " in run_log  # dbt's own lines are there
    assert "Unable to do partial parsing" not in run_log
    assert "relationships_int_jobcenter_recipients_aggregated_ags__ags__ref_gemeinden_" in tested["incremental"]


# --- 5. re-delivery --------------------------------------------------------------------------------


def corrected(original: Path, dest: Path) -> tuple[str, str]:
    """A valid correction of a jobcenter file: one unemployed person is now employed instead.
    Returns the person-level line before and after (for the failure message)."""
    raw = original.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(nl)
    header = lines[0].lower().split(";")
    i_elb, i_al, i_et = header.index("elb"), header.index("arbeitslos"), header.index("erwerbstaetig")
    for n, line in enumerate(lines[1:], start=1):
        cells = line.split(";")
        if len(cells) == len(header) and cells[i_elb] == "J" and cells[i_al] == "J" and cells[i_et] == "N":
            before = line
            cells[i_al], cells[i_et] = "N", "J"
            lines[n] = ";".join(cells)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((b"\xef\xbb\xbf" if bom else b"") + nl.join(lines).encode("utf-8"))
            return before, lines[n]
    raise AssertionError(f"{original}: no unemployed ELB row to correct")


def test_redelivery_replaces_the_period_and_identical_one_changes_nothing(refreshed, base_extracts, tmp_path):
    data, landing = clone(refreshed, tmp_path)
    period = "2024-06"
    name = f"jobcenter_{period}.csv"
    original = base_extracts / "jobcenter" / name
    old_sha = sha256(original)
    values_before = indicator_values(published(data))
    fixed = tmp_path / "corrected" / "jobcenter" / name  # provider folder, as in the inbox
    corrected(original, fixed)
    new_sha = sha256(fixed)

    deliver([fixed], landing)
    out = imon("refresh", env=env_for(data, landing), check_rc=0).stdout
    assert "VERÖFFENTLICHT" in out
    archived = sorted((data / "archive" / "jobcenter").glob(f"jobcenter_{period}.*.csv"))
    assert {sha256(p) for p in archived} == {old_sha, new_sha}, "old and new version side by side"
    assert not list(landing.rglob("*.csv"))

    values_after = indicator_values(published(data))
    changed = set(values_after) ^ set(values_before)
    assert changed, "the correction changed no indicator"
    assert any(row[1] == period and row[0].startswith("ARB") for row in changed), sorted(changed)[:5]

    con = duckdb.connect(str(published(data)), read_only=True)
    newest, files_json = con.execute(
        "SELECT refresh_id, files FROM refresh_log ORDER BY published_at DESC LIMIT 1").fetchone()
    in_files = con.execute("SELECT sha256 FROM refresh_files WHERE refresh_id = ? AND file_name = ?",
                           [newest, name]).fetchall()
    con.close()
    assert in_files == [(new_sha,)]
    assert {f["sha256"] for f in json.loads(files_json) if f["file_name"] == name} == {new_sha}

    # A byte-identical re-delivery is recognised and changes nothing, not even the file's bytes.
    published_sha = sha256(published(data))
    deliver([fixed], landing)
    out = imon("refresh", env=env_for(data, landing), check_rc=0).stdout
    assert sha256(published(data)) == published_sha, out[-3000:]
    assert not list(landing.rglob("*.csv")), "the identical copy stays in the inbox"
    assert len(list((data / "archive" / "jobcenter").glob(f"jobcenter_{period}.*.csv"))) == 2
    status = imon("status", env=env_for(data, landing), check_rc=0).stdout
    runs = [x for x in status.splitlines() if x.startswith("  20")]  # newest first
    assert "unverändert" in runs[0] and "veröffentlicht" in runs[1], status
    # ... and a refresh with nothing new at all does not start Dagster.
    t0 = time.monotonic()
    out = imon("refresh", env=env_for(data, landing), check_rc=0).stdout
    assert "Nichts Neues" in out and time.monotonic() - t0 < 15


# --- 6. schedule and sensor -------------------------------------------------------------------------


def test_schedule_and_sensor_request_and_run_a_refresh(refreshed, next_month_files, tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.jobs import inbox_sensor, nightly_refresh

    data, landing = clone(refreshed, tmp_path)
    for k, v in env_for(data, landing).items():
        if k.startswith("IMON_"):
            monkeypatch.setenv(k, v)
    monkeypatch.setenv("IMON_SENSOR_SETTLE_SECONDS", "30")
    monkeypatch.setenv("IMON_INTERNAL_DB", str(data / "warehouse" / "internal.duckdb"))  # restored after

    # Schedule: 02:00 Berlin time, skipped while nothing is new.
    assert nightly_refresh.cron_schedule == "0 2 * * *"
    assert nightly_refresh.execution_timezone == "Europe/Berlin"
    assert nightly_refresh.job_name == "refresh"
    tick = nightly_refresh.evaluate_tick(dg.build_schedule_context())
    assert not tick.run_requests and "nothing new" in (tick.skip_message or "")

    # Sensor: empty inbox, then a new file that has to settle first.
    with dg.instance_for_test() as instance:
        tick = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not tick.run_requests and tick.skip_message == "inbox empty"
        delivered = deliver(next_month_files.values(), landing)
        for p in landing.rglob("*.*"):
            os.utime(p)  # just written, as a provider's copy would be
        tick = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
        assert not tick.run_requests and "settling" in tick.skip_message  # first sight
        tick = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
        assert not tick.run_requests and "settling" in tick.skip_message  # unchanged, but too fresh
        old = time.time() - 120
        for p in landing.rglob("*.*"):
            os.utime(p, (old, old))
        cursor = tick.cursor
        tick = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert not tick.run_requests, "mtime changed since the last look: must settle again"
        tick = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
        assert len(tick.run_requests) == 1
        request = tick.run_requests[0]
        again = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
        assert again.run_requests[0].run_key == request.run_key  # same files, same key: run once
        digest = hashlib.sha256(json.dumps(sorted(delivered.items())).encode()).hexdigest()[:32]
        assert request.run_key == f"inbox-{digest}"

        # The schedule now wants a run too.
        sched = nightly_refresh.evaluate_tick(dg.build_schedule_context())
        assert len(sched.run_requests) == 1
        assert sched.run_requests[0].run_config == request.run_config

        # One run launched from the sensor's request, end to end, against the temp instance.
        published_before = sha256(published(data))
        result = defs.resolve_job_def("refresh").execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags, raise_on_error=False)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    assert sha256(published(data)) != published_before
    con = duckdb.connect(str(published(data)), read_only=True)
    rid, = con.execute("SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1").fetchone()
    n_new = con.execute("SELECT count(*) FROM indicator_values WHERE period = ?", [NEXT_MONTH]).fetchone()[0]
    con.close()
    assert rid == result.run_id and n_new > 0
    assert not list(landing.rglob("*.*"))
    tick = nightly_refresh.evaluate_tick(dg.build_schedule_context())
    assert not tick.run_requests  # and the schedule is quiet again


# --- 7. Dagster storage and `imon status` --------------------------------------------------------


def test_run_history_lives_in_the_data_dir_and_status_shows_it(refreshed, next_month_files, tmp_path):
    history = refreshed / "data" / "dagster"
    assert (history / "history" / "runs.db").exists()
    con = __import__("sqlite3").connect(history / "history" / "runs.db")
    runs = con.execute("SELECT run_id, status FROM runs WHERE pipeline_name = 'refresh'").fetchall()
    con.close()
    assert len(runs) == 1 and runs[0][1] == "SUCCESS"
    assert (history / "history" / "runs" / f"{runs[0][0]}.db").exists()  # its event log, there too
    assert not (REPO / "history").exists() and not (REPO / "storage").exists()

    data, landing = clone(refreshed, tmp_path)
    deliver([next_month_files["jobcenter"]], landing)
    out = imon("status", env=env_for(data, landing), check_rc=0).stdout
    assert "1 Datei(en) warten" in out and f"jobcenter/jobcenter_{NEXT_MONTH}.csv" in out
    line = next(x for x in out.splitlines() if runs[0][0][:8] in x)
    con = duckdb.connect(str(published(data)), read_only=True)
    n_files = con.execute("SELECT file_count FROM refresh_log").fetchone()[0]
    con.close()
    assert "veröffentlicht" in line and f"{n_files} Dateien" in line and " s " in line + " "
    assert line.split()[0].count("-") == 2  # the date it ran


def _pg_admin():
    try:
        import psycopg

        return psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                               autocommit=True, connect_timeout=3)
    except Exception as e:  # noqa: BLE001 - any failure means: no server to test against
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 (user postgres) not reachable: {e}")


def test_dagster_storage_in_postgres(refreshed, next_month_files, tmp_path):
    admin = _pg_admin()
    db = f"imon_dagster_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{db}"')
    try:
        data, landing = clone(refreshed, tmp_path)
        deliver([next_month_files["jobcenter"]], landing)
        env = env_for(data, landing, IMON_DAGSTER_PG_URL=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}")
        out = imon("refresh", env=env, check_rc=0).stdout
        assert "VERÖFFENTLICHT" in out
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={db}") as con:
            runs = con.execute("SELECT run_id, status FROM runs WHERE pipeline_name = 'refresh'").fetchall()
        assert len(runs) == 1 and runs[0][1] == "SUCCESS"
        pub = duckdb.connect(str(published(data)), read_only=True)
        newest = pub.execute("SELECT refresh_id FROM refresh_log ORDER BY published_at DESC LIMIT 1").fetchone()[0]
        pub.close()
        assert runs[0][0] == newest
        # The sqlite history of the clone did not get this run: it went to PostgreSQL only.
        sq = __import__("sqlite3").connect(data / "dagster" / "history" / "runs.db")
        assert newest not in {r for (r,) in sq.execute("SELECT run_id FROM runs")}
        sq.close()
        status = imon("status", env=env, check_rc=0).stdout
        assert newest[:8] in status and "0 Datei(en) warten" in status
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [db])
        admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
        admin.close()
