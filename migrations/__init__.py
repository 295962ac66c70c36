"""Alembic migrations for the mutransfer store (shipped inside the package, so an installed service can
upgrade its own database: see `orchestrator.store.db.upgrade_database`)."""
