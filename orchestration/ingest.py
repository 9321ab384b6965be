"""From the inbox to the internal warehouse: find, gate, archive, load, or quarantine.

One function per file type does the whole path for the files of that type, so
Great Expectations validates all files of a type in one pass. The order per file
is chosen for crash safety: gate, then copy into the archive (content-addressed,
never overwritten), then load raw rows + registry in one transaction, and only
then remove the file from the inbox. A refresh killed anywhere in between finds
the file again next time and the repeated steps are idempotent.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from orchestration.settings import Settings
from sources.contracts import Contract, identify, load_contracts

# Files a provider's tool writes while copying, and editors' lock files: never taken.
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".filepart")
IGNORED_PREFIXES = (".", "~$")
# Files parsed, gated and loaded together, by size: big enough that GX's and the load's fixed
# cost per pass is shared by many small files (85 monthly XLSX files: one batch), small enough
# for memory (measured on district-scale abh_bestand, 8.7 MB a month: 12 files per batch
# peaked at 1.8 GiB, 6 files at 1.2 GiB, ~5 % slower).
INGEST_BATCH_BYTES = 48 * 1024 * 1024
PARSE_THREADS = max(2, min(4, os.cpu_count() or 2))


@dataclass(frozen=True)
class InboxFile:
    path: Path
    contract: Contract
    period: str


def scan_inbox(landing_dir: Path) -> tuple[list[InboxFile], list[Path]]:
    """Inbox files that fit a contract, and those that fit none (reported, left alone)."""
    matched, unknown = [], []
    if not landing_dir.exists():
        return matched, unknown
    for path in sorted(p for p in landing_dir.rglob("*") if p.is_file()):
        if path.name.startswith(IGNORED_PREFIXES) or path.name.endswith(IGNORED_SUFFIXES):
            continue
        hit = identify(path)
        if hit is None:
            unknown.append(path)
        else:
            matched.append(InboxFile(path, hit[0], hit[1]))
    return matched, unknown


# --- acceptances of the volume rule (imon accept) -------------------------------------------
# An append-only JSON-lines file, not the warehouse: `imon accept` must work while a
# refresh holds the warehouse, and the record must survive a rebuild.


def acceptances_file(settings: Settings) -> Path:
    return settings.state_dir / "acceptances.jsonl"


def read_acceptances(settings: Settings) -> list[dict]:
    path = acceptances_file(settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def record_acceptance(settings: Settings, file: Path, reason: str, by: str | None = None) -> dict:
    """Record that a person reviewed `file` (volume rule) and move it back into the inbox."""
    from orchestration.warehouse import sha256_file

    file = resolve_quarantined(settings, file)
    hit = identify_name(file.name)
    if hit is None:
        raise ValueError(f"{file.name}: der Dateiname passt zu keinem Liefervertrag (docs/contract/sources.md)")
    contract, _ = hit
    entry = {
        "file_name": original_name(file.name),
        "sha256": sha256_file(file),
        "by": by or getpass.getuser(),
        "at": datetime.now().isoformat(timespec="seconds"),
        "reason": reason,
    }
    path = acceptances_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    if settings.quarantine_dir in file.parents:
        dest = settings.landing_dir / contract.provider / entry["file_name"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(file), dest)
        entry["moved_to"] = str(dest)
    return entry


def identify_name(name: str) -> tuple[Contract, str] | None:
    name = original_name(name)
    for contract in load_contracts().values():
        period = contract.match(name)
        if period is not None:
            return contract, period
    return None


def original_name(name: str) -> str:
    """Quarantined files carry a time-stamp prefix: `20261125T020000_jobcenter_2024-01.csv`."""
    head, sep, rest = name.partition("_")
    return rest if sep and len(head) == 15 and head[8] == "T" and head[:8].isdigit() else name


def resolve_quarantined(settings: Settings, file: Path) -> Path:
    """`imon accept` takes a path, or just the file name of the latest quarantined copy."""
    if file.exists():
        return file.resolve()
    candidates = sorted(settings.quarantine_dir.glob(f"*_{file.name}")) if settings.quarantine_dir.exists() else []
    candidates = [c for c in candidates if not c.name.endswith((".txt", ".json"))]
    if not candidates:
        raise FileNotFoundError(f"{file}: weder als Pfad noch in {settings.quarantine_dir} gefunden")
    return candidates[-1]


# --- the per-file-type ingest ------------------------------------------------------------------


@dataclass
class Quarantined:
    file_name: str
    path: Path
    report_txt: Path
    report_json: Path
    rules: list[str]


@dataclass
class IngestOutcome:
    file_type: str
    loaded: list[str] = field(default_factory=list)  # file names loaded (new or re-delivered)
    unchanged: list[str] = field(default_factory=list)  # byte-identical re-deliveries
    quarantined: list[Quarantined] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.quarantined


def archive_path_for(settings: Settings, contract: Contract, name: str, sha256: str) -> Path:
    """Content-addressed: a re-delivery lands beside the earlier version, never over it."""
    p = Path(name)
    return settings.archive_dir / contract.provider / f"{p.stem}.{sha256[:16]}{p.suffix}"


def _archive(src: Path, dest: Path) -> None:
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.copy2(src, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)


def _quarantine(settings: Settings, parsed, findings, stamp: str) -> Quarantined:
    from orchestration.gate import write_report

    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    dest = settings.quarantine_dir / f"{stamp}_{parsed.path.name}"
    # Report first, then move: a kill in between leaves the file in the inbox to be gated again.
    txt, js = write_report(parsed, findings, settings.quarantine_dir)
    txt_final = settings.quarantine_dir / f"{dest.name}.report.txt"
    js_final = settings.quarantine_dir / f"{dest.name}.report.json"
    os.replace(txt, txt_final)
    os.replace(js, js_final)
    shutil.move(str(parsed.path), dest)
    rules = sorted({f.rule for f in findings if f.severity == "error"})
    return Quarantined(parsed.path.name, dest, txt_final, js_final, rules)


def ingest_file_type(contract: Contract, settings: Settings, full: bool, log=print) -> IngestOutcome:
    """Gate and load every inbox file of one type; with `full`, first reload all archived versions."""
    from orchestration import warehouse as wh

    out = IngestOutcome(contract.file_type)
    files = sorted(
        (f for f in scan_inbox(settings.landing_dir)[0] if f.contract.file_type == contract.file_type),
        key=lambda f: (f.period, f.path.name),
    )
    con = wh.connect(settings.internal_db)
    try:
        if full:
            _reload_from_archive(con, contract, settings, out, log)
        if not files:
            return out
        if not settings.pseudonym_key:
            raise RuntimeError("IMON_PSEUDONYM_KEY ist nicht gesetzt: ohne Schlüssel wird nichts geladen")
        current = {v.file_name: v for v in wh.current_versions(con) if v.file_type == contract.file_type}
        passed = wh.passed_checksums(con)

        todo = []
        for f in files:
            sha = wh.sha256_file(f.path)
            cur = current.get(f.path.name)
            if cur is not None and cur.sha256 == sha:
                # Byte-identical re-delivery: changes nothing. Make sure the archive has it, then tidy up.
                _archive(f.path, settings.data_dir / cur.archive_path)
                f.path.unlink()
                out.unchanged.append(f.path.name)
                log(f"{f.path.name}: unverändert (gleiche Prüfsumme wie geladen), nichts zu tun")
                continue
            todo.append((f, sha))
        if not todo:
            return out

        from orchestration.gate import FileStats, check_files

        accepted_entries = {(a["file_name"], a["sha256"]): a for a in read_acceptances(settings)}
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        # In batches of files (in period order): a first load of 84 months must not hold all
        # of them in memory at once. Each batch is gated against what is loaded so far.
        for batch in _batches(todo, lambda item: item[0].path.stat().st_size):
            t0 = time.perf_counter()
            parsed = parse_many([(f.path, f.period) for f, _ in batch], contract)
            out.seconds["parse"] = out.seconds.get("parse", 0.0) + time.perf_counter() - t0

            t0 = time.perf_counter()
            history = {
                contract.file_type: [
                    FileStats(v.period, v.row_count, frozenset(v.ags))
                    for v in wh.current_versions(con) if v.file_type == contract.file_type
                ]
            }
            to_check = [p for p in parsed if p.sha256 not in passed]
            findings = check_files(to_check, history, set(accepted_entries), date.today()) if to_check else {}
            out.seconds["gate"] = out.seconds.get("gate", 0.0) + time.perf_counter() - t0

            t0 = time.perf_counter()
            _load_or_quarantine(parsed, findings, contract, settings, con, accepted_entries, stamp, out, log)
            del parsed, findings
            _release_memory()
            out.seconds["load"] = out.seconds.get("load", 0.0) + time.perf_counter() - t0
        return out
    finally:
        con.close()


def _batches(items: list, size_of) -> list[list]:
    """Consecutive runs of items of at most INGEST_BATCH_BYTES (at least one item each)."""
    out, cur, size = [], [], 0
    for item in items:
        n = size_of(item)
        if cur and size + n > INGEST_BATCH_BYTES:
            out.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += n
    return out + ([cur] if cur else [])


def _release_memory() -> None:
    """Hand a finished batch's Arrow buffers back to the OS: the allocator keeps them otherwise,
    and the dbt subprocess that follows needs the room (peak memory of the whole refresh)."""
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()


def parse_many(files: list[tuple[Path, str]], contract: Contract) -> list:
    """Parse files of one type side by side: Arrow's reader and compute release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    from orchestration.extracts import parse_file

    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        return list(pool.map(lambda f: parse_file(f[0], contract, f[1]), files))


