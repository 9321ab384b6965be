"""Set up, start and stop the local Superset (run with Superset's own venv, `.venv-bi`).

    .venv-bi/bin/python bi/admin.py up      # metadata DB, admin, databases, dashboards, server
    .venv-bi/bin/python bi/admin.py import  # only (re-)import the bundle
    .venv-bi/bin/python bi/admin.py analyst NAME  # add/update an analyst (make bi-analyst NAME=...)
    .venv-bi/bin/python bi/admin.py stop

Every step is idempotent: the metadata schema is migrated (no-op when current), the admin
is created or gets the configured password, the bundle is imported with overwrite (fixed
UUIDs: the same objects are updated, nothing is duplicated), the server is started only
when it is not running.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bi.settings import ANALYST_ROLE, BUNDLE_DIR, get_bi_settings  # noqa: E402
from bi import bundle as _bundle  # noqa: E402

BIN = Path(sys.executable).parent
CONFIG = REPO / "bi" / "superset_config.py"


def superset_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SUPERSET_CONFIG_PATH=str(CONFIG), FLASK_APP="superset.app:create_app()",
               SUPERSET_HOME=str(get_bi_settings().home), SCARF_ANALYTICS="false",
               DO_NOT_TRACK="1", PYTHONPATH=str(REPO))
    return env


def bundle_zip() -> bytes:
    """The committed bundle as a ZIP, with the real connection URIs filled in (in memory only)."""
    import yaml

    s = get_bi_settings()
    uris = {_bundle.PG_DB_NAME: s.reader_dsn(), _bundle.DUCK_DB_NAME: f"duckdb:///{s.published_db}"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(BUNDLE_DIR.rglob("*.yaml")):
            rel = path.relative_to(BUNDLE_DIR).as_posix()
            text = path.read_text(encoding="utf-8")
            if rel.startswith("databases/"):
                db = yaml.safe_load(text)
                db["sqlalchemy_uri"] = uris[db["database_name"]]
                text = yaml.safe_dump(db, allow_unicode=True, sort_keys=False)
            zf.writestr(f"imon_bundle/{rel}", text)
    return buf.getvalue()


def import_bundle(app) -> None:
    """Import in-process (the CLI import cannot take the reader's password).

    Superset's dashboard import never overwrites the databases, datasets and charts it
    brings along, so each kind is imported on its own with overwrite: a changed catalogue
    (new SQL, new chart) reaches an existing installation, and the fixed UUIDs keep
    every object's id, so nothing is duplicated.
    """
    with app.app_context():
        from flask import g
        from superset import security_manager
        from superset.commands.chart.importers.v1 import ImportChartsCommand
        from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
        from superset.commands.database.importers.v1 import ImportDatabasesCommand
        from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
        from superset.extensions import db

        s = get_bi_settings()
        g.user = security_manager.find_user(username=s.admin_user)
        contents = {}
        with zipfile.ZipFile(io.BytesIO(bundle_zip())) as zf:
            for name in zf.namelist():
                contents[name.split("/", 1)[1]] = zf.read(name).decode("utf-8")
        steps = [(ImportDatabasesCommand, "Database", ("databases/",)),
                 (ImportDatasetsCommand, "SqlaTable", ("databases/", "datasets/")),
                 (ImportChartsCommand, "Slice", ("databases/", "datasets/", "charts/")),
                 (ImportDashboardsCommand, "Dashboard", ("databases/", "datasets/", "charts/", "dashboards/"))]
        for command, kind, prefixes in steps:
            part = {k: v for k, v in contents.items() if k.startswith(prefixes)}
            part["metadata.yaml"] = f"version: 1.0.0\ntype: {kind}\ntimestamp: '{_bundle.TIMESTAMP}'\n"
            command(part, overwrite=True).run()
        db.session.commit()
    n = sum(1 for _ in BUNDLE_DIR.glob("dashboards/*.yaml"))
    print(f"Dashboards importiert: {n} (aus bi/superset; Datenbanken: PostgreSQL als Leserolle, DuckDB-Datei nur lesend)")


def ensure_analyst_role(app) -> None:
    """The analysts' role: with Gamma (dashboards) and sql_lab (SQL Lab) it gives access to
    the two registered databases, i.e. the published set only (they are locked to it,
    superset_config.py). Rebuilt on every import, so a new database id is picked up."""
    with app.app_context():
        from superset import security_manager
        from superset.extensions import db
        from superset.models.core import Database

        role = security_manager.add_role(ANALYST_ROLE)
        names = {_bundle.PG_DB_NAME, _bundle.DUCK_DB_NAME}
        role.permissions = [security_manager.add_permission_view_menu("database_access", d.perm)
                            for d in db.session.query(Database).all() if d.database_name in names]
        db.session.commit()


def add_analyst(app, name: str) -> None:
    """Create (or update) an analyst account: roles Gamma, sql_lab and ANALYST_ROLE.
    The password comes from IMON_BI_ANALYST_PASSWORD (an existing account gets it), else a
    new account gets a random one, printed once."""
    password = os.environ.get("IMON_BI_ANALYST_PASSWORD") or None
    ensure_analyst_role(app)
    with app.app_context():
        from superset import security_manager
        from superset.extensions import db

        roles = [security_manager.find_role(r) for r in ("Gamma", "sql_lab", ANALYST_ROLE)]
        user = security_manager.find_user(username=name)
        shown = None if password else secrets.token_urlsafe(12)
        if user is None:
            security_manager.add_user(name, name, "Analyse", f"{name}@localhost", roles,
                                      password=password or shown)
            print(f"Analyse-Konto {name} angelegt (Rollen Gamma, sql_lab, {ANALYST_ROLE}).")
        else:
            user.roles = roles
            shown = None
            if password is not None:
                security_manager.reset_password(user.id, password)
            print(f"Analyse-Konto {name} aktualisiert (Rollen Gamma, sql_lab, {ANALYST_ROLE}).")
        db.session.commit()
    if shown:
        print(f"Erstes Passwort (nur jetzt angezeigt, bitte ändern): {shown}")


def _app():
    os.environ.update(superset_env())
    from superset.app import create_app

    return create_app()


def setup(app) -> None:
    """Metadata schema (`superset db upgrade`), roles and permissions (`superset init`) and
    the admin, in this process: one app start instead of three."""
    s = get_bi_settings()
    _, password = s.ensure_secrets()
    with app.app_context():
        from flask_migrate import upgrade
        from superset import security_manager
        from superset.extensions import appbuilder, db
        from werkzeug.security import check_password_hash

        upgrade()
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        user = security_manager.find_user(username=s.admin_user)
        if user is None:
            security_manager.add_user(s.admin_user, "Integrationsmonitor", "Admin",
                                      f"{s.admin_user}@localhost", security_manager.find_role("Admin"),
                                      password=password)
        elif not check_password_hash(user.password, password):
            security_manager.reset_password(user.id, password)
        db.session.commit()
    print(f"Superset-Metadaten in {s.metadata_dsn.rsplit('@', 1)[-1]}, Administrator {s.admin_user}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def _running(s) -> bool:
    """Our own server runs (pid file, live process, /health); a stale pid file is removed."""
    if not s.pid_file.exists():
        return False
    if _alive(int(s.pid_file.read_text())) and _healthy(s.url):
        return True
    if not _alive(int(s.pid_file.read_text())):
        s.pid_file.unlink(missing_ok=True)
    return False


def _port_free(host: str, port: int) -> bool:
    # SO_REUSEADDR as gunicorn sets it: a port in TIME_WAIT after our own stop counts as free.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _port_taken(s) -> SystemExit:
    return SystemExit(f"FEHLER: Port {s.port} auf {s.host} ist schon belegt (ein anderer Dienst oder ein "
                      f"zweites Superset); Superset wurde nicht gestartet. Einen freien Port wählen, "
                      f"z. B. IMON_BI_PORT={s.port + 1} make bi")


def check_port() -> None:
    """Before the slow setup: fail at once when another server holds the port."""
    s = get_bi_settings()
    if not _running(s) and not _port_free(s.host, s.port):
        raise _port_taken(s)


def start(timeout: float = 180) -> None:
    s = get_bi_settings()
    if _running(s):
        print(f"Superset läuft bereits: {s.url}")
        return
    if not _port_free(s.host, s.port):
        raise _port_taken(s)
    s.home.mkdir(parents=True, exist_ok=True)
    log = open(s.log_file, "ab")
    log_start = log.tell()
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"{s.host}:{s.port}", "--workers", str(s.workers),
         "--worker-class", "gthread", "--threads", "8", "--timeout", "120",
         "--limit-request-line", "0", "--limit-request-field_size", "0", "--no-control-socket",
         "superset.app:create_app()"],
        env=superset_env(), cwd=REPO, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True)
    s.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    def ours() -> str:  # this start's part of the log
        with open(s.log_file, "rb") as f:
            f.seek(log_start)
            return f.read().decode("utf-8", "replace")

    # Our gunicorn must have bound the port ("Listening at") and stay alive, and the port
    # answer: a server that took the port in the meantime answers /health too.
    while proc.poll() is None and not ("Listening at:" in ours() and _healthy(s.url)):
        if time.monotonic() > deadline:
            stop()
            raise SystemExit(f"FEHLER: Superset antwortet nach {timeout:.0f} s nicht, siehe {s.log_file}")
        time.sleep(0.5)
    if proc.poll() is not None:
        s.pid_file.unlink(missing_ok=True)
        if "Address already in use" in ours():
            raise _port_taken(s)
        raise SystemExit(f"FEHLER: Superset ist beim Start beendet worden (Code {proc.returncode}), "
                         f"siehe {s.log_file}")
    print(f"Superset läuft: {s.url}  (Anmeldung: {s.admin_user}; Passwort aus IMON_BI_ADMIN_PASSWORD "
          f"oder {s.home / 'admin_password'}; beenden: make bi-stop)")
    print("Analyse-Konto (Dashboards, SQL Lab nur auf dem veröffentlichten Stand): make bi-analyst NAME=<name>")


def stop() -> None:
    s = get_bi_settings()
    if not s.pid_file.exists():
        print("Superset läuft nicht.")
        return
    pid = int(s.pid_file.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)  # gunicorn master: stops its workers gracefully
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    s.pid_file.unlink(missing_ok=True)
    print("Superset beendet.")


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "up"
    if cmd == "up":
        check_port()
        app = _app()
        setup(app)
        import_bundle(app)
        ensure_analyst_role(app)
        start()
    elif cmd == "setup":
        setup(_app())
    elif cmd == "import":
        app = _app()
        import_bundle(app)
        ensure_analyst_role(app)
    elif cmd == "analyst" and len(argv) >= 2 and not argv[1].startswith("-"):
        add_analyst(_app(), argv[1])
    elif cmd == "start":
        start()
    elif cmd == "stop":
        stop()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
