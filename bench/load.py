"""Load test of the store: many trials reporting metrics while readers poll the API.

`--reporters` running trials (default 200, spread over `--sweeps` sweeps) each report one metrics record per
step at `--rate` steps per second. As in the executor, where Ray workers report to the Tune driver and its
callback feeds `orchestrator.store.ingest.Ingest`, one driver thread per sweep receives its trials' records
(each at the moment its worker would have sent it, the trials' clocks staggered) and flushes every
`--flush-every` seconds in the same thread, as the callback's `on_step_end` does: a record that arrives
while the driver is writing waits, and that wait counts in its report → commit latency. The offered load is
exactly reporters × rate: a driver that falls behind hands over the late records at once, with the time
they were due.
Meanwhile `--readers` threads make the sweep page's requests over HTTP from a real server (uvicorn in a
subprocess, auth on, a project token), in turn: the sweep (`GET /api/v1/sweeps/{id}`), the μTransfer plot's
summary, the first page of the trial table and the event log. `--stored-trials N` first stores a finished
sweep of N trials (with `--stored-steps` metric rows each), which the readers read too: the page must stay
fast on a large study while the reporters write. At the end every reported (trial, step) is
looked up: each must be stored exactly once, with the values reported (none lost, none duplicated).

With `--restart-postgres-at S` PostgreSQL is restarted S seconds in (pg_ctlcluster): ingestion must wait
it out and lose nothing, and the API must answer 503, not crash, meanwhile.

Reported: rows/s offered (reported), sustained (committed from the 2nd second until the load stopped: what
the store keeps up with) and overall (all rows over the whole run, trial creation and the final drain
included); p50/p99 of report → commit (when the row is durable; a row reported while a flush swaps its
buffer may be counted one flush late), of each flush and of the sweep page's requests; the status codes
readers saw.

    .venv/bin/python bench/load.py --database sqlite --duration 20
    .venv/bin/python bench/load.py --database postgres --duration 20 [--restart-postgres-at 8]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from sqlalchemy import func, select, text

from orchestrator.executor.interface import TrialOutcome, TrialRequest
from orchestrator.spec import parse_spec
from orchestrator.store import SweepStore
from orchestrator.store.db import make_engine, normalize_url, upgrade_database
from orchestrator.store.ingest import Ingest
from orchestrator.store.models import Trial, TrialMetric
from orchestrator.tokens import create_token

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_PROJECT = "load-bench"
WARM_UP_S = 2.0  # the sustained rate leaves out the start (trial rows created, first flushes)


@dataclass
class LoadConfig:
    database_url: str
    reporters: int = 200
    duration_s: float = 20.0
    rate_hz: float = 25.0  # steps per second per reporter
    readers: int = 4
    sweeps: int = 4  # reporters are spread over this many sweeps (one Ingest + flusher each)
    flush_every_s: float = 0.5
    restart_postgres_at_s: float | None = None
    stored_trials: int = 0  # a finished sweep of this many trials, read by the readers too
    stored_steps: int = 0  # metric rows per stored trial


@dataclass
class Percentiles:
    n: int
    p50_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> Percentiles:
        if len(seconds) < 2:
            value = seconds[0] * 1000 if seconds else None
            return cls(len(seconds), value, value)
        cuts = statistics.quantiles(seconds, n=100, method="inclusive")
        return cls(len(seconds), round(cuts[49] * 1000, 2), round(cuts[98] * 1000, 2))


@dataclass
class LoadReport:
    database: str
    config: dict[str, Any]
    duration_s: float
    load_s: float  # the trials reported this long; then the drivers wrote what was still buffered
    drain_s: float
    rows_reported: int
    rows_stored: int
    offered_rows_per_s: float  # rows reported per second of load: reporters x rate
    sustained_rows_per_s: float | None  # rows committed per second from WARM_UP_S until the load stopped
    rows_per_s: float  # rows committed per second, from the start until the last row was committed
    missing: int
    duplicated: int
    extra: int
    wrong_values: int
    report_to_commit: Percentiles
    flush: Percentiles
    read: Percentiles
    read_by_request: dict[str, Percentiles]
    read_status: dict[str, int]
    flush_errors: int
    postgres_restart_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exactly_once(self) -> bool:
        counts = (self.missing, self.duplicated, self.extra, self.wrong_values)
        return all(n == 0 for n in counts) and self.rows_stored == self.rows_reported

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exactly_once": self.exactly_once}


def loss_of(key: str, step: int) -> float:
    """A value unique to (trial, step), so a row written to the wrong place or twice is visible."""
    return (zlib.crc32(key.encode()) % 1000) / 1000.0 + step * 1e-3


class Driver:
    """The driver side of one sweep, as the executor runs it: its trials' records arrive at their due times
    and one thread hands them to `Ingest` and flushes it every `flush_every_s`, like
    `StoreCallback.on_step_end`. Each flush is timed, and each record remembers which flush was next when it
    was handed over, so its report → commit latency is exact."""

    def __init__(
        self, store: SweepStore, sweep_id: int, flush_every_s: float, trials: list[int], rate_hz: float
    ) -> None:
        self.sweep_id = sweep_id
        self.ingest = Ingest(store, sweep_id)
        self.flush_every_s = flush_every_s
        self.trials = trials
        self.rate_hz = rate_hz
        self.flushes: list[tuple[float, float, bool, int]] = []  # (start, end, succeeded, rows), in order
        self.handed: list[tuple[str, int, float, int]] = []  # (key, step, reported at, next flush)
        self.reported: dict[tuple[int, str, int], float] = {}  # -> loss
        self.flush_errors = 0
        self._flush = self.ingest.flush
        self.ingest.flush = self.flush  # type: ignore[method-assign]  # a full buffer flushes through here

    def flush(self) -> None:
        start = time.perf_counter()
        before = self.ingest.rows_written
        ok = False
        try:
            self._flush()
            ok = True
        finally:
            self.flushes.append((start, time.perf_counter(), ok, self.ingest.rows_written - before))

    def run(self, stop: threading.Event) -> None:
        keys = [f"mup-w64-d2-i{index}-s0" for index in self.trials]
        for index, key in zip(self.trials, keys, strict=True):
            self.ingest.trial_created(TrialRequest(key, "mup", 64, 2, index, 0, {"lr": 0.01}))
            self.ingest.trial_started(key, "bench-node")
        period = 1.0 / self.rate_hz
        start = time.perf_counter()
        due = [(start + period * i / len(keys), i) for i in range(len(keys))]  # staggered clocks
        heapq.heapify(due)
        steps = [0] * len(keys)
        last_flush = start
        while not stop.is_set():
            now = time.perf_counter()
            while due[0][0] <= now:
                at, i = heapq.heappop(due)
                steps[i] += 1
                self._report(keys[i], steps[i], at)
                heapq.heappush(due, (at + period, i))
            if now - last_flush >= self.flush_every_s:
                last_flush = now
                self._try_flush()
            wait = min(due[0][0], last_flush + self.flush_every_s) - time.perf_counter()
            if wait > 0:
                stop.wait(wait)
        for key, step in zip(keys, steps, strict=True):
            outcome = TrialOutcome(status="completed", final_loss=loss_of(key, step), steps_done=step)
            self.ingest.trial_finished(key, outcome)
        for _ in range(3):  # the executor's final flush (each try already retries for a minute)
            if self._try_flush():
                return

    def _report(self, key: str, step: int, at: float) -> None:
        loss = loss_of(key, step)
        record = {"step": step, "train_loss": loss, "lr": 0.01, "grad_norm": 1.0, "tokens": step * 1024}
        self.reported[(self.sweep_id, key, step)] = loss
        self.handed.append((key, step, at, len(self.flushes)))
        self.ingest.trial_metrics(key, record)

    def _try_flush(self) -> bool:
        try:
            self.flush()
        except Exception:  # retries exhausted: the batch was requeued and the next flush tries again
            self.flush_errors += 1
            return False
        return True

    def commit_latencies(self) -> list[float]:
        """For each record: end of the first successful flush at or after the one that was next for it."""
        next_ok: list[float | None] = [None] * (len(self.flushes) + 1)
        for i in range(len(self.flushes) - 1, -1, -1):
            _, end, ok, _ = self.flushes[i]
            next_ok[i] = end if ok else next_ok[i + 1]
        return [next_ok[seq] - at for _, _, at, seq in self.handed if next_ok[seq] is not None]


def sustained_rate(drivers: list[Driver], since: float, until: float) -> float | None:
    """Rows committed per second between two moments of the load (flushes that ended in the window): the
    rate the store keeps up with, free of the start (trial rows created) and of the drain after the load."""
    rows = sum(n for d in drivers for _, end, ok, n in d.flushes if ok and since < end <= until)
    return round(rows / (until - since), 1) if until > since else None


@dataclass
class _Shared:
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    read_latency: list[float] = field(default_factory=list)
    read_by_request: dict[str, list[float]] = field(default_factory=dict)
    read_status: Counter[str] = field(default_factory=Counter)


# The sweep page's requests on load and on each poll (api/ui/static/js/sweep_page.js).
PAGE_REQUESTS = {
    "sweep": "/sweeps/{id}",
    "summary": "/sweeps/{id}/trials/summary",
    "trials page": "/sweeps/{id}/trials?limit=50&sort=final_val_loss",
    "events": "/sweeps/{id}/events?limit=200",
}


def _reader(shared: _Shared, url: str, token: str, sweep_ids: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    latencies: dict[str, list[float]] = {name: [] for name in PAGE_REQUESTS}
    statuses: Counter[str] = Counter()
    requests = list(PAGE_REQUESTS.items())
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30.0) as client:
        i = 0
        while not shared.stop.is_set():
            sweep_id = sweep_ids[(i // len(requests)) % len(sweep_ids)]
            name, path = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            try:
                status = str(client.get(path.format(id=sweep_id)).status_code)
            except httpx.HTTPError as exc:
                status = exc.__class__.__name__
            latencies[name].append(time.perf_counter() - started)
            statuses[status] += 1
            shared.stop.wait(0.02)
    with shared.lock:
        for name, seconds in latencies.items():
            shared.read_latency.extend(seconds)
            shared.read_by_request.setdefault(name, []).extend(seconds)
        shared.read_status.update(statuses)


def store_finished_sweep(engine: Any, store: SweepStore, spec: Any, trials: int, steps: int) -> int:
    """A finished sweep of `trials` completed trials (`steps` metric rows each), inserted in bulk."""
    from sqlalchemy import insert

    sweep_id = store.create_sweep(spec, BENCH_PROJECT).id
    lrs, stds = spec.search.space["lr"].grid(), spec.search.space["init_std"].grid()  # the spec's grid
    rows = [
        {
            "sweep_id": sweep_id,
            "trial_key": f"stored-{i}",
            "parametrization": ("sp", "mup")[i % 2],
            "width": (32, 64, 128)[i % 3],
            "depth": 2,
            "seed": 0,
            "search_index": i,
            "hparams": {"lr": lrs[i % len(lrs)], "init_std": stds[(i // len(lrs)) % len(stds)]},
            "status": "completed",
            "final_loss": 2.0 + ((i * 104729) % 1000) / 1000,
            "final_val_loss": 2.0 + ((i * 104729) % 1000) / 1000,
            "steps_done": steps,
            "attempts": 1,
        }
        for i in range(trials)
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Trial), rows[start : start + 5000])
        if steps:
            ids = [row[0] for row in conn.execute(select(Trial.id).where(Trial.sweep_id == sweep_id))]
            batch: list[dict[str, Any]] = []
            for trial_id in ids:
                batch += [
                    {"trial_id": trial_id, "step": s, "train_loss": 3.0 - s * 1e-3} for s in range(steps)
                ]
                if len(batch) >= 50_000:
                    conn.execute(insert(TrialMetric), batch)
                    batch = []
            if batch:
                conn.execute(insert(TrialMetric), batch)
    return sweep_id


def restart_postgres() -> float:
    """Restart the local PostgreSQL cluster (Debian's pg_ctlcluster); returns how long it took."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.perf_counter()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.perf_counter() - started


@contextmanager
def api_server(database_url: str, data_dir: Path) -> Iterator[str]:
    """The real app under uvicorn in a subprocess (auth on, runner off) on a free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "MUTRANSFER_DATABASE_URL": database_url,
        "MUTRANSFER_DATA_DIR": str(data_dir),
        "MUTRANSFER_RUN_SWEEPS": "false",
        "MUTRANSFER_AUTH": "on",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the API server exited:\n{log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/api/v1/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def bench_database(which: str) -> Iterator[str]:
    """`sqlite` (a temp file), `postgres` (a fresh schema in the local `test` database, dropped after), or
    a URL used as given."""
    if which == "sqlite":
        with tempfile.TemporaryDirectory(prefix="mt-load-") as tmp:
            yield f"sqlite:///{tmp}/load.db"
        return
    if which != "postgres":
        yield which
        return
    base = normalize_url(os.environ.get("MUTRANSFER_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    schema = f"load_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _verify(store: SweepStore, sweep_ids: list[int], reported: dict) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(
            select(Trial.sweep_id, Trial.trial_key, TrialMetric.step, TrialMetric.train_loss)
            .join(Trial, TrialMetric.trial_id == Trial.id)
            .where(Trial.sweep_id.in_(sweep_ids))
        ).all()
        distinct = session.scalar(
            select(func.count()).select_from(
                select(TrialMetric.trial_id, TrialMetric.step)
                .join(Trial, TrialMetric.trial_id == Trial.id)
                .where(Trial.sweep_id.in_(sweep_ids))
                .distinct()
                .subquery()
            )
        )
    stored = Counter((sweep_id, key, step) for sweep_id, key, step, _ in rows)
    values = {(sweep_id, key, step): loss for sweep_id, key, step, loss in rows}
    wrong = sum(1 for k, loss in reported.items() if k in values and abs((values[k] or -1.0) - loss) > 1e-9)
    return {
        "rows_stored": len(rows),
        "missing": sum(1 for k in reported if k not in stored),
        "duplicated": sum(n - 1 for n in stored.values() if n > 1) + (len(rows) - int(distinct or 0)),
        "extra": sum(1 for k in stored if k not in reported),
        "wrong_values": wrong,
    }


def run_load(config: LoadConfig) -> LoadReport:
    engine = make_engine(config.database_url)
    upgrade_database(engine)
    store = SweepStore.from_engine(engine)
    spec = parse_spec(yaml.safe_load((REPO_ROOT / "examples" / "tiny-cpu.yaml").read_text()))
    sweep_ids = [store.create_sweep(spec, BENCH_PROJECT).id for _ in range(config.sweeps)]
    read_ids = list(sweep_ids)
    if config.stored_trials:
        read_ids.append(store_finished_sweep(engine, store, spec, config.stored_trials, config.stored_steps))
    _, token = create_token(store, BENCH_PROJECT, name="load-bench", read_only=True)
    drivers = [
        Driver(
            store,
            sweep_id,
            config.flush_every_s,
            list(range(config.reporters))[i :: len(sweep_ids)],
            config.rate_hz,
        )
        for i, sweep_id in enumerate(sweep_ids)
    ]
    shared = _Shared()
    restart_s: list[float] = []
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="mt-load-srv-") as tmp,
        api_server(config.database_url, Path(tmp)) as url,
    ):
        driver_threads = [threading.Thread(target=d.run, args=(shared.stop,), daemon=True) for d in drivers]
        readers = [
            threading.Thread(target=_reader, args=(shared, url, token, read_ids))
            for _ in range(config.readers)
        ]
        started = time.perf_counter()
        for thread in driver_threads + readers:
            thread.start()
        if config.restart_postgres_at_s is not None:
            shared.stop.wait(config.restart_postgres_at_s)
            restart_s.append(restart_postgres())
        shared.stop.wait(max(0.0, config.duration_s - (time.perf_counter() - started)))
        shared.stop.set()  # the trials stop reporting and the readers stop reading
        load_end = time.perf_counter()
        load_s = load_end - started
        for thread in readers:
            thread.join()
        for thread in driver_threads:
            thread.join(timeout=300)
        if any(thread.is_alive() for thread in driver_threads):
            notes.append("a driver did not finish writing within 300 s after the load stopped")
        elapsed = time.perf_counter() - started
    reported = {k: v for d in drivers for k, v in d.reported.items()}
    checks = _verify(store, sweep_ids, reported)
    engine.dispose()
    flush_durations = [end - start for d in drivers for start, end, ok, _ in d.flushes if ok]
    commit_latencies = [latency for d in drivers for latency in d.commit_latencies()]
    return LoadReport(
        database=engine.dialect.name,
        config={k: v for k, v in asdict(config).items() if k != "database_url"},
        duration_s=round(elapsed, 2),
        load_s=round(load_s, 2),
        drain_s=round(elapsed - load_s, 2),
        rows_reported=len(reported),
        offered_rows_per_s=round(len(reported) / load_s, 1),
        sustained_rows_per_s=sustained_rate(drivers, started + WARM_UP_S, load_end),
        rows_per_s=round(checks["rows_stored"] / elapsed, 1),
        report_to_commit=Percentiles.of(commit_latencies),
        flush=Percentiles.of(flush_durations),
        read=Percentiles.of(shared.read_latency),
        read_by_request={k: Percentiles.of(v) for k, v in sorted(shared.read_by_request.items())},
        read_status=dict(shared.read_status),
        flush_errors=sum(d.flush_errors for d in drivers),
        postgres_restart_s=round(restart_s[0], 2) if restart_s else None,
        notes=notes,
        **checks,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite", help="sqlite | postgres | a SQLAlchemy URL")
    parser.add_argument("--reporters", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=25.0, help="steps per second per reporter")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--sweeps", type=int, default=4)
    parser.add_argument("--flush-every", type=float, default=0.5)
    parser.add_argument("--restart-postgres-at", type=float, default=None, help="seconds into the run")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--stored-trials", type=int, default=0, help="a finished sweep of N trials to read")
    parser.add_argument("--stored-steps", type=int, default=0, help="metric rows per stored trial")
    args = parser.parse_args(argv)
    with bench_database(args.database) as url:
        config = LoadConfig(
            database_url=url,
            reporters=args.reporters,
            duration_s=args.duration,
            rate_hz=args.rate,
            readers=args.readers,
            sweeps=args.sweeps,
            flush_every_s=args.flush_every,
            restart_postgres_at_s=args.restart_postgres_at,
            stored_trials=args.stored_trials,
            stored_steps=args.stored_steps,
        )
        report = run_load(config)
    document = json.dumps(report.to_dict(), indent=2)
    print(document)
    if args.json:
        args.json.write_text(document + "\n")
    return 0 if report.exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