def _load_or_quarantine(parsed: list, findings: dict, contract: Contract, settings: Settings, con,
                        accepted_entries: dict, stamp: str, out: IngestOutcome, log) -> None:
    """Parsed and gated files: each failing one into quarantine with its report; the passing
    ones archived, then loaded together in one transaction, then removed from the inbox."""
    from orchestration import warehouse as wh
    from orchestration.gate import file_stats

    ok = []
    for p in parsed:
        file_findings = list(p.findings) + list(findings.get(p.path, []))
        errors = [x for x in file_findings if x.severity == "error"]
        warnings = [x for x in file_findings if x.severity == "warning"]
        for w in warnings:
            out.warnings.append(f"{p.path.name}: {w.rule} {w.message} ({w.row_count} Zeilen)")
        if errors or p.table is None:
            q = _quarantine(settings, p, file_findings, stamp)
            out.quarantined.append(q)
            log(f"{p.path.name}: ABGELEHNT ({', '.join(q.rules)}), in Quarantäne: {q.report_txt}")
            continue
        acc = accepted_entries.get((p.path.name, p.sha256))
        version = wh.FileVersion(
            file_type=contract.file_type,
            file_name=p.path.name,
            period=p.period,
            sha256=p.sha256,
            row_count=p.row_count,
            ags=tuple(sorted(file_stats(p).ags)),
            received_at=datetime.now(),
            # relative to IMON_DATA_DIR, so a moved or restored data directory stays whole
            archive_path=str(archive_path_for(settings, contract, p.path.name, p.sha256).relative_to(settings.data_dir)),
            accepted_by=acc["by"] if acc else None,
            accepted_reason=acc["reason"] if acc else None,
        )
        _archive(p.path, settings.data_dir / version.archive_path)
        ok.append((p, version, len(warnings)))
    # Two files of one period in one batch (a re-delivery beside the original): loaded one after
    # the other, the later name last, as they were sorted.
    while ok:
        seen, now, later = set(), [], []
        for item in ok:
            (later if item[1].period in seen else now).append(item)
            seen.add(item[1].period)
        wh.load_files(con, contract, [(p.table, v) for p, v, _ in now], settings.pseudonym_key,
                      gate_passed=[(p.sha256, p.path.name, nw) for p, _, nw in now])
        for p, _, _ in now:
            p.path.unlink()
            out.loaded.append(p.path.name)
            out.rows_loaded += p.row_count
        # One line per batch: every log line is an event the run history has to write.
        log(f"geprüft und geladen: {', '.join(f'{p.path.name} ({p.row_count} Zeilen)' for p, _, _ in now)}")
        ok = later


