"""SQL lives in `orchestrator/store/` only: no query construct, session call or ORM model import elsewhere.

The rest of the product reaches the database through the store's methods (and reads the detached rows they
return); migrations are the schema's history and may speak SQL too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("api", "orchestrator", "workers")
ALLOWED = (ROOT / "orchestrator" / "store", ROOT / "migrations")
FORBIDDEN = {
    # a bare call (not a method like dict.update, not a definition)
    "a query": re.compile(r"(?<![.\w])(?<!def )(select|insert|update|delete|text)\("),
    "a session call": re.compile(r"\bsession\.(execute|scalars?|add|get|query|flush)\b"),
    "SQLAlchemy": re.compile(r"^\s*(from|import) sqlalchemy\b"),
    "an ORM model import": re.compile(
        r"^\s*from orchestrator\.store\.models import|import orchestrator\.store\.models"
    ),
}


def offences() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(path.is_relative_to(allowed) for allowed in ALLOWED):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                for what, pattern in FORBIDDEN.items():
                    if pattern.search(code):
                        found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    return found


def test_no_sql_outside_the_store() -> None:
    found = offences()
    assert not found, "SQL outside orchestrator/store/ (add a store method instead):\n" + "\n".join(found)


def test_the_check_finds_sql_where_it_is(tmp_path: Path) -> None:
    """The patterns match the store's own code: a check that cannot fail would pass on anything."""
    store_code = "\n".join(p.read_text() for p in (ROOT / "orchestrator" / "store").glob("*.py"))
    for what, pattern in FORBIDDEN.items():
        assert any(pattern.search(line) for line in store_code.splitlines()), what
