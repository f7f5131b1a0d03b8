"""Shared fixtures: every test gets its own RSVAULT_HOME and never touches the real one.

Catalog databases: `catalog_url` runs a test once on SQLite and once on a real PostgreSQL
server (`postgres_server`, one per pytest-xdist worker, started by tests/support/pgserver.py),
each time with a fresh, empty database. `postgres_url` is a fresh PostgreSQL database alone.
Tests that touch PostgreSQL belong to the xdist group "postgresql": under `--dist loadgroup`
they run on one worker, so one server serves them all. `catalog_url`'s postgresql case carries
the mark itself; a test using `postgres_url` or `postgres_server` directly adds
`pytestmark = pytest.mark.xdist_group(POSTGRES_GROUP)`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from tests.support.pgserver import PostgresNotInstalled, PostgresServer

POSTGRES_GROUP = "postgresql"

# Property tests judge the code, not the machine: on a loaded 2-core runner a single draw can
# take a second, so timing checks would fail tests for reasons that are not theirs.
settings.register_profile("rsvault", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rsvault")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RSVAULT_HOME", str(tmp_path / "rsvault-home"))
    monkeypatch.delenv("RSVAULT_PASSPHRASE", raising=False)
    monkeypatch.delenv("RSVAULT_DATABASE_URL", raising=False)  # the catalog is the test's own
    return


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for this session (worker), stopped however the session ends.

    Missing binaries fail the test rather than skip it: CI installs PostgreSQL.
    """
    try:
        server = PostgresServer()
    except PostgresNotInstalled as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:  # failed outside the except block: the message alone, without a chain
        pytest.fail(f"PostgreSQL is needed for this test: {missing}", pytrace=False)
    server.start()  # on failure it cleans up after itself and says why, with the server log
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"t_{secrets.token_hex(8)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.xdist_group(POSTGRES_GROUP)),
    ]
)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog database: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        from rsvault.catalog.database import sqlite_url  # only the tests that need it load it

        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url
