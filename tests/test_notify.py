"""Notifications by e-mail: one scenario, real refreshes, a real SMTP server on 127.0.0.1.

One clone of the session's refreshed state (25 months published) goes through the nights the
data team lives through; after each `imon refresh` (a subprocess, as cron runs it) the test
looks at exactly what the mail server received:

  quiet night -> blocked file -> PostgreSQL down -> corrected file, relay down ->
  relay back -> a delivery overdue -> the same night again -> the overdue file arrives
"""

from __future__ import annotations

import csv
import email
import re
import socket
import time
from email import policy

import pytest

from conftest import imon

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd (the [test] extra) is not installed")


class Inbox:
    """The messages the real SMTP server received (aiosmtpd handler)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"subject": str(msg["subject"]), "to": envelope.rcpt_tos,
                              "from": envelope.mail_from, "text": msg.get_body(("plain",)).get_content()})
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    yield inbox, f"127.0.0.1:{ctl.port}"
    ctl.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deliver(src, landing):
    from sources.contracts import load_contracts

    contract = next(c for c in load_contracts().values() if c.match(src.name))
    dest = landing / contract.provider / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes())
    return dest


def _ids(path) -> set[str]:
    """Every person and household pseudonym of a jobcenter file."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    return {r[c] for r in rows for c in ("person_id", "bg_id") if r.get(c)}