def _reload_from_archive(con, contract: Contract, settings: Settings, out: IngestOutcome, log) -> None:
    """Full rebuild: re-parse every current archived version. Its checksum already passed the
    gate, so it is not validated again (the gate is paid once per file)."""
    from orchestration import warehouse as wh

    versions = [v for v in wh.current_versions(con) if v.file_type == contract.file_type]
    if not versions:
        return
    if not settings.pseudonym_key:
        raise RuntimeError("IMON_PSEUDONYM_KEY ist nicht gesetzt: ohne Schlüssel wird nichts geladen")
    t0 = time.perf_counter()
    # Into a fresh copy of the table, swapped in at the end in one transaction: no per-period
    # DELETE on a table that holds everything, and a rebuild killed halfway changes nothing.
    target = wh.start_rebuild(con, contract)
    for batch in _batches(versions, lambda v: (settings.data_dir / v.archive_path).stat().st_size):
        parsed = parse_many([(settings.data_dir / v.archive_path, v.period) for v in batch], contract)
        for p, v in zip(parsed, batch):
            if p.table is None or p.sha256 != v.sha256:
                raise RuntimeError(f"Archivdatei {p.path} ist beschädigt oder verändert (Prüfsumme stimmt nicht)")
        wh.insert_rows(con, contract, [(p.table, v) for p, v in zip(parsed, batch)], settings.pseudonym_key, target)
        out.rows_loaded += sum(p.row_count for p in parsed)
        del parsed
        _release_memory()
    wh.swap_rebuilt(con, contract)
    out.seconds["reload"] = time.perf_counter() - t0
    log(f"{contract.file_type}: {len(versions)} Dateien aus dem Archiv neu geladen")
