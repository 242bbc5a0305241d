"""A throw-away PostgreSQL database for a test session (127.0.0.1:5432, trust auth), or why there is none."""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

HOST, PORT, ADMIN_DATABASE = "127.0.0.1", 5432, "test"
# MICROVISOR_TEST_POSTGRES names a database the tests may connect to and create databases from.
ENV_URL = "MICROVISOR_TEST_POSTGRES"


def _candidates() -> list[str]:
    if os.environ.get(ENV_URL):
        return [os.environ[ENV_URL]]
    users = dict.fromkeys([getpass.getuser(), "postgres"])
    return [f"postgresql://{user}@{HOST}:{PORT}/{ADMIN_DATABASE}" for user in users]


def admin_url() -> tuple[str | None, str]:
    """A URL that connects (as the OS user, else postgres), or None and what went wrong."""
    problems = []
    for url in _candidates():
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url, ""
        except psycopg.Error as exc:
            problems.append(f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
    return None, "; ".join(problems)


def unavailable(reason: str) -> None:
    """Under CI an unreachable PostgreSQL fails the run; elsewhere its tests are skipped."""
    message = f"PostgreSQL for the tests is not reachable ({reason})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI requires it", pytrace=False)
    pytest.skip(message)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create mv_test_<random> (or a schema in the admin database when CREATE DATABASE is refused),
    yield a SQLAlchemy URL for it, drop it afterwards."""
    url, reason = admin_url()
    if url is None:
        unavailable(reason)
    name = f"mv_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as admin:
        try:
            admin.execute(f'CREATE DATABASE "{name}"')
            schema = None
        except psycopg.errors.InsufficientPrivilege:
            admin.execute(f'CREATE SCHEMA "{name}"')
            schema = name
    base, _, _ = url.rpartition("/")
    target = f"{url}?options=-csearch_path%3D{schema}" if schema else f"{base}/{name}"
    try:
        yield target
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            if schema:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            else:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