def test_the_data_team_is_told_once_per_outcome(clone_state, next_month_files, smtp, tmp_path):
    from sources.faults import FAULTS

    inbox, relay = smtp
    data, landing, env = clone_state()
    env.update(IMON_NOTIFY_SMTP=relay, IMON_NOTIFY_FROM="imon@lra-es.example",
               IMON_NOTIFY_TO="daten@lra-es.example, statistik@lra-es.example")

    def night(today: str, rc: int, **extra):
        seen = len(inbox.messages)
        proc = imon("refresh", env={**env, "IMON_TODAY": today, **extra}, check_rc=rc)
        time.sleep(0.2)  # the server hands the message to the handler after the client's QUIT
        return proc, inbox.messages[seen:]

    # 1. A quiet night: nothing new, nothing overdue: no mail.
    proc, mails = night("2025-02-05", 0)
    assert proc.stdout.startswith("Nichts Neues") and mails == [], mails

    # 2. A broken Jobcenter file: blocked, one mail naming the file, the rule and what to do.
    jc = next_month_files["jobcenter"]
    broken = tmp_path / "broken" / jc.name
    FAULTS["R3.code:jobcenter"].apply(jc, broken)
    _deliver(broken, landing)
    proc, mails = night("2025-02-25", 2)
    assert len(mails) == 1, mails
    m = mails[0]
    assert m["subject"] == f"[Integrationsmonitor] BLOCKIERT: {jc.name} (R3.code)", m["subject"]
    assert sorted(m["to"]) == ["daten@lra-es.example", "statistik@lra-es.example"]
    lines = proc.stdout.strip().splitlines()
    console = lines[next(i for i, ln in enumerate(lines) if ln.startswith("BLOCKIERT: ")):]
    assert console == [ln for ln in m["text"].splitlines() if ln in console]  # the outcome block, word for word
    assert console[-1].startswith("Was tun: ")  # the outcome stays the console's last lines
    assert f"Datei: {jc.name}" in m["text"] and "R3.code" in m["text"] and "Was tun: " in m["text"]
    assert "Bericht: " + str(data / "quarantine") in m["text"]
    assert not _ids(broken) & set(re.findall(r"[\w-]+", m["text"])), "a pseudonym in the mail"
    assert not re.search(r"\b[0-9a-f]{32,}\b", m["text"])  # no hash, no re-keyed pseudonym
    assert f"Benachrichtigung gesendet an daten@lra-es.example, statistik@lra-es.example" in proc.stdout

    # 3. PostgreSQL down: failed, one mail with the one-line cause and the run log.
    proc, mails = night("2025-02-25", 1, IMON_POSTGRES_DSN="postgresql://postgres@127.0.0.1:1/x?connect_timeout=2")
    assert len(mails) == 1, mails
    assert mails[0]["subject"].startswith("[Integrationsmonitor] FEHLER: PostgreSQL nicht erreichbar (127.0.0.1:1)")
    assert "Laufprotokoll: " in mails[0]["text"]

    # 4. The corrected file arrives, but the relay is down: published, exit 0 unchanged, the mail kept.
    _deliver(jc, landing)
    proc, mails = night("2025-02-25", 0, IMON_NOTIFY_SMTP=f"127.0.0.1:{_free_port()}")
    assert mails == [] and "VERÖFFENTLICHT" in proc.stdout
    assert "nicht gesendet" in proc.stdout and "mit der nächsten Aktualisierung erneut gesendet" in proc.stdout
    status = imon("status", env={**env, "IMON_TODAY": "2025-02-25"}, check_rc=0).stdout
    assert "ACHTUNG: 1 Nachricht(en) nicht zugestellt" in status, status

    # 5. The relay is back: the next refresh (a no-op) sends the kept mail, "wieder in Ordnung".
    proc, mails = night("2025-02-25", 0)
    assert len(mails) == 1, mails
    assert mails[0]["subject"] == "[Integrationsmonitor] WIEDER IN ORDNUNG: neuer Stand veröffentlicht"
    assert "fehlgeschlagen" in mails[0]["text"] and "VERÖFFENTLICHT: " in mails[0]["text"]
    assert "ACHTUNG" not in imon("status", env={**env, "IMON_TODAY": "2025-02-25"}, check_rc=0).stdout

    # 6. 12 March: unterbringung 2025-02 was due on the 10th: newly overdue, told once.
    proc, mails = night("2025-03-12", 0)
    assert len(mails) == 1, mails
    assert mails[0]["subject"] == "[Integrationsmonitor] ÜBERFÄLLIG: unterbringung_2025-02.xlsx", mails[0]["subject"]
    assert "fällig am 10.03.2025, seit 2 Tag(en) überfällig" in mails[0]["text"]
    status = imon("status", env={**env, "IMON_TODAY": "2025-03-12"}, check_rc=0).stdout
    assert "ÜBERFÄLLIG unterbringung_2025-02.xlsx" in status and "jobcenter             aktuell" not in status

    # 7. The next night, still overdue: not told again.
    proc, mails = night("2025-03-13", 0)
    assert mails == []

    # 8. The overdue file arrives on the 16th; the Ausländerbehörde's files were due on the 15th:
    #    one mail with both (newly overdue first, the arrival below).
    _deliver(next_month_files["unterbringung"], landing)
    proc, mails = night("2025-03-16", 0)
    assert len(mails) == 1, mails
    assert mails[0]["subject"] == ("[Integrationsmonitor] ÜBERFÄLLIG: abh_bestand_2025-02.csv und 1 weitere "
                                   "(+ 1 weitere Meldung(en))"), mails[0]["subject"]
    text = mails[0]["text"]
    assert "abh_einbuergerungen_2025-02.csv" in text and "eingetroffen" in text
    assert "unterbringung, Zeitraum 2025-02" in text

    # The Dagster UI shows the same: one freshness check per file type, warning severity.
    evals = _freshness_checks(data, proc)
    assert len(evals) == 11, evals
    assert {k for k, (passed, _) in evals.items() if not passed} == {"raw/abh_bestand", "raw/abh_einbuergerungen"}
    assert {sev for _, sev in evals.values()} == {"WARN"}


def _freshness_checks(data, proc) -> dict[str, tuple[bool, str]]:
    """asset -> (passed, severity) of the freshness checks of the latest refresh run."""
    import os

    import dagster as dg

    from orchestration.instance import get_instance
    from orchestration.settings import get_settings

    old = dict(os.environ)
    try:
        os.environ["IMON_DATA_DIR"] = str(data)
        instance = get_instance(get_settings())
        run = instance.get_run_records(dg.RunsFilter(job_name="refresh"), limit=1)[0].dagster_run
        recs = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                            limit=1000).records
    finally:
        os.environ.clear()
        os.environ.update(old)
    out = {}
    for r in recs:
        ev = r.event_log_entry.dagster_event.event_specific_data
        if ev.check_name == "freshness":
            out[ev.asset_key.to_user_string()] = (ev.passed, ev.severity.value)
    return out


