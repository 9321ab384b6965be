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
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from orchestration.files import write_atomic
from orchestration.settings import Settings
from sources.contracts import QUARANTINE_PREFIX, Contract, identify, identify_name, load_contracts, original_name

# Files a provider's tool writes while copying, and editors' lock files: never taken.
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".filepart")
IGNORED_PREFIXES = (".", "~$")
# Files parsed, gated and loaded together, by size: big enough that GX's and the load's fixed
# cost per pass is shared by many small files (85 monthly XLSX files: one batch), small enough
# for memory (measured on district-scale abh_bestand, 8.7 MB a month: 12 files per batch
# peaked at 1.8 GiB, 6 files at 1.2 GiB, ~5 % slower).
INGEST_BATCH_BYTES = 48 * 1024 * 1024
SMALL_BATCH_BYTES = 8 * 1024 * 1024  # below: no full garbage collection after the batch
PARSE_THREADS = max(2, min(4, os.cpu_count() or 2))


@dataclass(frozen=True)
class InboxFile:
    path: Path
    contract: Contract
    period: str


class LandingDirMissing(RuntimeError):
    """The inbox folder does not exist or cannot be read (typo, unmounted share): a failure,
    never "nothing new" (warehouse.md, Commands)."""


@dataclass(frozen=True)
class Skipped:
    """Something in the inbox that is not a delivery: reported, left alone, never read."""
    path: Path
    reason: str  # German, for operators

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _belongs_in(name: str) -> str | None:
    """The provider folder whose file-name pattern `name` fits, if any."""
    hit = identify_name(name)
    return hit[0].provider if hit else None


