"""One migrator at a time: processes that open a new catalog together must not all migrate it."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

# Any constant works: it names the one advisory lock rsvault takes on PostgreSQL.
_ADVISORY_KEY = 0x72737661756C74  # "rsvault"


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held while the schema is checked and upgraded; others wait, then find it current."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY})
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield  # nothing another process could share
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
