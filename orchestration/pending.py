"""What a refresh would do, found without importing Dagster, dbt or GX: the no-op short-cut of
`imon refresh`, the nightly schedule and `imon status`."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestration.settings import Settings


@dataclass
class Pending:
    inbox: list = field(default_factory=list)  # ingest.InboxFile
    unknown: list = field(default_factory=list)  # ingest.Skipped: not a delivery, left alone
    unpublished: bool = False  # internal warehouse holds file versions the published set lacks
    published_exists: bool = False
    code_changed: bool = False  # the dbt project, catalogue or contracts differ from the last build
    key_problem: str | None = None  # why IMON_PSEUDONYM_KEY must not be used here (keycheck)
    postgres_behind: bool = False  # IMON_POSTGRES_DSN set but it does not hold the published set

    @property
    def nothing_to_do(self) -> bool:
        return (not self.inbox and not self.unpublished and not self.code_changed and self.published_exists
                and not self.postgres_behind)


def pending(settings: Settings) -> Pending:
    """What a refresh would do, found without importing Dagster, dbt or GX."""
    from orchestration.ingest import scan_inbox

    inbox, unknown = scan_inbox(settings.landing_dir)
    p = Pending(inbox=inbox, unknown=unknown, published_exists=settings.published_db.exists())
    if settings.internal_db.exists():
        from orchestration import keycheck, projectcode, publish, warehouse

        try:
            con = warehouse.connect(settings.internal_db, read_only=True)
        except Exception:  # held by a running refresh: let the job wait for the lock
            p.unpublished = True
            return p
        try:
            current = warehouse.current_versions(con)
            p.code_changed = projectcode.changed(con)
            if settings.pseudonym_key:
                p.key_problem = keycheck.problem(con, settings.pseudonym_key)
        finally:
            con.close()
        published = publish.read_published_state(settings.published_db)
        p.unpublished = warehouse.fingerprint(current) != published.fingerprint
        # Every publish target catches up (warehouse.md): a failed or never-done PostgreSQL publish.
        from orchestration.serving import postgres_behind

        p.postgres_behind = postgres_behind(settings.state_dir, settings.postgres_dsn, published.refresh_id)
    return p
