"""Alembic migrations for the registry index; run programmatically by ``index.migrate``."""
