"""Process-level counters for Prometheus (docs/operations.md, "Prometheus"): what the sweep runner does,
counted where it happens. The API exports them at `/metrics` beside what it reads from the store at scrape
time (`api/metrics.py`).

One registry per process, not prometheus-client's global one, so importing this module registers nothing
elsewhere and the API decides what `/metrics` shows.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

TRIALS_FINISHED = Counter(
    "mutransfer_trials_finished",
    "Proxy trials that reached a final status (rate(): trials finished per second)",
    ["status"],
    registry=REGISTRY,
)
INGEST_ROWS = Counter(
    "mutransfer_ingest_rows",
    "Metric rows (one per trial step) the runner wrote to the database, as upserts: a trial's final "
    "record rewrites its last step (rate(): ingest rows per second)",
    registry=REGISTRY,
)
INGEST_SECONDS = Histogram(
    "mutransfer_ingest_flush_seconds",
    "Time to write one buffered batch of trial rows and metrics (one transaction)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
