"""Every `docs/<file>.md` a comment or docstring cites exists, and a cited section (`docs/x.md, "Section"`)
is a heading of that file; no comment cites a document or an issue the repository does not hold."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("api", "orchestrator", "workers", "bench") for p in sorted((ROOT / d).rglob("*.py"))]
CITATION = re.compile(r"docs/([\w.-]+\.md)(?:,? \"([^\"]+)\")?")
FOREIGN = re.compile(r"science\.md|\bissue [0-9]|\bseed 0\d\d\b|\bhelper H\d")


def headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")]


def test_every_cited_document_and_section_exists() -> None:
    broken, cited = [], 0
    for path in CODE:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name, section in CITATION.findall(line):
                cited += 1
                doc = ROOT / "docs" / name
                where = f"{path.relative_to(ROOT)}:{number}"
                if not doc.is_file():
                    broken.append(f"{where}: docs/{name} does not exist")
                elif section and not any(h.startswith(section) for h in headings(doc)):
                    broken.append(f'{where}: docs/{name} has no section "{section}"; it has {headings(doc)}')
    assert cited >= 30, f"only {cited} citations found: the pattern no longer matches the code's style"
    assert not broken, "\n".join(broken)


def test_no_comment_cites_what_the_repository_does_not_hold() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in CODE
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FOREIGN.search(line)
    ]
    assert not found, "\n".join(found)
