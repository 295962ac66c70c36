"""The layers hold: import-linter's contracts from pyproject.toml, run as the README's test command runs them,
so `pytest` alone also catches an import that breaks a layer or closes a cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-10_000:] + run.stderr[-5_000:]
    assert "4 kept, 0 broken" in run.stdout, run.stdout[-5_000:]
