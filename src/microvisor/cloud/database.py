"""The database: URL handling, engine and transactions, and Alembic migrations run at start."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x6D76_6D69_6772  # PostgreSQL advisory lock taken while migrating ("mvmigr")


class DatabaseError(Exception):
    """A database URL that cannot be used, or a database that cannot be reached or migrated."""


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// go through psycopg 3; sqlite URLs stay as they are."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class Database:
    """One engine and its sessions; `transaction()` is the unit of work everything uses."""

    def __init__(self, url: str):
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise DatabaseError(f"{url!r} is not a database URL ({exc})") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise DatabaseError(f"{parsed.get_backend_name()} databases are not supported "
                                "(use sqlite:/// or postgresql://)")
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            self.engine: Engine = create_engine(
                self.url, pool_pre_ping=not self.is_sqlite,
                connect_args={"timeout": 30} if self.is_sqlite else {"connect_timeout": 10})
        except (ArgumentError, ImportError) as exc:
            raise DatabaseError(f"cannot use {parsed.render_as_string(hide_password=True)}: {exc}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest revision shipped in this package."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                if not self.is_sqlite:
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot migrate {self.display_url}: {_first_line(exc)}") from None
        log.info("database %s is at the newest schema", self.display_url)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers (log streams) do not block the writer
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.close()


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
