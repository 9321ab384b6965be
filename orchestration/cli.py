"""`imon`: the command line of the Integrationsmonitor.

Heavy imports (Dagster, dbt, GX) happen inside the commands that need them, so
`imon status` and a no-op `imon refresh` answer in well under a few seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

from orchestration.causes import EXIT_USAGE
from orchestration.settings import get_settings


def _demo_key() -> None:
    """A throw-away pseudonym key for demo data, kept in the data dir so repeated demo runs agree."""
    if os.environ.get("IMON_PSEUDONYM_KEY"):
        return
    settings = get_settings()
    key_file = settings.state_dir / "demo-pseudonym.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    os.environ["IMON_PSEUDONYM_KEY"] = key_file.read_text().strip()
    print(f"DEMO: IMON_PSEUDONYM_KEY ist nicht gesetzt; verwende einen Wegwerf-Schlüssel aus {key_file}. "
          "Nur für generierte Demo-Daten, nie für echte Lieferungen.", flush=True)


def process_started_at() -> float:
    """When this process started (epoch s), to 10 ms: its start in clock ticks since boot
    (/proc/self/stat) against the clock since boot. psutil's create_time adds the boot time,
    which Linux gives in whole seconds: up to 1 s early."""
    import time

    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])  # field 22, starttime
        since_start = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(0.0, since_start)
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux: from here on
        return time.time()


def cmd_refresh(args) -> int:
    from orchestration.causes import from_exception
    from orchestration.notify import after_refresh
    from orchestration.refresh import EXIT_FAILED, Outcome, run_refresh

    try:
        if args.demo:
            _demo_key()
        outcome = run_refresh(full=args.full, rekey=args.neuer_schluessel, verbose=args.verbose,
                              started_at=process_started_at())  # the duration shown is the process's
    except Exception as e:  # anything before or around the Dagster run: its cause, in one line
        if args.verbose:
            import traceback

            traceback.print_exc()
        outcome = Outcome(EXIT_FAILED, f"FEHLER: {from_exception(e)}")
    # The deliveries page and the mail before the outcome block: the outcome stays the last
    # lines (an exit 1 ends with its cause); the exit code stays the refresh's whatever they do.
    told: list[str] = []
    try:
        settings = get_settings()
    except ValueError:  # a bad IMON_TODAY: the refresh already said so in its outcome
        settings = None
    if settings is not None:
        try:
            from orchestration.data_docs import render_deliveries

            render_deliveries(settings)
        except Exception as e:  # a view: after a failed refresh its cause says it all
            if outcome.exit_code == 0:
                told.append(f"Hinweis: Seite der Liefertermine nicht geschrieben ({type(e).__name__}: {e}).")
        after_refresh(outcome, settings, log=told.append)
    for n in outcome.notes:
        print(f"Hinweis: {n}")
    for line in [*told, *outcome.lines]:
        print(line)
    sys.stdout.flush()
    return outcome.exit_code


def cmd_accept(args) -> int:
    from orchestration.ingest import record_acceptance

    try:
        entry = record_acceptance(get_settings(), Path(args.file), args.reason, by=args.by)
    except (FileNotFoundError, ValueError) as e:
        print(f"FEHLER: {e}")
        return 1
    print(f"Akzeptiert: {entry['file_name']} (sha256 {entry['sha256'][:12]}…) von {entry['by']} am {entry['at']}: "
          f"{entry['reason']}")
    if "moved_to" in entry:
        print(f"Datei zurück in den Posteingang gelegt: {entry['moved_to']}; die nächste Aktualisierung lädt sie.")
    for d in entry.get("requeued", []):
        print(f"Ebenfalls zurückgelegt (spätere Lieferung, nur wegen des Vergleichs abgelehnt; wird gegen die "
              f"angenommene Datei neu geprüft): {d}")
    return 0


def cmd_generate(args) -> int:
    from sources.generator import generate

    try:
        files = generate(Path(args.out), start=args.start, months=args.months, scale=args.scale, seed=args.seed)
    except ValueError as e:  # generate's messages are German and name the argument
        print(f"FEHLER: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{len(files)} Demo-Extrakte nach {args.out} geschrieben (synthetisch, keine echten Personen).")
    return 0


def cmd_status(args) -> int:
    from orchestration.ingest import LandingDirMissing
    from orchestration.publish import PublishedFileBusy
    from orchestration.status import print_status

    try:
        settings = get_settings()
    except ValueError as e:  # a bad IMON_TODAY
        print(f"FEHLER: {e}", flush=True)
        return 1
    try:
        return print_status(settings, limit=args.limit)
    except (LandingDirMissing, PublishedFileBusy) as e:
        print(f"FEHLER: {e}", flush=True)
        return 1


def cmd_report(args) -> int:
    from orchestration.report import build_report

    path = build_report(get_settings())
    print(f"Bericht: {path}")
    return 0


def cmd_serve_setup(args) -> int:
    from orchestration.serving import serve_setup, serve_setup_sql

    if args.print_sql:
        print(serve_setup_sql(args.role or get_settings().postgres_reader_role))
        return 0
    args.role = args.role or get_settings().postgres_reader_role
    dsn = args.dsn or get_settings().postgres_dsn
    if not dsn:
        print("FEHLER: IMON_POSTGRES_DSN nicht gesetzt (oder --dsn angeben)")
        return 1
    serve_setup(dsn, reader_role=args.role, password=args.password)
    print(f"Leserolle {args.role} eingerichtet: darf nur das Schema monitoring lesen.")
    return 0


_ARGPARSE_DE = (
    (re.compile(r"argument (?:command|BEFEHL): invalid choice: '([^']*)' \(choose from (.*)\)"),
     lambda m: f"Unbekannter Befehl »{m.group(1)}«. Befehle: {m.group(2).replace(chr(39), '')}."),
    (re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)"),
     lambda m: f"Unzulässiger Wert »{m.group(1)}«; erlaubt: {m.group(2).replace(chr(39), '')}."),
    (re.compile(r"the following arguments are required: (.*)"),
     lambda m: f"Pflichtangabe fehlt: {m.group(1)}."),
    (re.compile(r"unrecognized arguments: (.*)"),
     lambda m: f"Unbekannte Angabe(n): {m.group(1)}."),
    (re.compile(r"argument (\S+): invalid (\w+) value: '([^']*)'"),
     lambda m: f"Ungültiger Wert für {m.group(1)}: »{m.group(3)}« (erwartet: {dict(int='ganze Zahl', float='Zahl').get(m.group(2), m.group(2))})."),
    (re.compile(r"argument (\S+): expected one argument"),
     lambda m: f"{m.group(1)} braucht einen Wert."),
)


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        return super().add_usage(usage, actions, groups, "Aufruf: " if prefix is None else prefix)


class Parser(argparse.ArgumentParser):
    """argparse with German messages for command-line mistakes and exit code 64 (EX_USAGE)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self.add_argument("-h", "--help", action="help", help="diese Hilfe zeigen")
        self._positionals.title = "Argumente"
        self._optionals.title = "Optionen"

    def error(self, message: str):
        text = next((fn(m) for rx, fn in _ARGPARSE_DE if (m := rx.search(message))), message)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"FEHLER: {text} Hilfe: {self.prog} --help\n")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="imon", description="Integrationsmonitor Landkreis Esslingen")
    sub = parser.add_subparsers(dest="command", required=True, metavar="BEFEHL")

    p = sub.add_parser("refresh", help="eine Aktualisierung: prüfen, laden, bauen, veröffentlichen")
    p.add_argument("--full", action="store_true", help="alles aus dem Archiv neu aufbauen")
    p.add_argument("--neuer-schluessel", "--rekey", dest="neuer_schluessel", action="store_true",
                   help="den Pseudonymisierungsschlüssel bewusst wechseln: alles aus dem Archiv mit dem "
                        "neuen IMON_PSEUDONYM_KEY neu aufbauen (schließt --full ein)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="alles auf der Konsole: Dagster-Protokoll, dbt-Zeilen, Tracebacks")
    p.add_argument("--demo", action="store_true",
                   help="ohne IMON_PSEUDONYM_KEY einen Wegwerf-Schlüssel verwenden (nur Demo-Daten)")
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("accept", help="eine Datei nach Prüfung der Mengenregel (Regel 8) zulassen")
    p.add_argument("file", help="Pfad der Datei (oder Dateiname der zuletzt in Quarantäne gelegten)")
    p.add_argument("--reason", required=True, help="warum die Mengenänderung in Ordnung ist")
    p.add_argument("--by", help="wer zulässt (Standard: der angemeldete Benutzer)")
    p.set_defaults(func=cmd_accept)

    p = sub.add_parser("generate", help="synthetische Demo-Extrakte erzeugen")
    p.add_argument("--out", required=True)
    p.add_argument("--start", default="2023-01")
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("status", help="letzte Aktualisierungen und wartende Dateien")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("report", help="den HTML-Bericht aus dem veröffentlichten Stand erzeugen")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serve-setup", help="Leserolle für BI-Werkzeuge in PostgreSQL einrichten")
    p.add_argument("--dsn")
    p.add_argument("--role", help="Name der Leserolle (Standard: IMON_POSTGRES_READER_ROLE oder imon_reader)")
    p.add_argument("--password")
    p.add_argument("--print-sql", action="store_true", help="nur das SQL ausgeben")
    p.set_defaults(func=cmd_serve_setup)

    args = parser.parse_args(argv)
    rc = args.func(args)
    if argv is None and args.func is cmd_refresh:
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """End a refresh process without the interpreter's teardown of Dagster, dbt, DuckDB, pandas
    and GX (1-2 s, issue 20): by now every database is committed and closed, the mail is sent and
    the outcome printed; only the log files and the standard streams need flushing."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
