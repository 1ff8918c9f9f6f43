"""Alembic migrations for the request ledger; run programmatically by ``store.migrate``."""