def test_a_mail_survives_a_killed_refresh(clone_state, smtp):
    """The state is written before the mail is sent: a refresh killed while the relay hangs
    loses nothing, and the next refresh sends the mail (once)."""
    import json
    import os
    import signal
    import subprocess

    from conftest import BIN, REPO

    inbox, relay = smtp
    data, landing, env = clone_state()
    env.update(IMON_NOTIFY_FROM="imon@lra-es.example", IMON_NOTIFY_TO="daten@lra-es.example", IMON_TODAY="2025-03-12")
    hang = socket.socket()  # a relay that takes the connection and never greets
    hang.bind(("127.0.0.1", 0))
    hang.listen(5)
    state = data / "state" / "notify.json"
    proc = subprocess.Popen([str(BIN / "imon"), "refresh"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**env, "IMON_NOTIFY_SMTP": f"127.0.0.1:{hang.getsockname()[1]}"})
    try:
        deadline = time.time() + 120
        while not (state.exists() and json.loads(state.read_text())["pending"]):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        hang.close()
    kept = json.loads(state.read_text())
    assert [m["subject"] for m in kept["pending"]] == ["[Integrationsmonitor] ÜBERFÄLLIG: unterbringung_2025-02.xlsx"]
    assert kept["told_overdue"] == ["unterbringung:2025-02"]
    assert not [p for p in state.parent.iterdir() if ".tmp-" in p.name]  # no half-written state

    seen = len(inbox.messages)
    imon("refresh", env={**env, "IMON_NOTIFY_SMTP": relay}, check_rc=0)
    time.sleep(0.2)
    assert [m["subject"] for m in inbox.messages[seen:]] == ["[Integrationsmonitor] ÜBERFÄLLIG: unterbringung_2025-02.xlsx"]
    assert json.loads(state.read_text())["pending"] == []


