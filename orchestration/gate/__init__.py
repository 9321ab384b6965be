"""The data-quality gate: typed extract frames -> findings -> reports a person can act on.

The one entry point: other code imports the gate from here (`from orchestration.gate import
check_files`), never from its modules. Row rules that GX can evaluate vectorised live in one
Great Expectations suite per file type (expectations/<file_type>.json); everything that needs
more than one row, more than one file or arithmetic across columns is plain code.

Modules, each importing only those above it:
  rules.py       thresholds, rule table (ids, titles, descriptions), labels, next steps, id masking
  suites.py      reference lists, building and writing the GX suites (`write-suites`)
  row_rules.py   row rules outside GX (future dates, header-only, sums, empty-iff, 44 municipalities)
  cross_file.py  rules against the previous period (rule 8, truncation, municipalities gone)
  gx.py          the GX pass over a chunk: the lazily imported GX context, the frame, plain-data results
  worker.py      the GX validation worker process `imon refresh` starts early (GX's import off its path)
  validate.py    check_files: chunks, the GX pass (in the worker or here), findings, then the rules above
  reports.py     the quarantine report of a file, as text and JSON
  __main__.py    `python -m orchestration.gate write-suites`
"""

from orchestration.findings import MAX_SAMPLES, Finding
from orchestration.gate.cross_file import _cross_file_rules, _kita_truncated, file_stats
from orchestration.gate.reports import report_dict, report_text, write_report
from orchestration.gate.row_rules import _plain_row_rules
from orchestration.gate.rules import (
    FILE_LEVEL_RULES,
    JUDGEMENT_RULES,
    KITA_TRUNCATION,
    MUNICIPALITIES_GONE_MIN,
    MUNICIPALITIES_GONE_SHARE,
    RULE_ORDER,
    RULES,
    SCHOOL_TRUNCATION,
    SPARSE_STOCK_TYPES,
    VOLUME_LIMIT,
    FileStats,
    mask_ids,
    next_step,
    rule_label,
)
from orchestration.gate.suites import (
    EXPECTATIONS_DIR,
    REFERENCE_DIR,
    allowed_values,
    build_suite,
    municipality_names,
    reference_values,
    suite_path,
    write_suites,
    year_helper,
)
from orchestration.gate.gx import _gx
from orchestration.gate.validate import CHUNK_ROWS, check_files, take_validation_runs
from orchestration.gate.worker import start_validation_worker, stop_validation_worker

# The gate's vocabulary as other code and the tests use it; the underscored names are what
# tests reach into (the GX context, the cross-file rules alone).
__all__ = [
    "CHUNK_ROWS", "EXPECTATIONS_DIR", "FILE_LEVEL_RULES", "JUDGEMENT_RULES", "KITA_TRUNCATION", "MAX_SAMPLES",
    "MUNICIPALITIES_GONE_MIN", "MUNICIPALITIES_GONE_SHARE", "REFERENCE_DIR", "RULES", "RULE_ORDER",
    "SCHOOL_TRUNCATION", "SPARSE_STOCK_TYPES", "VOLUME_LIMIT", "FileStats", "Finding", "_cross_file_rules",
    "_gx", "_kita_truncated", "_plain_row_rules", "allowed_values", "build_suite", "check_files", "file_stats",
    "mask_ids", "municipality_names", "next_step", "reference_values", "report_dict", "report_text",
    "rule_label", "start_validation_worker", "stop_validation_worker", "suite_path", "take_validation_runs",
    "write_report", "write_suites", "year_helper",
]
