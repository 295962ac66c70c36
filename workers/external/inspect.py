"""`python -m workers.external.inspect`: check that an external model builds at every size a sweep will use,
in a process of its own (the service runs it at submit time, so a user's module never runs inside the API
server, and an import that hangs or crashes takes only this process down).

Reads `{"config": TrialConfig dict, "sizes": [[width, depth], ...]}` on stdin; writes one JSON object on
stdout: `{"ok": true, "vocab_size": V, "roles": {role: count}, "notes": [...]}` or
`{"ok": false, "error": "what to fix"}`.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from typing import Any

import torch

from workers.config import TrialConfig
from workers.data import load_dataset
from workers.external.build import external_model
from workers.external.source import ModelSourceError


def inspect(config: TrialConfig, sizes: list[tuple[int, int]]) -> dict[str, Any]:
    vocab_size = load_dataset(config).vocab_size
    roles: Counter[str] = Counter()
    notes: list[str] = []
    for width, depth in sizes:
        with torch.device("meta"):
            model = external_model(replace(config, width=width, depth=depth), vocab_size)
        if not roles:
            roles.update(str(p.role) for p in model.inferred)
            notes = [f"{p.name} is tied: {p.reason}" for p in model.inferred if p.tied_readout]
    return {"ok": True, "vocab_size": vocab_size, "roles": dict(roles), "notes": notes}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        config = TrialConfig.from_dict(request["config"])
        result = inspect(config, [(int(w), int(d)) for w, d in request["sizes"]])
    except (ModelSourceError, ValueError, TypeError) as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # the user's builder failed in a way of its own: report, do not crash
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
