"""The thread that takes sweeps from the store and hands each to the lifecycle, so the API stays responsive.

One runner per database: sweeps are taken one at a time, oldest first, interrupted ones (found in an active
state at start: the service died) before new ones. What happens to a sweep is `orchestrator/lifecycle.py`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from orchestrator.executor.interface import Executor
from orchestrator.lifecycle import Lifecycle
from orchestrator.status import ACTIVE, SweepStatus
from orchestrator.store import Sweep, SweepStore

log = logging.getLogger(__name__)

POLL_S = 1.0


class SweepRunner:
    """Runs queued and interrupted sweeps through their `Lifecycle` on `executor`, in a background thread."""

    def __init__(self, store: SweepStore, executor: Executor, data_dir: Path, *, poll_s: float = POLL_S):
        self.store = store
        self.executor = executor
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self.lifecycle = Lifecycle(store, executor, data_dir, self._stopping)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="mutransfer-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop running trials (they resume at the next start) and wait for the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.executor.shutdown()

    def wake(self) -> None:
        """A sweep was queued, launched or cancelled: look now rather than at the next poll."""
        self._wake.set()

    def run_sweep(self, sweep_id: int) -> None:
        """Advance one sweep in the calling thread (as the loop does)."""
        self.lifecycle.advance(sweep_id)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sweep = self._next_sweep()
            except Exception:  # e.g. the database is briefly down: try again at the next poll
                log.exception("could not read queued sweeps")
                sweep = None
            if sweep is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self.lifecycle.advance(sweep.id)

    def _next_sweep(self) -> Sweep | None:
        interrupted = self.store.sweeps_with_status(sorted(ACTIVE))
        if interrupted:
            return interrupted[0]
        queued = self.store.sweeps_with_status([SweepStatus.QUEUED.value])
        return queued[0] if queued else None
