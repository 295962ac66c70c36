"""Retrying writes through a brief database outage (a PostgreSQL restart, a failover, a locked SQLite).

Only errors that mean "the database could not be reached or the connection broke" are retried; any
other error (a constraint, a bug) is raised at once. A retried write must be one transaction that is
safe to repeat: ingestion's batch is rolled back on error and upserts metrics on (trial_id, step), so
repeating it stores every row exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_FOR_S = 60.0  # longer than a PostgreSQL restart or a managed failover usually takes


def is_transient(exc: BaseException) -> bool:
    """True for errors a later attempt can get past: lost connections, refused connects, pool timeouts."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "database write failed (%s, attempt %d); retrying in %.1f s",
        exc.__class__.__name__,
        state.attempt_number,
        wait,
    )


def retry_transient(write: Callable[[], T], retry_for_s: float = RETRY_FOR_S) -> T:
    """`write()`, retried with exponential backoff (0.1 s to 2 s) on transient database errors for up to
    `retry_for_s` seconds; the last error is raised if the database does not come back in time."""
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=0.1, min=0.1, max=2.0),
        stop=stop_after_delay(retry_for_s),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(write)
