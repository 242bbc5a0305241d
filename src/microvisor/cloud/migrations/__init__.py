"""Alembic migrations of the service's database, run by `Database.migrate` at start."""
