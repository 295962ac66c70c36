"""End to end through the real service: REST API, runner, Ray, planner, target run, SQLite.

One service (and one local Ray) for the module; each test submits its own sweep. The proxies and the
target train the real GPT from `workers/` on the built-in corpus at tiny sizes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.target import (
    API,
    client,
    kill,
    study,
    submit,
    target_worker_pid,
    tmp_data_dir,
    wait_for,
    wait_status,
)

pytestmark = pytest.mark.ray

__all__ = ["client"]  # the module-scoped service fixture: one service (and Ray) for this module's tests


def events(client: TestClient, sweep_id: int) -> list[dict]:
    return client.get(f"{API}/sweeps/{sweep_id}/events", params={"limit": 1000}).json()["items"]


def test_auto_launch_plans_runs_the_target_and_stores_realized_vs_predicted(client: TestClient) -> None:
    sweep_id = submit(client, study(name="auto"))
    wait_status(client, sweep_id, "completed")

    plan = client.get(f"{API}/sweeps/{sweep_id}/plan").json()
    assert plan["version"] == 1
    assert set(plan["plan"]["parametrizations"]) == {"sp", "mup"}
    choice = plan["plan"]["target_choice"]
    assert choice["parametrization"] in ("sp", "mup")
    assert choice["fallback"] == (plan["plan"]["recommended"] is None)
    if choice["fallback"]:  # never silent: the plan says it fell back
        assert any(w["code"] == "recommendation_fallback" for w in plan["plan"]["warnings"])

    run = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()
    assert run["status"] == "completed", run
    assert run["plan_version"] == 1
    assert run["hparams"] == choice["hparams"]
    assert run["steps_done"] == 40 and run["attempts"] == 1
    assert run["realized_loss"] is not None and 0 < run["realized_loss"] < 10
    assert run["predicted_loss"] == choice["predicted_loss"]
    if run["predicted_low"] is not None and run["predicted_high"] is not None:
        inside = run["predicted_low"] <= run["realized_loss"] <= run["predicted_high"]
        assert run["within_interval"] is inside

    first = client.get(f"{API}/sweeps/{sweep_id}/target-run/metrics", params={"limit": 25}).json()
    assert [m["step"] for m in first["items"]] == list(range(1, 26)) and first["has_more"]
    rest = client.get(
        f"{API}/sweeps/{sweep_id}/target-run/metrics", params={"since_step": first["next_since_step"]}
    ).json()
    assert [m["step"] for m in rest["items"]] == list(range(26, 41)) and not rest["has_more"]
    assert rest["items"][-1]["val_loss"] == pytest.approx(run["realized_loss"])
    kinds = [e["kind"] for e in events(client, sweep_id)]
    assert kinds.index("planned") < kinds.index("target_created") < kinds.index("target_finished")

    # re-plan: a new version; the old one stays readable
    replanned = client.post(f"{API}/sweeps/{sweep_id}/plan")
    assert replanned.status_code == 201, replanned.text
    assert replanned.json()["version"] == 2
    assert client.get(f"{API}/sweeps/{sweep_id}/plan").json()["version"] == 2
    assert client.get(f"{API}/sweeps/{sweep_id}/plan", params={"version": 1}).json()["version"] == 1
    missing = client.get(f"{API}/sweeps/{sweep_id}/plan", params={"version": 7})
    assert missing.status_code == 404 and "version 7" in missing.json()["detail"]
    outputs = client.get(f"{API}/sweeps/{sweep_id}/outputs").json()
    assert outputs["plan_version"] == 2 and outputs["target_run"] == {"id": run["id"], "status": "completed"}


def test_manual_approval_then_relaunch_resumes_a_killed_worker_from_its_checkpoint(
    client: TestClient,
) -> None:
    spec = study(
        name="manual",
        parametrizations=["mup"],
        **{"target.auto_launch": False, "target.steps": 200, "proxy.widths": [16, 32]},
    )
    sweep_id = submit(client, spec)
    assert client.get(f"{API}/sweeps/{sweep_id}/plan").status_code == 404
    assert client.post(f"{API}/sweeps/{sweep_id}/target-run").status_code == 409  # proxies still running
    wait_status(client, sweep_id, "awaiting_approval")
    assert client.get(f"{API}/sweeps/{sweep_id}/plan").json()["version"] == 1
    none_yet = client.get(f"{API}/sweeps/{sweep_id}/target-run")
    assert none_yet.status_code == 404
    assert any(e["kind"] == "awaiting_approval" for e in events(client, sweep_id))

    launched = client.post(f"{API}/sweeps/{sweep_id}/target-run")
    assert launched.status_code == 202, launched.text
    first_id = launched.json()["id"]
    again = client.post(f"{API}/sweeps/{sweep_id}/target-run")
    assert again.status_code == 409 and "target_running" in again.json()["detail"]
    wait_status(client, sweep_id, "completed", timeout=120)
    assert client.get(f"{API}/sweeps/{sweep_id}/target-run").json()["attempts"] == 1

    # relaunch after completion; SIGKILL its worker once it has checkpointed: retried from the checkpoint
    relaunched = client.post(f"{API}/sweeps/{sweep_id}/target-run")
    assert relaunched.status_code == 202, relaunched.text
    run_id = relaunched.json()["id"]
    assert run_id != first_id
    checkpoints = Path(tmp_data_dir(client)) / "targets" / f"sweep-{sweep_id}" / f"target-{run_id}"

    def checkpointed_worker() -> int | None:
        """The worker, once a finished checkpoint (not a .tmp being written) has its steps recorded."""
        saved = [int(p.stem.split("-")[1]) for p in checkpoints.glob("checkpoint-*.pt")]
        steps = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()["steps_done"]
        if not saved or steps < min(saved):
            return None
        return target_worker_pid(run_id)

    kill(wait_for(checkpointed_worker, 60, "the relaunched target to checkpoint", every=0.02))
    wait_status(client, sweep_id, "completed", timeout=120)
    run = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()
    assert run["id"] == run_id and run["status"] == "completed"
    assert run["attempts"] == 2 and run["steps_done"] == 200 and run["realized_loss"] is not None
    log = events(client, sweep_id)
    assert any(e["kind"] == "target_retry" for e in log)
    resumed = [e for e in log if e["kind"] == "target_resumed"]
    assert resumed and resumed[-1]["data"]["from_step"] > 0  # not restarted from step 0
    steps: list[int] = []
    since = 0
    while True:
        page = client.get(
            f"{API}/sweeps/{sweep_id}/target-run/metrics", params={"since_step": since, "limit": 150}
        ).json()
        steps += [m["step"] for m in page["items"]]
        since = page["next_since_step"]
        if not page["has_more"]:
            break
    assert steps == list(range(1, 201))  # one row per step: the replayed steps were not doubled


def test_errors_are_clear(client: TestClient) -> None:
    assert client.get(f"{API}/sweeps/999999/plan").status_code == 404
    assert client.post(f"{API}/sweeps/999999/target-run").status_code == 404
    assert client.get(f"{API}/sweeps/999999/target-run/metrics").status_code == 404
    assert client.get(f"{API}/sweeps/1/plan", params={"version": 0}).status_code == 422


def test_a_token_scan_moves_the_lr_and_the_target_trains_at_its_own_budget(client: TestClient) -> None:
    base_tokens = 20 * 4 * 16  # steps × batch × context of support.target.study's proxies
    spec = study(
        **{
            "name": "horizon",
            "parametrizations": ["mup"],
            "proxy.token_budgets": [2 * base_tokens],
            "target.steps": None,
            "target.tokens": 8 * base_tokens,
        }
    )
    sweep_id = submit(client, spec)
    wait_status(client, sweep_id, "completed")

    trials = client.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 500}).json()["items"]
    scan = [t for t in trials if t["tokens"] is not None]
    assert len(trials) == 4 * 3 + 4  # a 4-point LR grid at three widths, and the scan at the narrowest
    assert {(t["width"], t["tokens"], t["steps_done"]) for t in scan} == {(16, 2 * base_tokens, 40)}
    assert all(t["trial_key"].startswith(f"mup-w16-d1-t{2 * base_tokens}-") for t in scan)

    plan = client.get(f"{API}/sweeps/{sweep_id}/plan").json()["plan"]
    mup = plan["parametrizations"]["mup"]
    assert plan["proxy"]["token_budgets"] == [base_tokens, 2 * base_tokens]
    assert plan["target"]["tokens"] == 8 * base_tokens and plan["target"]["steps"] == 160
    law = mup["horizon_transfer"]["laws"]["lr"]
    assert law["scales"] == [base_tokens, 2 * base_tokens]
    horizon = next(m for m in mup["moves"] if m["hparam"] == "lr" and m["axis"] == "horizon")
    assert horizon["source"] == base_tokens and horizon["target"] == 8 * base_tokens
    gamma = horizon["gamma"]["value"]
    assert horizon["factor"] == pytest.approx(2.0 ** (3 * gamma))
    width_lr = mup["width_transfer"]["lr"]["target"]["value"]
    assert mup["hparams"]["lr"]["value"] == pytest.approx(width_lr * horizon["factor"])
    # the move is made where its interval excludes 0, else noted as unresolved (factor 1): either is said
    codes = {w["code"] for w in plan["warnings"]}
    assert "horizon_transfer_applied" in codes or (
        "horizon_move_unresolved" in codes and horizon["factor"] == 1
    )

    run = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()
    assert run["status"] == "completed", run
    assert run["steps_done"] == 160  # the target's own budget: 8× the base tokens at the proxies' batch
    assert math.isclose(run["hparams"]["lr"], mup["hparams"]["lr"]["value"], rel_tol=1e-9)


def printed(plan: dict) -> dict[str, tuple[str, ...]]:
    """What the plan view prints of each parametrization: its values, its predicted loss and its verdict."""
    out = {}
    for name, entry in plan["parametrizations"].items():
        values = tuple(f"{hp}={v['value']:.3g}" for hp, v in entry["hparams"].items())
        loss = entry["predicted_loss"]
        bounds = tuple("-" if loss[k] is None else f"{loss[k]:.3f}" for k in ("value", "low", "high"))
        out[name] = (*values, *bounds, entry["transfer_verdict"])
    return out


def test_a_trained_sweep_exported_and_imported_gives_the_same_plan(client: TestClient) -> None:
    sweep_id = submit(
        client, study(name="round-trip", target={"width": 128, "steps": 40, "auto_launch": False})
    )
    wait_status(client, sweep_id, "awaiting_approval")
    trained = client.get(f"{API}/sweeps/{sweep_id}/plan").json()["plan"]

    runs = client.get(f"{API}/sweeps/{sweep_id}/runs")
    assert runs.status_code == 200
    target = trained["target"]
    names = {"width": "width", "depth": "depth", "n_params": "params", "tokens": "tokens"}
    where = ",".join(f"{name}={target[key]}" for name, key in names.items())
    imported = client.post(
        f"{API}/imports",
        content=runs.text,
        params={"name": "round-trip-imported", "target": where + ",batch_size=4,context_length=16"},
        headers={"content-type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text
    again = client.get(f"{API}/sweeps/{imported.json()['id']}/plan").json()["plan"]
    assert printed(again) == printed(trained)
    assert again["proxy"]["flops"] == trained["proxy"]["flops"]
