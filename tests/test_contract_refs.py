"""The contract travels with the code: docs and messages point to docs/contract/, which a clone
has, never to ../shared/spec/, which it does not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACT = REPO / "docs" / "contract"
SPEC_FILES = ("sources.md", "indicators.md", "warehouse.md")
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".md", ".sql", ".html", ".json", ".toml", ".txt", ".cfg"}
SKIP_DIRS = {".venv", ".git", "target", "logs", "dbt_packages", "node_modules", "__pycache__", ".pytest_cache"}


def _project_files():
    for p in REPO.rglob("*"):
        rel = p.relative_to(REPO)
        if any(part in SKIP_DIRS or part.startswith(".venv") for part in rel.parts):
            continue
        if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.name == "Makefile") and CONTRACT not in p.parents \
                and p != Path(__file__).resolve():
            yield p


def test_the_contract_copy_is_complete():
    for name in SPEC_FILES:
        assert (CONTRACT / name).is_file(), name
    assert any((CONTRACT / "reference").glob("*.csv"))


def test_nothing_points_outside_the_project():
    offenders = [f"{p.relative_to(REPO)}:{i}: {line.strip()}"
                 for p in _project_files()
                 for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                 if "shared/spec" in line or "../shared" in line]
    assert not offenders, "\n".join(offenders)


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_messages_cite_the_contract_copy():
    """Every string the code shows (messages, asset and job descriptions; not docstrings or
    comments) that names a contract file names it as docs/contract/<file>."""
    bare = re.compile(r"(?<!docs/contract/)\b(" + "|".join(re.escape(n) for n in SPEC_FILES) + r")")
    offenders = []
    for p in _project_files():
        if p.suffix != ".py" or "tests" in p.relative_to(REPO).parts:
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                if bare.search(node.value):
                    offenders.append(f"{p.relative_to(REPO)}:{node.lineno}: {node.value[:90]!r}")
    assert not offenders, "\n".join(offenders)


def test_readme_links_the_contract_copy():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/contract/" in readme
    for target in re.findall(r"\]\(((?:docs/contract)[^)]*)\)", readme):
        assert (REPO / target).exists(), target
