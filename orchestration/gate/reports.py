"""Quarantine reports: per file a text report a person can act on, and the same as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.gate.rules import FILE_LEVEL_RULES, RULES, _pseudonym_columns, mask_ids, next_step, rule_label

if TYPE_CHECKING:
    from orchestration.extracts import ParsedFile
    from orchestration.findings import Finding


def report_dict(p: ParsedFile, findings: list[Finding]) -> dict:
    errors = [f for f in findings if f.severity == "error"]
    return {
        "file": p.path.name,
        "path": str(p.path),
        "file_type": p.contract.file_type,
        "provider": p.contract.provider,
        "period": p.period,
        "sha256": p.sha256,
        "rows": p.row_count,
        "passed": not errors and p.table is not None,
        "errors": len(errors),
        "warnings": len(findings) - len(errors),
        "findings": [
            {**asdict(f), **({"values": mask_ids(f.values)} if f.column in _pseudonym_columns(p.contract) else {}),
             "rule_number": RULES.get(f.rule, (None,))[0], "rule_label": rule_label(f.rule),
             "title": RULES.get(f.rule, (None, f.rule))[1],
             "description": RULES.get(f.rule, (None, "", ""))[2], "next_step": next_step(f.rule, f.severity, p)}
            for f in findings
        ],
    }


def report_text(p: ParsedFile, findings: list[Finding]) -> str:
    d = report_dict(p, findings)
    verdict = ("ANGENOMMEN" if d["passed"] else "ABGELEHNT") + f" – {d['errors']} Fehler, {d['warnings']} Hinweise"
    lines = [
        "Prüfbericht Integrationsmonitor (Landkreis Esslingen)",
        "=" * 54,
        f"Datei:      {d['file']}",
        f"Dateityp:   {d['file_type']} (Lieferant: {d['provider']}), Zeitraum {d['period']}",
        f"Prüfsumme:  SHA-256 {d['sha256']}",
        f"Datenzeilen: {d['rows'] if p.table is not None else '– (Datei nicht lesbar)'}",
        f"Ergebnis:   {verdict}",
        "",
    ]
    if not findings:
        lines.append("Keine Beanstandungen.")
    for i, f in enumerate(d["findings"], 1):
        kind = "Fehler" if f["severity"] == "error" else "Hinweis"
        lines += [f"{i}. {kind}: {f['title']} – {f['rule_label']}",
                  f"   Prüfung:   {f['description']}",
                  f"   Befund:    {f['message']}"]
        if f["column"]:
            lines.append(f"   Spalte:    {f['column']}")
        if f["row_count"] and f["rule"] not in FILE_LEVEL_RULES:
            lines.append(f"   Anzahl:    {f['row_count']}")
        if f["lines"]:
            more = " …" if f["row_count"] > len(f["lines"]) else ""
            unit = "Zeilen (Kopfzeile = 1)" if p.contract.format == "csv" else "Blattzeilen (Kopfzeile = 1)"
            lines.append(f"   {unit}: {', '.join(map(str, f['lines']))}{more}")
        if f["values"]:
            if len(f["values"]) == len(f["lines"]) and f["lines"]:
                lines.append("   Werte:")
                lines += [f"     Zeile {ln}: " + (f"»{v}«" if v != "" else "(leer)")
                          for ln, v in zip(f["lines"], f["values"])]
            else:
                lines.append("   Werte:     " + "; ".join(f"»{v}«" for v in f["values"]))
        lines += [f"   Was tun:   {f['next_step']}", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(parsed: ParsedFile, findings: list[Finding], dest_dir: Path) -> tuple[Path, Path]:
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    txt = dest_dir / f"{parsed.path.name}.report.txt"
    js = dest_dir / f"{parsed.path.name}.report.json"
    txt.write_text(report_text(parsed, findings), encoding="utf-8")
    js.write_text(json.dumps(report_dict(parsed, findings), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return txt, js
