"""The shipped migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from microvisor.cloud.database import MIGRATIONS, Database, DatabaseError, normalize_url
from microvisor.cloud.models import Base


def test_migrated_schema_matches_the_models(service):
    with service.database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert context.get_current_revision() == head


def test_migrating_twice_is_harmless(service):
    service.database.migrate()


def test_urls():
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    for bad in ("mysql://u@h/db", "not a url"):
        try:
            Database(bad)
        except DatabaseError:
            continue
        raise AssertionError(f"{bad} was accepted")
