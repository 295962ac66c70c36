"""The demo's numbers, measured: per parametrization, the proxies' best validation loss at each width, the
fitted γ of each swept HP, and the target trained at the transferred HPs over several seeds.

The service trains one target run (the recommended parametrization's). To say whether μP's target beats
SP's, this script trains every parametrization's target with its own plan's HPs, in-process with the same
config mapping and training loop as the target run (`trial_config` → `workers.train.train`), once per seed,
and reports the mean, the spread across seeds (the run-to-run noise) and the difference of the means.

    mutransfer demo --exit   # or a running service with a finished sweep
    .venv/bin/python bench/demo_report.py --server http://127.0.0.1:8000 [--sweep ID] [--seeds 0,1,2] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import httpx
import torch

from orchestrator.spec import parse_spec
from orchestrator.trial_config import target_steps, trial_config
from workers.train import train


def fetch(server: str, sweep: int | None, token: str | None) -> tuple[dict, dict, list[dict]]:
    """(sweep, plan, trials) of `sweep` (default: the newest completed one) from the REST API."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=f"{server}/api/v1", headers=headers, timeout=30) as client:
        if sweep is None:
            listing = client.get("/sweeps", params={"limit": 1, "status": "completed"}).raise_for_status()
            items = listing.json()["items"]
            if not items:
                raise SystemExit("no completed sweep on the server: pass --sweep ID")
            sweep = items[0]["id"]
        info = client.get(f"/sweeps/{sweep}").raise_for_status().json()
        plan = client.get(f"/sweeps/{sweep}/plan").raise_for_status().json()
        trials: list[dict] = []
        while True:
            page = client.get(f"/sweeps/{sweep}/trials", params={"limit": 500, "offset": len(trials)})
            items = page.raise_for_status().json()["items"]
            trials += items
            if len(items) < 500:
                break
    return info, plan.get("plan", plan), trials


def train_target(
    spec_data: dict[str, Any], parametrization: str, hparams: dict[str, float], seed: int
) -> float:
    """One target run at the plan's HPs: the final validation loss (NaN when it diverged)."""
    torch.set_num_threads(1)
    spec = parse_spec(spec_data)
    config = trial_config(
        spec,
        parametrization=parametrization,
        width=spec.target.width,
        depth=spec.target.depth or spec.model.depth,
        seed=seed,
        hparams=hparams,
        steps=target_steps(spec),
    )
    *_, last = train(config)
    return last.final_val_loss if last.status == "completed" and last.final_val_loss is not None else math.nan


def proxy_table(trials: list[dict]) -> dict[str, dict[int, dict[str, Any]]]:
    """Per parametrization and width: the best final validation loss and the HPs that reached it."""
    best: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for t in trials:
        loss = t.get("final_val_loss")
        if t["status"] != "completed" or loss is None:
            continue
        mine = best[t["parametrization"]].get(t["width"])
        if mine is None or loss < mine["loss"]:
            best[t["parametrization"]][t["width"]] = {"loss": loss, "hparams": t["hparams"]}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--sweep", type=int)
    parser.add_argument("--token")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    info, plan, trials = fetch(args.server, args.sweep, args.token)
    seeds = [int(s) for s in args.seeds.split(",")]
    per_param = plan["parametrizations"]
    jobs = [
        (info["spec"], p, {k: v["value"] for k, v in pp["hparams"].items()}, seed)
        for p, pp in per_param.items()
        for seed in seeds
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        losses = list(pool.map(train_target, *zip(*jobs, strict=True)))
    realized: dict[str, list[float]] = defaultdict(list)
    for (_, p, _, _), loss in zip(jobs, losses, strict=True):
        realized[p].append(loss)
    proxies = proxy_table(trials)
    report = {
        "sweep": info["id"],
        "recommended": plan.get("recommended"),
        "proxies": proxies,
        "parametrizations": {
            p: {
                "hparams": {k: v["value"] for k, v in pp["hparams"].items()},
                "gamma": {k: law["gamma"] for k, law in pp["width_transfer"].items()},
                "predicted_loss": pp["predicted_loss"],
                "realized": realized[p],
                "realized_mean": statistics.fmean(realized[p]),
                "realized_sd": statistics.stdev(realized[p]) if len(realized[p]) > 1 else None,
            }
            for p, pp in per_param.items()
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for p, rows in proxies.items():
        line = ", ".join(f"{w}: {r['loss']:.3f}" for w, r in sorted(rows.items()))
        print(f"{p:>6} best proxy val loss per width  {line}")
    for p, r in report["parametrizations"].items():
        gammas = ", ".join(
            f"{k} γ {g['value']:.2f} [{g['low']:.2f}, {g['high']:.2f}]" for k, g in r["gamma"].items()
        )
        hps = ", ".join(f"{k} {v:.3g}" for k, v in r["hparams"].items())
        sd = r["realized_sd"]
        print(
            f"{p:>6} {hps}; {gammas}; predicted {r['predicted_loss']['value']:.3f}; realized "
            f"{r['realized_mean']:.3f} ± {sd if sd is None else round(sd, 3)} over seeds {seeds}"
        )


if __name__ == "__main__":
    main()