def scan_inbox(landing_dir: Path) -> tuple[list[InboxFile], list[Skipped]]:
    """Deliveries in the inbox, and what is there but is none (reported, left alone).

    Only regular files directly inside a provider folder are deliveries (warehouse.md, "Files
    still arriving"). Sub-folders are not descended into, symbolic links are not followed and
    special files (FIFOs, devices) are not opened: reading them could block, read something
    outside the inbox, or let two same-named files shadow each other.
    """
    if not landing_dir.is_dir():
        what = "ist kein Ordner" if landing_dir.exists() else "existiert nicht"
        raise LandingDirMissing(
            f"Der Posteingang {landing_dir} {what} (IMON_LANDING_DIR falsch geschrieben oder Netzlaufwerk "
            "nicht eingebunden?). Nichts wurde gelesen.")
    providers = {c.provider for c in load_contracts().values()}
    matched: list[InboxFile] = []
    skipped: list[Skipped] = []
    try:
        top = sorted(os.scandir(landing_dir), key=lambda e: e.name)
    except OSError as e:
        raise LandingDirMissing(f"Der Posteingang {landing_dir} kann nicht gelesen werden: {e.strerror}.") from None
    for entry in top:
        if _ignored(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            skipped.append(Skipped(path, "symbolischer Verweis; wird nicht verfolgt und bleibt liegen."))
        elif entry.is_dir(follow_symlinks=False):
            if entry.name in providers:
                _scan_provider(path, matched, skipped)
            else:
                skipped.append(Skipped(path, "kein Lieferantenordner (vereinbart: " + ", ".join(sorted(providers))
                                       + "); sein Inhalt wird nicht gelesen."))
        else:
            folder = _belongs_in(entry.name)
            skipped.append(Skipped(path, (f"liegt nicht in einem Lieferantenordner; gehört in den Ordner {folder}/"
                                          if folder else "passt zu keinem Dateimuster (docs/contract/sources.md)")
                                   + " und bleibt liegen."))
    return matched, skipped


def _scan_provider(folder: Path, matched: list[InboxFile], skipped: list[Skipped]) -> None:
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if _ignored(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            skipped.append(Skipped(path, "symbolischer Verweis; wird nicht verfolgt und nicht gelesen, bleibt liegen "
                                         "(bitte die Datei selbst ablegen)."))
        elif entry.is_dir(follow_symlinks=False):
            skipped.append(Skipped(path, "Unterordner; nur Dateien direkt im Lieferantenordner sind Lieferungen, "
                                         "sein Inhalt wird nicht gelesen."))
        elif not entry.is_file(follow_symlinks=False):
            skipped.append(Skipped(path, "keine gewöhnliche Datei (z. B. Named Pipe oder Gerätedatei); "
                                         "wird nicht gelesen und bleibt liegen."))
        elif (hit := identify(path)) is not None:
            matched.append(InboxFile(path, hit[0], hit[1]))
        elif folder_ := _belongs_in(entry.name):
            skipped.append(Skipped(path, f"liegt im falschen Ordner {folder.name}/; gehört in den Ordner {folder_}/ "
                                         "und bleibt liegen."))
        else:
            skipped.append(Skipped(path, "passt zu keinem Dateimuster (docs/contract/sources.md) und bleibt liegen."))


def _ignored(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES) or name.endswith(IGNORED_SUFFIXES)


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
    contract, period = hit
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
        entry["requeued"] = [str(d) for d in _requeue_later(settings, contract, period)]
    return entry


def _requeue_later(settings: Settings, contract: Contract, period: str) -> list[Path]:
    """Later periods of the accepted file's type that were quarantined only by judgement rules
    (compared with an older period, because the accepted one was not loaded): back into the
    inbox, to be gated again against the accepted file. Not accepted themselves."""
    from orchestration.gate import JUDGEMENT_RULES

    latest: dict[str, Path] = {}
    for js in sorted(settings.quarantine_dir.glob("*.report.json"), key=lambda j: _stamp_key(j.name)):
        try:
            rep = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if rep.get("file_type") != contract.file_type or str(rep.get("period", "")) <= period:
            continue
        errors = {f["rule"] for f in rep.get("findings", []) if f.get("severity") == "error"}
        qfile = js.with_name(js.name[: -len(".report.json")])
        if errors and errors <= JUDGEMENT_RULES and qfile.exists():
            latest[original_name(qfile.name)] = qfile  # sorted by time stamp: the last one wins
    moved = []
    for name, qfile in sorted(latest.items()):
        dest = settings.landing_dir / contract.provider / name
        if dest.exists():
            continue  # a newer delivery of that name already waits
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(qfile), dest)
        moved.append(dest)
    return moved


def _stamp_key(name: str) -> tuple[str, int]:
    """Order of quarantined copies: time stamp, then the -k of a second one in that second."""
    m = QUARANTINE_PREFIX.match(name)
    if not m:
        return ("", 0)
    head = m.group()[:-1]
    stamp, _, k = head.partition("-")
    return (stamp, int(k or 1))


def resolve_quarantined(settings: Settings, file: Path) -> Path:
    """`imon accept` takes a path, or just the file name of the latest quarantined copy."""
    if file.exists():
        return file.resolve()
    candidates = sorted(settings.quarantine_dir.glob(f"*_{file.name}")) if settings.quarantine_dir.exists() else []
    candidates = [c for c in candidates if not c.name.endswith((".txt", ".json"))
                  and original_name(c.name) == file.name]
    candidates.sort(key=lambda c: _stamp_key(c.name))
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
    notes: list[str] = field(default_factory=list)  # for operators: re-deliveries, files still being written
    still_writing: list[str] = field(default_factory=list)  # left in the inbox for the next refresh
    rows_loaded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.quarantined


def archive_path_for(settings: Settings, contract: Contract, name: str, sha256: str) -> Path:
    """Content-addressed: a re-delivery lands beside the earlier version, never over it."""
    p = Path(name)
    return settings.archive_dir / contract.provider / f"{p.stem}.{sha256[:16]}{p.suffix}"


def _write_once(data: bytes, dest: Path) -> None:
    """Write `data` to `dest` atomically (temp file, fsync, rename); an existing `dest` is kept."""
    if not dest.exists():
        write_atomic(dest, data, durable=True)


def signature(path: Path):
    from orchestration.extracts import signature as sig

    return sig(path)


class _GONE:  # a file removed since the scan: sized 0 for batching, reported as changed when read
    size = 0


def _unchanged_since_read(path: Path, read_as) -> bool:
    from orchestration.extracts import signature

    return read_as is not None and signature(path) == read_as


def _still_writing(out: IngestOutcome, path: Path, log) -> None:
    msg = (f"{path.name}: wird noch geschrieben (Größe oder Änderungszeit änderte sich beim Lesen); "
           "bleibt im Posteingang, die nächste Aktualisierung übernimmt sie.")
    out.still_writing.append(path.name)
    out.notes.append(msg)
    log(msg)


def _quarantine_name(settings: Settings, stamp: str, name: str) -> Path:
    """`<stamp>_<name>`, or `<stamp>-2_<name>` ... if taken: no quarantined copy or report is
    ever overwritten by another file of the same name."""
    dest = settings.quarantine_dir / f"{stamp}_{name}"
    k = 1
    while dest.exists() or dest.with_name(dest.name + ".report.txt").exists():
        k += 1
        dest = settings.quarantine_dir / f"{stamp}-{k}_{name}"
    return dest


def _quarantine(settings: Settings, parsed, findings, stamp: str, log=print) -> Quarantined:
    from orchestration.gate import write_report

    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    dest = _quarantine_name(settings, stamp, parsed.path.name)
    # Report first, then the file: a kill in between leaves the file in the inbox to be gated again.
    txt, js = write_report(parsed, findings, settings.quarantine_dir)
    txt_final = settings.quarantine_dir / f"{dest.name}.report.txt"
    js_final = settings.quarantine_dir / f"{dest.name}.report.json"
    os.replace(txt, txt_final)
    os.replace(js, js_final)
    if parsed.data is not None:
        # The quarantined copy is the bytes the report is about; the inbox file goes only if it
        # is still those bytes (else the provider is writing a new version: it stays).
        _write_once(parsed.data, dest)
        if _unchanged_since_read(parsed.path, parsed.read_as):
            parsed.path.unlink()
        else:
            log(f"{parsed.path.name}: wurde nach dem Lesen verändert und bleibt im Posteingang.")
    else:
        shutil.move(str(parsed.path), dest)  # too large to read: moved as it is
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
    if not files and not full:
        return out  # most types on most nights: no warehouse connection for nothing
    con = wh.connect(settings.internal_db)
    try:
        if full:
            _reload_from_archive(con, contract, settings, out, log)
        if not files:
            return out
        if not settings.pseudonym_key:
            raise RuntimeError("IMON_PSEUDONYM_KEY ist nicht gesetzt: ohne Schlüssel wird nichts geladen")
        current = {v.file_name: v for v in wh.current_versions(con) if v.file_type == contract.file_type}
        passed = wh.passed_files(con)

        todo = []
        for f in files:
            cur = current.get(f.path.name)
            if cur is not None:
                from orchestration.extracts import FileChanged, read_stable

                # A delivery of a loaded name: byte-identical changes nothing (archive it if the
                # archive lacks it, then tidy up). Checksum and archive copy from one read.
                try:
                    data, read_as = read_stable(f.path, _max_file_bytes())
                except FileChanged:
                    _still_writing(out, f.path, log)
                    continue
                if data is not None and hashlib.sha256(data).hexdigest() == cur.sha256:
                    _write_once(data, settings.data_dir / cur.archive_path)
                    if _unchanged_since_read(f.path, read_as):
                        f.path.unlink()
                    out.unchanged.append(f.path.name)
                    log(f"{f.path.name}: unverändert (gleiche Prüfsumme wie geladen), nichts zu tun")
                    continue
            todo.append(f)
        if not todo:
            return out

        from orchestration.gate import FileStats, check_files

        accepted_entries = {(a["file_name"], a["sha256"]): a for a in read_acceptances(settings)}
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        # In batches of files (in period order): a first load of 84 months must not hold all
        # of them in memory at once. Each batch is gated against what is loaded so far.
        def size_of(f) -> int:
            return (signature(f.path) or _GONE).size

        for batch in _batches(todo, size_of):
            batch_bytes = sum(size_of(f) for f in batch)
            t0 = time.perf_counter()
            parsed = []
            for p in parse_many([(f.path, f.period) for f in batch], contract):
                if p.changed:  # growing while read: not gated, not loaded, stays in the inbox
                    _still_writing(out, p.path, log)
                else:
                    parsed.append(p)
            out.seconds["parse"] = out.seconds.get("parse", 0.0) + time.perf_counter() - t0
            if not parsed:
                continue

            t0 = time.perf_counter()
            history = {
                contract.file_type: [
                    FileStats(v.period, v.row_count, frozenset(v.ags))
                    for v in wh.current_versions(con) if v.file_type == contract.file_type
                ]
            }
            to_check = [p for p in parsed if (p.path.name, p.sha256) not in passed]
            findings = check_files(to_check, history, set(accepted_entries), date.today()) if to_check else {}
            out.seconds["gate"] = out.seconds.get("gate", 0.0) + time.perf_counter() - t0

            t0 = time.perf_counter()
            _load_or_quarantine(parsed, findings, contract, settings, con, accepted_entries, stamp, out, log,
                                current)
            del parsed, findings
            _release_memory(collect=batch_bytes >= SMALL_BATCH_BYTES)
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


def _release_memory(collect: bool = True) -> None:
    """Hand a finished batch's Arrow buffers back to the OS: the allocator keeps them otherwise,
    and the dbt subprocess that follows needs the room (peak memory of the whole refresh). The
    full collection (~75 ms each) only after a batch large enough to matter (not a month's file)."""
    import gc

    import pyarrow as pa

    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()


def parse_many(files: list[tuple[Path, str]], contract: Contract) -> list:
    """Parse files of one type side by side: Arrow's reader and compute release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    from orchestration.extracts import parse_file

    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        return list(pool.map(lambda f: parse_file(f[0], contract, f[1]), files))


def _max_file_bytes() -> int:
    from orchestration.extracts import MAX_FILE_BYTES

    return MAX_FILE_BYTES


def _load_or_quarantine(parsed: list, findings: dict, contract: Contract, settings: Settings, con,
                        accepted_entries: dict, stamp: str, out: IngestOutcome, log,
                        current: dict | None = None) -> None:
    """Parsed and gated files: each failing one into quarantine with its report; the passing
    ones archived, then loaded together in one transaction, then removed from the inbox."""
    from orchestration import warehouse as wh
    from orchestration.gate import file_stats

    ok = []
    warned: dict[str, list[str]] = {}  # note text -> files: one line for a warning many files share
    for p in parsed:
        file_findings = list(p.findings) + list(findings.get(p.path, []))
        errors = [x for x in file_findings if x.severity == "error"]
        warnings = [x for x in file_findings if x.severity == "warning"]
        for w in warnings:
            out.warnings.append(f"{p.path.name}: {w.rule} {w.message} ({w.row_count} Zeilen)")
            if not errors and p.table is not None:  # blocked files have their report instead
                text = w.message + (f" ({', '.join(w.values[:5])})" if w.rule == "W.municipality_missing" else "")
                warned.setdefault(text, []).append(p.path.name)
        if errors or p.table is None:
            q = _quarantine(settings, p, file_findings, stamp, log)
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
        _write_once(p.data, settings.data_dir / version.archive_path)  # the bytes checksummed and gated
        ok.append((p, version, len(warnings)))
    for text, names in warned.items():
        out.notes.append(f"{names[0]}: {text}" if len(names) == 1
                         else f"{len(names)} Dateien ({names[0]} … {names[-1]}): {text}")
    # Two files of one period in one batch (a re-delivery beside the original): loaded one after
    # the other, the later name last, as they were sorted.
    while ok:
        seen, now, later = set(), [], []
        for item in ok:
            (later if item[1].period in seen else now).append(item)
            seen.add(item[1].period)
        wh.load_files(con, contract, [(p.table, v) for p, v, _ in now], settings.pseudonym_key,
                      gate_passed=[(p.sha256, p.path.name, nw) for p, _, nw in now])
        for p, v, _ in now:
            if _unchanged_since_read(p.path, p.read_as):
                p.path.unlink()
            else:  # written again after it was read: the new version is the next refresh's
                out.notes.append(f"{p.path.name}: wurde nach dem Lesen erneut verändert und bleibt im Posteingang; "
                                 "die nächste Aktualisierung prüft die neue Fassung.")
            out.loaded.append(p.path.name)
            out.rows_loaded += p.row_count
            old = (current or {}).get(p.path.name)
            if old is not None and old.sha256 != v.sha256:
                note = (f"Neulieferung für {v.period} ersetzt den geladenen Stand: {p.path.name} "
                        f"({_num(old.row_count)} → {_num(v.row_count)} Zeilen); die frühere Fassung bleibt im Archiv "
                        f"({old.archive_path}).")
                out.notes.append(note)
                log(note)
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


def _num(n: int) -> str:
    return f"{n:,}".replace(",", ".")
