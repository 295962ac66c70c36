"""Alembic environment: runs against a connection handed in by the service, or (from the `alembic`
command) against $MUTRANSFER_DATABASE_URL, else the ini file's URL.

No logging config is applied (the service owns logging). On PostgreSQL an advisory lock serialises
concurrent upgrades (two API replicas starting together); SQLite's write lock does the same there.
"""

import os
from typing import Any

from alembic import context
from sqlalchemy import Connection, text

from orchestrator.store.db import make_engine
from orchestrator.store.models import Base, UTCDateTime

MIGRATION_LOCK_ID = 0x6D757472  # "mutr"

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write `UTCDateTime` as the plain type it stores, so migrations never import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    is_postgres = connection.dialect.name == "postgresql"
    if is_postgres:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("MUTRANSFER_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database URL")
run_migrations_online()
