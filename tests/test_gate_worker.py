"""The GX validation worker (orchestration/gate/worker.py): the same findings and data-docs
summaries as validating in-process, and a worker that dies or cannot start costs nothing but time.

Real processes: the worker is the real interpreter `imon refresh` starts; it is killed with a
real SIGKILL, and a failed start is a real failed import of GX in it. The CLI path (a real
`imon refresh`, killed) is tested with the other kill tests in test_operations.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal

import pytest

from orchestration import gate
from orchestration.extracts import parse_file
from orchestration.gate import worker
from sources.contracts import identify
from sources.faults import FAULTS, FaultNotApplicable, pick_source

TODAY = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def corpus(generated, tmp_path_factory):
    """Every fault of the broken-delivery corpus that applies to the generated history, plus the
    clean files of the newest month: parsed, each broken file in a folder of its own."""
    root = tmp_path_factory.mktemp("worker_corpus")
    parsed = [parse_file(f, *identify(f)) for f in sorted(generated.rglob("*2025-01*"))]
    for key, fault in sorted(FAULTS.items()):
        src = pick_source(generated, fault, today=TODAY)
        if src is None:
            continue
        dst = root / key.replace(":", "_") / src.parent.name / src.name
        try:
            fault.apply(src, dst)
        except FaultNotApplicable:
            continue
        parsed.append(parse_file(dst, *identify(dst)))
    assert len(parsed) > 60
    return parsed


def gated(parsed) -> tuple[str, str]:
    """repr of the findings and of the data-docs summaries: equal reprs, equal types and bytes."""
    gate.take_validation_runs()
    findings = gate.check_files(parsed, {}, set(), TODAY)
    return repr(sorted((str(k), v) for k, v in findings.items())), repr(gate.take_validation_runs())


@pytest.fixture(scope="module")
def in_process(corpus):
    assert worker.current() is None
    return gated(corpus)


@pytest.fixture
def started():
    gate.start_validation_worker()
    try:
        yield worker.current()
    finally:
        gate.stop_validation_worker()


def test_worker_gives_the_same_findings_and_data_docs(corpus, in_process, started):
    findings, runs = gated(corpus)
    assert worker.current() is started, "the worker fell back: it must have answered every chunk"
    assert findings == in_process[0]
    assert runs == in_process[1]
    assert "R4.duplicate_key" in findings and "expect_column_values_to_be_in_set" in runs
    gate.stop_validation_worker()
    assert started.process.poll() == 0  # it ended when told to, cleanly


def test_a_killed_worker_falls_back_to_in_process(corpus, in_process, started, caplog):
    os.kill(started.process.pid, signal.SIGKILL)
    started.process.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger=worker.__name__):
        assert gated(corpus) == in_process
    assert worker.current() is None
    assert f"GX-Prüfprozess {started.process.pid} antwortet nicht mehr (Signal 9); die Prüfung läuft im " \
           "Aktualisierungsprozess weiter." in caplog.messages


def test_a_worker_that_cannot_start_falls_back_to_in_process(corpus, in_process, tmp_path, monkeypatch, caplog):
    # A real failed start: the worker's interpreter finds a GX that does not import.
    fake = tmp_path / "great_expectations"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise ImportError("GX kaputt (Test)")\n', encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    gate.start_validation_worker()
    try:
        started = worker.current()
        assert started is not None
        with caplog.at_level(logging.WARNING, logger=worker.__name__):
            assert gated(corpus) == in_process
        assert worker.current() is None
        assert (f"GX-Prüfprozess {started.process.pid} konnte nicht starten: ImportError: GX kaputt (Test); "
                "die Prüfung läuft im Aktualisierungsprozess weiter.") in caplog.messages
        assert started.process.poll() is not None
    finally:
        gate.stop_validation_worker()


def test_an_error_in_the_worker_is_raised_as_in_process(corpus, started):
    """An exception of the GX pass itself (here: a file type without a suite) is the caller's,
    as in-process, and leaves the worker running: it is no reason to fall back."""
    p = next(p for p in corpus if p.contract.file_type == "jobcenter" and p.table is not None)
    odd = dataclasses.replace(p, contract=dataclasses.replace(p.contract, file_type="gibt_es_nicht"))
    with pytest.raises(FileNotFoundError, match="gibt_es_nicht.json") as in_worker:
        gate.check_files([odd], {}, set(), TODAY)
    assert worker.current() is started and started.process.poll() is None
    gate.stop_validation_worker()
    with pytest.raises(FileNotFoundError) as here:
        gate.check_files([odd], {}, set(), TODAY)
    assert str(in_worker.value) == str(here.value)


def test_the_worker_is_only_for_a_delivery_of_one_ingest_batch(next_month_files, tmp_path):
    """refresh.py starts the worker for a new month, not beside a first load or a backlog (its own
    interpreter and frames would add to that peak): decided on the files a real inbox scan finds."""
    import shutil

    from orchestration.ingest import INGEST_BATCH_BYTES, scan_inbox
    from orchestration.refresh import wants_validation_worker

    def inbox(*files: tuple[str, int | None]) -> list:
        landing = tmp_path / f"landing{len(list(tmp_path.iterdir()))}"
        landing.mkdir()
        for file_type, size in files:
            src = next_month_files[file_type]
            dest = landing / src.parent.name / src.name
            dest.parent.mkdir(exist_ok=True)
            shutil.copy2(src, dest)
            if size is not None:
                os.truncate(dest, size)  # sparse: the size, without the bytes on disk
        found, _ = scan_inbox(landing)
        assert len(found) == len(files)
        return found

    assert not wants_validation_worker(inbox())  # nothing to gate
    assert wants_validation_worker(inbox(("jobcenter", None), ("abh_bestand", None)))  # a new month
    assert wants_validation_worker(inbox(("jobcenter", 0)))  # an empty file is still a file to gate
    assert wants_validation_worker(inbox(("jobcenter", INGEST_BATCH_BYTES)))
    assert not wants_validation_worker(inbox(("jobcenter", INGEST_BATCH_BYTES + 1)))
    assert not wants_validation_worker(inbox(("jobcenter", INGEST_BATCH_BYTES // 2 + 1),
                                             ("abh_bestand", INGEST_BATCH_BYTES // 2 + 1)))
