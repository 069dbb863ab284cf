"""The README is a landing page and the docs are a site that builds: links resolve, results come from the
benchmark scripts' markers, and the README's one results table is the docs' own rows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def local_links(page: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(page.read_text(encoding="utf-8"))
            if not re.match(r"[a-z]+:", m.group(1))]


def test_readme_is_a_landing_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    assert any("pip install" in line for line in lines) and any("python -m zoo.train" in line for line in lines)


def test_every_local_link_of_the_readme_and_the_docs_resolves():
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    broken = [f"{p.relative_to(ROOT)} -> {link}" for p in pages for link in local_links(p)
              if not (p.parent / link).exists()]
    assert broken == []
    assert len(local_links(ROOT / "README.md")) >= 10  # the README links to the docs pages


def test_the_readme_results_rows_are_the_docs_rows():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    results = (DOCS / "results.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    assert len(rows) >= 5
    assert [r for r in rows if r not in results] == []


def test_every_benchmark_writes_into_markers_the_docs_hold():
    sections = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        sections |= set(re.findall(r'\bsave\(\s*"([a-z_]+)"', text)) | set(re.findall(r'update_docs\([^,]+,\s*"([a-z_]+)"', text))
    docs = "".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    missing = [s for s in sorted(sections) if f"<!-- results:{s}:start -->" not in docs
               or f"<!-- results:{s}:end -->" not in docs]
    assert len(sections) >= 10 and missing == []
    assert "<!-- results:" not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_no_results_section_of_the_docs_is_empty():
    docs = "".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    empty = re.findall(r"<!-- results:([a-z_]+):start -->\s*<!-- results:\1:end -->", docs)
    assert "<!-- results:decoding:start -->" in docs and empty == []


def test_a_benchmark_fills_an_empty_section_and_replaces_a_full_one(tmp_path, monkeypatch):
    from benchmarks import common

    monkeypatch.setattr(common, "DOCS", tmp_path)
    page = tmp_path / "results.md"
    page.write_text("before\n<!-- results:x:start -->\n<!-- results:x:end -->\nafter\n", encoding="utf-8")
    common.update_docs("| a |", "x")
    assert page.read_text(encoding="utf-8") == ("before\n<!-- results:x:start -->\n| a |\n<!-- results:x:end -->"
                                                "\nafter\n")
    common.update_docs("| b |\n| c |", "x")
    assert page.read_text(encoding="utf-8") == ("before\n<!-- results:x:start -->\n| b |\n| c |\n<!-- results:x:end -->"
                                                "\nafter\n")


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "site" / "export" / "index.html").is_file()