def test_runs_of_the_schedule_and_sensor_are_mailed_once_by_the_run_status_sensors(
        clone_state, next_month_files, smtp, tmp_path, monkeypatch):
    """Runs the daemon launches (schedule, inbox sensor) are told by the run status sensors,
    with the outcome `imon refresh` would print, once per run; runs of `imon refresh` are not
    told again. The project's own Dagster instance under the cloned data dir; the runs carry the
    tags the schedule and the sensor set; the sensors are evaluated with Dagster's cursor logic."""
    import dagster as dg

    from orchestration.defs.jobs import refresh_run_config
    from orchestration.defs.notifications import notify_on_failure, notify_on_success
    from orchestration.definitions import defs
    from orchestration.instance import get_instance, instance_env
    from orchestration.outcome import outcome_of, outcome_of_stored_run, run_seconds
    from orchestration.settings import get_settings
    from sources.faults import FAULTS

    inbox, relay = smtp
    data, landing, env = clone_state()
    env.update(IMON_NOTIFY_SMTP=relay, IMON_NOTIFY_FROM="imon@lra-es.example", IMON_NOTIFY_TO="daten@lra-es.example",
               IMON_TODAY="2025-02-25")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = get_settings()
    for k, v in instance_env(settings).items():  # get_instance exports them; restored after the test
        monkeypatch.setenv(k, v)
    instance = get_instance(settings)
    sensors = [notify_on_success, notify_on_failure]
    cursors: dict[str, str | None] = {s.name: None for s in sensors}

    def tick(at: dict | None = None) -> tuple[list, list[str]]:
        """One daemon tick of both sensors (from the stored cursors, or from `at`): the mails
        it sent and the run ids the sensors handled."""
        seen, handled = len(inbox.messages), []
        for s in sensors:
            ctx = dg.build_sensor_context(instance=instance, cursor=(at or cursors)[s.name], definitions=defs)
            data_ = s.evaluate_tick(ctx)
            cursors[s.name] = data_.cursor
            handled += [r.dagster_run.run_id for r in data_.dagster_run_reactions]
            assert all(r.error is None for r in data_.dagster_run_reactions), data_.dagster_run_reactions
        time.sleep(0.2)
        return inbox.messages[seen:], handled

    jc = next_month_files["jobcenter"]
    broken = tmp_path / "broken" / jc.name
    FAULTS["R3.code:jobcenter"].apply(jc, broken)
    assert tick() == ([], [])  # a sensor switched on starts at the newest run: the history is not told

    # 1. `imon refresh` (cron) is blocked: it mails itself; the sensors see the run and leave it.
    _deliver(broken, landing)
    seen = len(inbox.messages)
    imon("refresh", env=env, check_rc=2)
    time.sleep(0.2)
    assert [m["subject"] for m in inbox.messages[seen:]] == [f"[Integrationsmonitor] BLOCKIERT: {jc.name} (R3.code)"]
    cli_run = instance.get_run_records(dg.RunsFilter(job_name="refresh"), limit=1)[0].dagster_run
    assert cli_run.tags.get("imon/started_by") == "imon refresh"
    mails, handled = tick()
    assert mails == [] and handled == [cli_run.run_id], (mails, handled)

    # 2. The nightly schedule runs with the same broken file: one mail, the outcome `imon refresh` prints.
    _deliver(broken, landing)
    job = defs.resolve_job_def("refresh")
    result = job.execute_in_process(run_config=refresh_run_config(), instance=instance, raise_on_error=False,
                                    tags={"dagster/schedule_name": "nightly_refresh"})
    expected = outcome_of(result, settings, run_seconds(instance, result.run_id))
    stored = outcome_of_stored_run(instance, result.run_id, settings)
    assert expected.exit_code == stored.exit_code == 2 and stored.lines == expected.lines, (stored, expected)
    before = dict(cursors)
    mails, handled = tick()
    assert handled == [result.run_id] and len(mails) == 1, (handled, mails)
    assert mails[0]["subject"] == f"[Integrationsmonitor] BLOCKIERT: {jc.name} (R3.code)", mails[0]["subject"]
    assert [ln for ln in mails[0]["text"].splitlines() if ln in expected.lines] == expected.lines
    assert expected.lines[-1].startswith("Was tun: ") and "R3.code" in mails[0]["text"]

    # 3. Told once: the next tick, and a daemon restarted before it stored the cursor, send nothing.
    assert tick() == ([], [])
    mails, handled = tick(at=before)
    assert handled == [result.run_id] and mails == [], (handled, mails)

    # 4. The corrected file, taken by the inbox sensor: published again, "wieder in Ordnung".
    _deliver(jc, landing)
    result = job.execute_in_process(run_config=refresh_run_config(), instance=instance, raise_on_error=False,
                                    tags={"dagster/sensor_name": "inbox_sensor"})
    assert result.success
    mails, handled = tick()
    assert handled == [result.run_id] and len(mails) == 1, (handled, mails)
    assert mails[0]["subject"] == "[Integrationsmonitor] WIEDER IN ORDNUNG: neuer Stand veröffentlicht"
    assert "VERÖFFENTLICHT: neuer Indikatorensatz" in mails[0]["text"]

    # 5. A quiet night under the schedule: no run, but the calendar is checked as cron's refresh
    #    does: unterbringung 2025-02 (due 10 March) is told once, the next night not again.
    from orchestration.defs.jobs import nightly_refresh

    for today, subjects in (("2025-03-12", ["[Integrationsmonitor] ÜBERFÄLLIG: unterbringung_2025-02.xlsx"]),
                            ("2025-03-13", [])):
        monkeypatch.setenv("IMON_TODAY", today)
        seen = len(inbox.messages)
        tick_data = nightly_refresh.evaluate_tick(dg.build_schedule_context(instance=instance))
        time.sleep(0.2)
        assert not tick_data.run_requests and "nothing new" in (tick_data.skip_message or ""), tick_data
        assert [m["subject"] for m in inbox.messages[seen:]] == subjects, today
