"""First render of the sweep page with 2,000 trials (budget: under 1.5 s on this machine; 3 s at 20,000).

A UI load figure, not a training result: the sweep is a *benchmark fixture* (tag `benchmark-fixture`,
losses from a closed-form μTransfer-shaped surface, no training) stored through the real store, with a
plan made by the real planner from those rows and a coordinate check, so every panel has data. The real
service (uvicorn, `api.app:create_app`, SQLite) serves it to Debian's Chromium; the figure is the
page's own `window.firstRenderMs` (navigation start → header, all plots and the trial table drawn, i.e.
the first poll fully rendered), over a cold first load and warm reloads.

    .venv/bin/python bench/ui_render.py [--trials 2000] [--runs 5] [--json]

The trials are inserted in one bulk statement (an executemany), so a 20,000-trial fixture is stored in
seconds; the planner's pass over them is the rest of the fixture's time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.planner import TrialResult, build_plan  # noqa: E402
from orchestrator.planner.plan import default_multiplier_resolver  # noqa: E402
from orchestrator.spec import Limits, parse_spec  # noqa: E402
from orchestrator.status import SweepStatus  # noqa: E402
from orchestrator.store.db import make_engine, upgrade_database  # noqa: E402
from orchestrator.store.models import CoordCheckResult, TransferPlan, Trial  # noqa: E402
from orchestrator.store.repository import SweepStore  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTHS = [32, 64, 128, 256]
PARAMETRIZATIONS = ["sp", "mup"]


def fixture_spec(trials: int) -> dict[str, Any]:
    per_search = max(1, trials // (len(WIDTHS) * len(PARAMETRIZATIONS)))
    return {
        "name": f"ui-render-benchmark-{trials}",
        "description": "benchmark fixture for bench/ui_render.py: synthetic losses, no training",
        "tags": ["benchmark-fixture"],
        "parametrizations": PARAMETRIZATIONS,
        "base_width": WIDTHS[0],
        "proxy": {"widths": WIDTHS, "steps": 200},
        "search": {
            "algorithm": "random",
            "trials_per_width": per_search,
            "space": {
                "lr": {"scale": "log", "low": 2**-12, "high": 2**-1},
                "init_std": {"scale": "log", "low": 0.005, "high": 0.1},
            },
        },
        "target": {"width": 1024, "auto_launch": False},
    }


def surface(parametrization: str, width: int, lr: float, init_std: float) -> float:
    """Loss with a width-stable optimum under μP, drifting like 1/width under SP; inf far above it."""
    m = width / WIDTHS[0]
    du = math.log2(lr) - (-6.0 if parametrization == "mup" else -6.0 - math.log2(m))
    if du > 3.0:
        return math.inf
    return 1.6 + 1.2 * m**-0.5 + 0.04 * du * du + 0.1 * math.log2(init_std / 0.02) ** 2


def store_fixture(store: SweepStore, trials: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    # a service configured for sweeps this large (MUTRANSFER_LIMIT_MAX_TRIALS) would accept the spec
    spec = parse_spec(fixture_spec(trials), Limits(max_trials=max(trials, Limits.max_trials)))
    sweep = store.create_sweep(spec)
    results = []
    rows = []
    for cell in spec.searches():
        p, width, depth = cell.parametrization, cell.width, cell.depth
        for i in range(spec.trials_per_search()):
            hp = {"lr": 2 ** rng.uniform(-12, -1), "init_std": 10 ** rng.uniform(math.log10(0.005), -1)}
            loss = surface(p, width, hp["lr"], hp["init_std"]) + rng.gauss(0, 0.01)
            diverged = not math.isfinite(loss)
            status = "diverged" if diverged else "completed"
            final = None if diverged else loss
            results.append(TrialResult(p, width, depth, 0, hp, final, diverged, status))
            rows.append(
                {
                    "sweep_id": sweep.id,
                    "trial_key": f"{p}-w{width}-d{depth}-i{i}-s0",
                    "parametrization": p,
                    "width": width,
                    "depth": depth,
                    "seed": 0,
                    "search_index": i,
                    "hparams": hp,
                    "status": status,
                    "diverged": diverged,
                    "final_loss": final,
                    "best_loss": final,
                    "steps_done": 200,
                    "attempts": 1,
                    "duration_s": rng.uniform(5, 60),
                }
            )
    with store.session() as session:
        session.execute(insert(Trial), rows)
        widths = [16, 32, 64, 128]
        modules = ["embedding", "blocks.0.attn", "blocks.0.mlp", "logits"]
        stats = {m: {"l1": [[1.0 + k for _ in widths] for _ in range(3)]} for k, m in enumerate(modules)}
        session.add(
            CoordCheckResult(
                sweep_id=sweep.id,
                parametrization="mup",
                passed=True,
                data={
                    "widths": widths,
                    "steps": [0, 1, 2],
                    "modules": modules,
                    "stats": stats,
                    "passed": True,
                    "failing": [],
                },
            )
        )
        plan = build_plan(spec, results, resolve_multipliers=default_multiplier_resolver(spec))
        session.add(TransferPlan(sweep_id=sweep.id, version=1, plan=plan.to_dict()))
    for status in (SweepStatus.RUNNING, SweepStatus.PLANNING, SweepStatus.AWAITING_APPROVAL):
        store.set_sweep_status(sweep.id, status)
    return sweep.id


def budget_s(trials: int) -> float:
    """The cold first render's budget: 1.5 s up to 2,000 trials, 3 s up to 20,000 (the page must not grow
    with the trials: it reads aggregates and one page of the table)."""
    return 1.5 if trials <= 2000 else 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(db_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "MUTRANSFER_DATABASE_URL": db_url,
        "MUTRANSFER_DATA_DIR": str(data_dir),
        "MUTRANSFER_RUN_SWEEPS": "false",
        "MUTRANSFER_AUTH": "off",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/v1/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the service did not become ready")


def measure(url: str, sweep_id: int, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        for _ in range(runs):  # the first load is cold (nothing cached), the others warm
            page.goto(f"{url}/sweeps/{sweep_id}")
            page.wait_for_function("() => window.firstRenderMs !== undefined", timeout=60_000)
            drawn = page.evaluate(
                "() => ['plot-transfer','plot-coord','plot-scaling','plot-optimum']"
                ".every(id => (document.getElementById(id).figure?.data || []).length > 0"
                " && document.getElementById(id).charts.length > 0)"
                " && document.querySelectorAll('#trial-table tbody tr').length > 0"
            )
            if not drawn:
                raise RuntimeError("first render finished without every plot and the table drawn")
            times.append(page.evaluate("() => window.firstRenderMs") / 1000)
        browser.close()
    if errors:
        raise RuntimeError(f"the page logged errors: {errors}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mt-ui-bench-") as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(db_url)
        upgrade_database(engine)
        started = time.perf_counter()
        sweep_id = store_fixture(SweepStore.from_engine(engine), args.trials)
        stored_s = time.perf_counter() - started
        engine.dispose()
        process, url = serve(db_url, Path(tmp) / "data")
        try:
            n = httpx.get(f"{url}/api/v1/sweeps/{sweep_id}/trials?limit=1").json()["total"]
            times = measure(url, sweep_id, args.runs)
        finally:
            process.terminate()
            process.wait(timeout=30)
    result = {
        "trials": n,
        "first_render_cold_s": round(times[0], 3),
        "first_render_warm_median_s": round(statistics.median(times[1:] or times), 3),
        "runs_s": [round(t, 3) for t in times],
        "fixture_store_and_plan_s": round(stored_s, 1),
        "budget_s": budget_s(n),
    }
    if args.json:
        print(json.dumps(result))
    else:
        warm = result["first_render_warm_median_s"]
        print(
            f"sweep page, {n} stored trials (benchmark fixture): first render cold {times[0]:.2f} s, "
            f"warm median {warm:.2f} s (budget {result['budget_s']:g} s); runs {result['runs_s']}"
        )


if __name__ == "__main__":
    main()
