"""Helpers for catalog tests on both backends (the `catalog_url` fixture is in tests/conftest.py).

Read with plain SQL, a DateTime(timezone=True) column comes back aware from PostgreSQL and naive
(holding UTC) from SQLite; the models' UtcDateTime gives aware UTC on both. Compare through
`as_utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import make_url


def as_utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime (a naive value is taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def backend(url: str) -> str:
    """ "sqlite" or "postgresql"."""
    return make_url(url).get_backend_name()
