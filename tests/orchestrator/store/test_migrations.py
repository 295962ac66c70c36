"""The ORM models and the Alembic migrations describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from orchestrator.store.db import downgrade_database, make_engine, upgrade_database
from orchestrator.store.models import DEFAULT_PROJECT, Base, Project

EXPECTED_TABLES = {
    "projects",
    "sweeps",
    "sweep_tags",
    "trials",
    "trial_metrics",
    "coord_check_results",
    "transfer_plans",
    "target_runs",
    "target_metrics",
    "sweep_events",
    "api_tokens",
}


def _diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrations_match_models_and_round_trip(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade_database(engine)
        assert _diff(engine) == []
        assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())

        downgrade_database(engine, "base")
        assert not EXPECTED_TABLES & set(inspect(engine).get_table_names())

        upgrade_database(engine)
        assert _diff(engine) == []
        with engine.connect() as conn:
            assert conn.scalar(select(Project.name)) == DEFAULT_PROJECT
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_at_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade_database(engine)
        upgrade_database(engine)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM projects")) == 1
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert conn.scalar(text("PRAGMA busy_timeout")) > 0
    finally:
        engine.dispose()
