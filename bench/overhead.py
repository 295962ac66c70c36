"""Orchestration overhead of mutransfer over a bare Ray Tune script (budget: ratio <= 1.02).

Part 1, the same sweep both ways, in one process on one Ray runtime:
- *mutransfer*: the sweep is submitted to a real `Service` (SQLite in a temp dir, the Ray runner); the
  clock runs from submit until the sweep's status is `completed`, so it includes the runner's polling,
  the Optuna grid searcher, the Tune callback, batched ingestion of every step and the status updates;
- *bare*: a plain `Tuner` over the same configs (`tune.grid_search` over the grid's points), the same
  trainable (`orchestrator.executor.trainable.run_trial` -> `workers.train.train`), the same resources,
  concurrency and actor reuse, no searcher, no callback, no database.
Runs are interleaved (bare, mt, mt, bare, ...) after one warm-up, and medians are reported: ratio
mt/bare with a 95 % bootstrap interval over the repeats, and per-trial overhead in ms ((mt - bare) /
trials).

`--integrations` runs part 1 with a live MLflow export (a real `mlflow server` on loopback, `tracking.mlflow`
in the spec, polled every second) and a webhook (a loopback HTTP receiver subscribed to every event type)
on the mutransfer side: the ratio is then what a team pays for its tracker and its chat channel.

Every bench sweep sets `reuse: false`: the repeats run the same trials, which a sweep would otherwise take
from the previous repeat instead of training (docs/operations.md, "Reusing finished proxies").

Part 2, scale: 10,000 trials (`--scale-trials`; 200 with `--quick`) of a trivial trial function (a few
records, no compute) through the service, for trials/minute and the driver's memory: RSS sampled every
0.2 s; the growth per trial after the first quarter (Python and Ray caches warm; the least-squares slope
of RSS against trials done) is reported next to the rows stored.

    .venv/bin/python bench/overhead.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # Ray workers import this file as `bench.overhead` (cwd is propagated)
os.chdir(ROOT)

from orchestrator.executor.cluster import ensure_ray, shutdown_ray  # noqa: E402
from orchestrator.executor.ray_executor import RayExecutor  # noqa: E402
from orchestrator.executor.search import distributions  # noqa: E402
from orchestrator.executor.trainable import per_trial, run_trial  # noqa: E402
from orchestrator.runner import SweepRunner  # noqa: E402
from orchestrator.service import Service  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from orchestrator.spec import SweepSpec, parse_spec  # noqa: E402
from orchestrator.status import BEFORE_PLANNING, SETTLED, SweepStatus  # noqa: E402
from orchestrator.trial_config import trial_config  # noqa: E402
from workers.config import TrialConfig  # noqa: E402
from workers.metrics import COMPLETED, StepMetrics  # noqa: E402

TRIVIAL_FN = "bench.overhead:trivial_trial"


def trivial_trial(config: TrialConfig) -> Iterator[StepMetrics]:
    """A trial with no compute: `steps` records and a final one, for the scale test."""
    record = StepMetrics(
        step=0, train_loss=1.0, tokens=0, lr=config.lr, grad_norm=1.0, val_loss=None, wall_time=0.0
    )
    for step in range(1, config.steps + 1):
        record = StepMetrics(
            step=step,
            train_loss=1.0 / step,
            tokens=step,
            lr=config.lr,
            grad_norm=1.0,
            val_loss=None,
            wall_time=0.0,
        )
        yield record
    record.status, record.final_train_loss, record.final_val_loss = (
        COMPLETED,
        record.train_loss,
        record.train_loss,
    )
    yield record


def sweep_spec(
    trials_per_width: int,
    steps: int,
    widths: list[int],
    *,
    grid: bool,
    cpus: float,
    conc: int,
    tracking: str | None = None,
) -> SweepSpec:
    search: dict[str, Any] = (
        {
            "algorithm": "grid",
            "space": {"lr": {"scale": "log", "low": 1e-3, "high": 3e-2, "grid_points": trials_per_width}},
        }
        if grid
        else {
            "algorithm": "random",
            "trials_per_width": trials_per_width,
            "space": {"lr": {"scale": "log", "low": 1e-3, "high": 3e-2}},
        }
    )
    return parse_spec(
        {
            "name": "overhead-bench",
            "parametrizations": ["mup"],
            "base_width": widths[0],
            "model": {"depth": 1, "head_dim": 8, "context_length": 32},
            "proxy": {"widths": widths, "steps": steps, "batch_size": 8, "seeds": [0], "eval_every": steps},
            "search": search,
            "target": {"width": widths[-1] * 2, "steps": steps, "auto_launch": False},
            "resources": {"cpus_per_trial": cpus, "max_concurrent_trials": conc},
            "preflight": "off",
            "reuse": False,
            **({"tracking": {"mlflow": {"uri": tracking, "experiment": "bench"}}} if tracking else {}),
        }
    )


def run_bare(spec: SweepSpec, data_dir: Path) -> float:
    """The same trials as a plain Tune script: grid over the configs, same trainable and resources."""
    from ray import tune

    threads = max(1, int(spec.resources.cpus_per_trial))
    first = spec.searches()[0]
    base = trial_config(
        spec,
        parametrization=first.parametrization,
        width=first.width,
        depth=first.depth,
        seed=0,
        hparams={},
        threads=threads,
    ).to_dict()
    configs = [
        {
            "trial": per_trial(
                c.parametrization, c.width, c.depth, 0, {"lr": lr}, spec.trial_budget(c.tokens, c.batch_size)
            ),
            "trial_key": f"{c.parametrization}-{c.width}-{lr}",
        }
        for c in spec.searches()
        for lr in distributions(spec)["lr"].choices  # type: ignore[attr-defined]
    ]
    started = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_unwrap, base=base), {"cpu": spec.resources.cpus_per_trial}),
        param_space={"cfg": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=spec.resources.max_concurrent_trials,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: trial.trial_id,
        ),
        run_config=tune.RunConfig(
            storage_path=str(data_dir / "bare"), name=f"bare-{time.time_ns()}", verbose=0
        ),
    )
    tuner.fit()
    return time.perf_counter() - started


def _unwrap(config: dict[str, Any], base: dict[str, Any]) -> None:
    """Tune's grid search puts each config under one key; the trainable is mutransfer's own."""
    run_trial(config["cfg"], base)


class ServiceUnderTest:
    """A real Service (SQLite, Ray runner) in this process, sharing the Ray runtime already started."""

    def __init__(
        self, data_dir: Path, trial_fn: str = "workers.train:train", mlflow_poll_s: float = 5.0
    ) -> None:
        settings = Settings.load(
            {
                "data_dir": data_dir,
                "database_url": f"sqlite:///{data_dir / 'mt.db'}",
                "mlflow_poll_s": mlflow_poll_s,
            },
            env={},
        )
        executor = RayExecutor(data_dir, trial_fn=trial_fn)

        def factory(service: Service) -> SweepRunner:
            return SweepRunner(service.store, executor, data_dir, poll_s=0.2)

        self.service = Service(settings, runner_factory=factory)
        self.service.start()

    def run(self, spec: SweepSpec, on_tick: Any = None, on_proxies_done: Any = None) -> float:
        """Seconds from submission until the proxies are done (the sweep moves on to planning): the part
        that bare Tune also does. The end is the time the service recorded for that status change (its
        `status` event), not when this loop saw it (a lag bare Tune's clock does not have). The plan that
        follows is waited out, untimed and unsampled (`on_proxies_done` is called when the loop sees the
        change)."""
        started = time.time()  # the wall clock, as the service's event times
        sweep = self.service.submit(spec.model_dump(mode="json"))
        self.last_sweep_id = sweep.id
        seen = False
        while True:
            status = SweepStatus(self.service.store.get_sweep(sweep.id).status)
            if not seen and status not in BEFORE_PLANNING:
                seen = True
                if on_proxies_done is not None:
                    on_proxies_done()
            if status in SETTLED:
                break
            if on_tick is not None and not seen:
                on_tick(sweep.id)
            time.sleep(0.25)  # the end's time comes from the store: polling faster only loads the driver
        if status in (SweepStatus.FAILED, SweepStatus.CANCELLED, SweepStatus.PREFLIGHT_FAILED):
            raise RuntimeError(f"bench sweep ended {status}: {self.service.store.get_sweep(sweep.id).error}")
        return self._left_proxies_at(sweep.id) - started

    def _left_proxies_at(self, sweep_id: int) -> float:
        """When the sweep's status first left the proxy stages, from its event log (UTC)."""
        for event in self.service.store.list_events(sweep_id, limit=10_000):
            if event.kind == "status" and SweepStatus((event.data or {})["to"]) not in BEFORE_PLANNING:
                ts = event.ts if event.ts.tzinfo else event.ts.replace(tzinfo=UTC)  # SQLite drops the zone
                return ts.timestamp()
        raise RuntimeError(f"sweep {sweep_id} settled without leaving the proxy stages")

    def stop(self) -> None:
        self.service.stop()


class Integrations:
    """A real MLflow server and a webhook receiver on loopback, for `--integrations`."""

    def __init__(self, data_dir: Path) -> None:
        import subprocess
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import httpx

        self.deliveries = 0
        bench = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                bench.deliveries += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.webhook_url = f"http://127.0.0.1:{self.receiver.server_address[1]}/hook"
        port = _free_port()
        self.mlflow_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{data_dir / 'mlflow.db'}"]
        command += ["--artifacts-destination", str(data_dir / "mlflow-art")]
        self.mlflow = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.mlflow_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the MLflow server did not start")
            time.sleep(0.5)

    def subscribe(self, svc: ServiceUnderTest) -> None:
        store = svc.service.store
        project = store.ensure_project()
        store.webhooks.add(
            project.id, project.name, self.webhook_url, "whsec_bench", ["sweep.status", "plan.ready"]
        )

    def close(self) -> None:
        self.receiver.shutdown()
        self.mlflow.terminate()
        self.mlflow.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def part1(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    # Repeats: one run's training time varies by about 10 % on 2 busy cores (the trials' threads share them
    # with the driver), so a ratio needs several pairs to say anything at the 2 % level; the interval below
    # says how much it can.
    points, steps, repeats = (4, 30, 6) if args.quick else (6, 60, 6)
    repeats = args.repeats or repeats
    integrations = Integrations(data_dir) if args.integrations else None
    tracking = integrations.mlflow_url if integrations else None
    spec = sweep_spec(points, steps, [16, 32], grid=True, cpus=2, conc=1, tracking=tracking)
    warm = sweep_spec(2, 5, [16, 32], grid=True, cpus=2, conc=1, tracking=tracking)
    svc = ServiceUnderTest(data_dir / "p1", mlflow_poll_s=1.0)
    if integrations:
        integrations.subscribe(svc)
    try:
        run_bare(warm, data_dir)
        svc.run(warm)
        bare, mt = [], []
        for i in range(repeats):
            order = (run_bare, "mt") if i % 2 == 0 else ("mt", run_bare)
            for which in order:
                if which == "mt":
                    mt.append(svc.run(spec))
                else:
                    bare.append(run_bare(spec, data_dir))
    finally:
        svc.stop()
        if integrations:
            integrations.close()
    trials = spec.total_trials()
    b, m = statistics.median(bare), statistics.median(mt)
    return {
        "integrations": (
            {"mlflow": integrations.mlflow_url, "webhook_deliveries": integrations.deliveries}
            if integrations
            else None
        ),
        "trials": trials,
        "steps": steps,
        "bare_s": [round(x, 2) for x in bare],
        "mutransfer_s": [round(x, 2) for x in mt],
        "ratio": round(m / b, 3),
        "ratio_interval_95": [round(x, 3) for x in ratio_interval(mt, bare)],
        # per repeat (two runs back to back, order alternating): their spread is what the ratio can resolve
        "pair_ratios": [round(x / y, 3) for x, y in zip(mt, bare, strict=True)],
        "overhead_ms_per_trial": round((m - b) / trials * 1000, 1),
    }


def part2(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    n = args.scale_trials or (200 if args.quick else 10_000)
    spec = sweep_spec(n // 2, 5, [16, 32], grid=False, cpus=1, conc=2)
    proc = psutil.Process()
    samples: list[tuple[int, int]] = []  # (trials done, rss bytes)
    peak = [proc.memory_info().rss]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.2)

    svc = ServiceUnderTest(data_dir / "p2", trial_fn=TRIVIAL_FN)
    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    last = [0.0]

    def tick(sweep_id: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            samples.append((svc.service.store.progress(sweep_id).done, proc.memory_info().rss))

    try:
        wall = svc.run(spec, on_tick=tick, on_proxies_done=stop.set)  # the driver's memory while proxies run
        stored = svc.service.store.all_trials(svc.last_sweep_id)
        trials = len(stored)
        rows = sum(len(svc.service.store.trial_metrics(t.id, limit=1_000_000)) for t in stored)
    finally:
        stop.set()
        thread.join()
        svc.stop()
    growth = rss_slope([(d, r) for d, r in samples if d >= n // 4])
    return {
        "trials": trials,
        "metric_rows": rows,
        "wall_s": round(wall, 1),
        "trials_per_minute": round(trials / wall * 60, 1),
        "peak_rss_mb": round(peak[0] / 2**20, 1),
        "rss_growth_kb_per_trial_after_warmup": None if growth is None else round(growth / 1024, 2),
    }


def ratio_interval(mt: list[float], bare: list[float], draws: int = 10_000) -> tuple[float, float]:
    """A 95 % bootstrap interval of median(mt) / median(bare): the repeats (each a back-to-back pair) are
    drawn with replacement. Differences inside it are noise at this number of repeats."""
    rng = random.Random(0)
    n = len(mt)
    ratios = []
    for _ in range(draws):
        picks = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(mt[i] for i in picks) / statistics.median(bare[i] for i in picks))
    ratios.sort()
    return ratios[int(0.025 * draws)], ratios[int(0.975 * draws) - 1]


def rss_slope(samples: list[tuple[int, int]]) -> float | None:
    """Bytes of RSS per finished trial: the least-squares slope over the samples (trials done, RSS). A slope,
    not the last sample minus the first: the driver's RSS is a sawtooth (a sweep runs as several Tune runs,
    orchestrator/executor/ray_executor.py), and two end points would measure where the teeth fell."""
    if len(samples) < 3 or samples[-1][0] == samples[0][0]:
        return None
    xs, ys = [float(d) for d, _ in samples], [float(r) for _, r in samples]
    return statistics.linear_regression(xs, ys).slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials and steps (about 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--integrations", action="store_true", help="part 1 with MLflow export and a webhook on (docstring)"
    )
    parser.add_argument("--only-overhead", action="store_true", help="part 1 only")
    parser.add_argument("--only-scale", action="store_true", help="part 2 only")
    parser.add_argument("--repeats", type=int, default=0, help="part 1's interleaved repeats (6)")
    parser.add_argument(
        "--scale-trials", type=int, default=0, help="trivial trials in part 2 (10,000; --quick 200)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mt-b-") as tmp:
        data_dir = Path(tmp)
        ensure_ray(None, data_dir, num_cpus=os.cpu_count())
        try:
            one = None if args.only_scale else part1(args, data_dir)
            two = None if args.only_overhead else part2(args, data_dir)
        finally:
            shutdown_ray()  # before the temp dir goes: Ray's session files live in it
    result = {"overhead": one, "scale": two}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    if one is not None:
        _print_overhead(one)
    if two is not None:
        _print_scale(two)


def _print_overhead(one: dict[str, Any]) -> None:
    print(f"same sweep ({one['trials']} trials x {one['steps']} steps), median of runs:")
    print(f"  bare Ray Tune   {statistics.median(one['bare_s']):8.2f} s   runs {one['bare_s']}")
    print(f"  mutransfer      {statistics.median(one['mutransfer_s']):8.2f} s   runs {one['mutransfer_s']}")
    low, high = one["ratio_interval_95"]
    print(f"  ratio           {one['ratio']:8.3f}     (goal <= 1.02); 95 % interval {low:.3f}-{high:.3f}")
    print(f"  per repeat      {one['pair_ratios']}")
    print(f"  overhead/trial  {one['overhead_ms_per_trial']:8.1f} ms")
    if one["integrations"]:
        print(f"  with MLflow export and a webhook on: {one['integrations']}")


def _print_scale(two: dict[str, Any]) -> None:
    print(f"scale: {two['trials']} trivial trials, {two['metric_rows']} metric rows in {two['wall_s']} s")
    print(f"  trials/minute   {two['trials_per_minute']:8.1f}")
    print(f"  peak RSS        {two['peak_rss_mb']:8.1f} MB (driver: API + runner + Tune)")
    print(f"  RSS growth      {two['rss_growth_kb_per_trial_after_warmup']} KB/trial after warm-up")


if __name__ == "__main__":
    main()
