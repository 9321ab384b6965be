"""The links between the docs stay valid (issue 17): every relative link in README.md and
docs/**/*.md resolves to a file or folder of the repository, every `#anchor` to a heading of
its target page (GitHub's heading slugs), and every page docs/*.md is linked from the README.

Plain file reading, no fixtures: a moved section or a renamed heading fails here at once."""

from __future__ import annotations

import importlib.util
import re
import sys
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
HTML_ID = re.compile(r"<a\s[^>]*(?:id|name)=\"([^\"]+)\"", re.I)


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def outside_fences(text: str) -> str:
    out, fence = [], None
    for line in text.splitlines():
        marker = line.lstrip()[:3]
        if fence is None and marker in ("```", "~~~"):
            fence = marker
        elif fence is not None and marker == fence:
            fence = None
        elif fence is None:
            out.append(line)
    return "\n".join(out)


def prose(text: str) -> str:
    """The text outside fenced code blocks, with code spans blanked: a `[x](y)` in code is an
    example, not a link."""
    return CODE_SPAN.sub(lambda m: "code", outside_fences(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the visible text, lower case, punctuation dropped
    (letters of any script, digits, `_` and `-` stay), blanks to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text.replace("`", ""))
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    out = set(HTML_ID.findall(text))
    for line in outside_fences(text).splitlines():
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers repeated headings
    return out


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REF_DEFINITION.findall(text)


def broken_links(page: Path, root: Path) -> list[str]:
    bad = []
    for target in links(page):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, …
            continue
        path_part, _, anchor = urllib.parse.unquote(target).partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page.resolve()
        if not dest.is_relative_to(root.resolve()):
            bad.append(f"{target}: outside the repository")
        elif not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.relative_to(root.resolve())}")
    return bad


def unlinked_pages(root: Path) -> list[str]:
    readme = root / "README.md"
    linked = {(root / urllib.parse.unquote(t).partition("#")[0]).resolve() for t in links(readme)}
    return [p.relative_to(root).as_posix() for p in sorted((root / "docs").glob("*.md"))
            if p.resolve() not in linked]


@pytest.mark.parametrize("page", pages(REPO), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_resolves(page):
    assert broken_links(page, REPO) == []


def test_every_docs_page_is_linked_from_the_readme():
    assert unlinked_pages(REPO) == []


def test_the_checker_finds_what_is_broken(tmp_path):
    """The same checks on pages built to break them: a missing file, a missing anchor, a link
    out of the repository and an unlinked page are found; links in code, to headings of any
    script (umlauts, backticks, a repeated heading) and to folders are not complained about."""
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text(
        "# Über `make run` (kurz)\n\n## Teil\n\n## Teil\n\n```\n## not a heading\n[x](nowhere.md)\n```\n"
        "See `[y](nowhere.md)` and [back](../README.md#start) and [self](#teil-1).\n", encoding="utf-8")
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# Start\n\n[a](docs/a.md#über-make-run-kurz) [b](docs/a.md#teil-1) [dir](docs/sub/)\n"
        "[gone](docs/gone.md) [bad](docs/a.md#not-a-heading) [up](../outside.md) [web](https://example.org/x)\n",
        encoding="utf-8")
    assert broken_links(tmp_path / "docs" / "a.md", tmp_path) == []
    assert broken_links(tmp_path / "README.md", tmp_path) == [
        "docs/gone.md: no such file",
        "docs/a.md#not-a-heading: no heading #not-a-heading in docs/a.md",
        "../outside.md: outside the repository",
    ]
    assert unlinked_pages(tmp_path) == ["docs/orphan.md"]


def test_bench_rewrite_keeps_the_hand_written_notes(tmp_path, monkeypatch):
    """docs/bench.md is two parts: the measurements `make bench` rewrites, the analysis written
    by hand after its mark. A rewrite replaces the first and keeps the second."""
    spec = importlib.util.spec_from_file_location("bench", REPO / "tests" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench", bench)  # its dataclasses look their module up
    monkeypatch.setattr(sys, "path", list(sys.path))  # it puts the repository first
    spec.loader.exec_module(bench)
    assert bench.NOTES_MARK in (REPO / "docs" / "bench.md").read_text(encoding="utf-8")
    notes = bench.NOTES_MARK + "\n\n## Analysis\n\nwhy it is slow\n"
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmark\n\nold table\n\n" + notes, encoding="utf-8")
    bench.write_doc("# Benchmark\n\nnew table\n", doc)
    assert doc.read_text(encoding="utf-8") == "# Benchmark\n\nnew table\n\n" + notes
    first = tmp_path / "first.md"  # no page yet: just the measurements
    bench.write_doc("# Benchmark\n", first)
    assert first.read_text(encoding="utf-8") == "# Benchmark\n"
