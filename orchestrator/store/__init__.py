"""The sweep store: ORM models (`models`), engines and migrations (`db`), and the `SweepStore` facade."""

from orchestrator.store.db import make_engine, upgrade_database
from orchestrator.store.repository import Conflict, NotFound, Progress, StoreError, SweepFilter, SweepStore

__all__ = [
    "Conflict",
    "NotFound",
    "Progress",
    "StoreError",
    "SweepFilter",
    "SweepStore",
    "make_engine",
    "upgrade_database",
]
