"""What a check found in a delivery: the vocabulary shared by the reader (extracts) and the gate.

Kept apart so that extracts.py and the gate (orchestration/gate/) both import it and neither imports the other at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SAMPLES = 20  # offending lines / values kept per finding


@dataclass
class Finding:
    rule: str  # e.g. 'R2.format'
    severity: str  # 'error' | 'warning'
    message: str  # German plain language
    column: str | None
    row_count: int  # how many rows offend
    lines: list[int] = field(default_factory=list)  # first offending line numbers (header = 1)
    values: list[str] = field(default_factory=list)  # offending values, aligned with lines where per row
