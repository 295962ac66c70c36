"""Your own model end to end through the real service and Ray: a small decoder in plain PyTorch with tied
embeddings, written to a temporary directory outside the repository and uploaded with the sweep, and a
`transformers` Llama config. Each runs preflight (the coordinate check judges μP flat and SP growing, each by
its own predictions), proxies, plan and the target run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.external import ENTRYPOINT, LLAMA, write_decoder
from support.target import API, client, study, submit, wait_status

from workers.code_archive import digest, pack

pytestmark = pytest.mark.ray

__all__ = ["client"]


def external_study(name: str, model: dict[str, Any]) -> dict[str, Any]:
    return study(
        name=name,
        model={"depth": 1, "head_dim": 8, "context_length": 16, **model},
        preflight="enforce",
        **{
            "proxy.widths": [16, 32],
            "search.space.lr.grid_points": 3,
            "target.width": 64,
            "target.steps": 30,
        },
    )


def check_sweep(client: TestClient, sweep_id: int) -> None:
    wait_status(client, sweep_id, "completed", timeout=300)
    checks = {
        c["parametrization"]: c for c in client.get(f"{API}/sweeps/{sweep_id}/coord-check").json()["items"]
    }
    assert set(checks) == {"sp", "mup"} and all(c["passed"] for c in checks.values()), checks
    for parametrization, check in checks.items():
        report = check["data"]
        judged = [
            (module, stat, k, report["slopes"][module][stat][k], predicted)
            for module in report["modules"]
            for stat in ("rms", "delta_rms")
            for k, predicted in enumerate(report["predicted"][module][stat])
            if predicted is not None and report["slopes"][module][stat][k] is not None
        ]
        assert len(judged) > 10
        if parametrization == "mup":  # flat everywhere but the σ-initialized logits at init (−½)
            assert all(abs(slope) <= 0.15 for m, s, k, slope, p in judged if p == 0)
        else:  # SP's logits grow like √width at init
            assert any(m == "lm_head" and slope > 0.3 for m, s, k, slope, p in judged)
    trials = client.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 100}).json()["items"]
    assert len(trials) == 12 and all(t["status"] == "completed" for t in trials)
    plan = client.get(f"{API}/sweeps/{sweep_id}/plan").json()["plan"]
    table = plan["parametrizations"][plan["target_choice"]["parametrization"]]["multipliers"]
    assert table and all(row["role"] in ("input", "hidden", "output", "vector") for row in table)
    run = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()
    assert run["status"] == "completed" and run["steps_done"] == 30 and 0 < run["realized_loss"] < 10


def test_a_plain_pytorch_decoder_uploaded_with_its_sweep(client: TestClient, tmp_path: Path) -> None:
    data = pack(write_decoder(tmp_path / "user"))
    uploaded = client.post(
        f"{API}/code",
        content=data,
        headers={"Content-Type": "application/octet-stream", "X-Content-SHA256": digest(data)},
    )
    assert uploaded.status_code == 201, uploaded.text
    spec = external_study("custom", {"family": "custom", "entrypoint": ENTRYPOINT, "code": digest(data)})
    sweep_id = submit(client, spec)
    # a later edit of the directory does not change the sweep: it runs the archive it was submitted with
    (tmp_path / "user" / "tinydec" / "model.py").write_text("raise RuntimeError('edited after submit')\n")
    check_sweep(client, sweep_id)


def test_a_transformers_llama_config(client: TestClient) -> None:
    sweep_id = submit(client, external_study("llama", {"family": "hf", "config": LLAMA}))
    check_sweep(client, sweep_id)
