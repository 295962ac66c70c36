"""The store's errors; the API turns each kind into a 4xx with its message (`api/errors.py`), and the
database's own "cannot answer now" errors into a 503."""

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# The database could not answer (down, restarting, pool exhausted): retry later, nothing was written.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    DBAPIError,
)
# Any error raised by the database layer (the CLI reports these as "cannot reach the database").
DatabaseError = SQLAlchemyError


def connection_lost(exc: Exception) -> bool:
    """True when `exc` means the database is unreachable now rather than that the statement was wrong."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError):
    """The row does not exist (or belongs to another project: existence is not revealed)."""


class Conflict(StoreError):
    """The request does not fit the row's current state (HTTP 409)."""
