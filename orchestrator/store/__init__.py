"""The sweep store: the only package that speaks SQL (docs/architecture.md, "The store").

`SweepStore` is the facade (sweeps, trials, events, progress; plans, coordinate checks, target runs and
tokens as `store.plans`, `store.coord_checks`, `store.targets`, `store.tokens`); `ingest` holds the
executor's sinks; `db` the engines and migrations. Rows come back as detached snapshots of the ORM classes
re-exported here for type hints: read them, change the database only through the store's methods.
"""

from orchestrator.store.db import make_engine, upgrade_database
from orchestrator.store.errors import Conflict, NotFound, StoreError
from orchestrator.store.models import (
    DEFAULT_PROJECT,
    CoordCheckResult,
    Sweep,
    SweepEvent,
    TargetMetric,
    TargetRun,
    TransferPlan,
    Trial,
    TrialMetric,
)
from orchestrator.store.repository import Progress, SweepFilter, SweepStore
from orchestrator.store.summary import HpAxis, SummaryGroup, SummaryPoint
from orchestrator.store.tokens import TokenInfo
from orchestrator.store.trial_query import TRIAL_SORT_KEYS, TrialFilter

__all__ = [
    "DEFAULT_PROJECT",
    "TRIAL_SORT_KEYS",
    "Conflict",
    "CoordCheckResult",
    "HpAxis",
    "NotFound",
    "Progress",
    "StoreError",
    "SummaryGroup",
    "SummaryPoint",
    "Sweep",
    "SweepEvent",
    "SweepFilter",
    "SweepStore",
    "TargetMetric",
    "TargetRun",
    "TokenInfo",
    "TransferPlan",
    "Trial",
    "TrialFilter",
    "TrialMetric",
    "make_engine",
    "upgrade_database",
]
