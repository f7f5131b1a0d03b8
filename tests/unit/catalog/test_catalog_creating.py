"""`Catalog.creating`: a find-or-create that lost a race to another process runs again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rsvault.catalog.database import Catalog
from rsvault.catalog.models import ContainerRow, VaultRow
from rsvault.services.inventory import container_named

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalog(catalog_url: str) -> Catalog:
    catalog = Catalog(catalog_url)
    with catalog.unit_of_work() as session:
        session.add(VaultRow(name="v", vault_id="a" * 64, location="/v", created=NOW))
    return catalog


def _containers(catalog: Catalog) -> int:
    with catalog.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(ContainerRow)) or 0)


def test_a_creation_that_lost_the_race_runs_again_and_finds_the_row(catalog: Catalog) -> None:
    runs: list[int] = []

    def find_or_create(session: Session) -> int:
        runs.append(1)
        if len(runs) == 1:
            # Another process creates the container after this one looked for it...
            with catalog.unit_of_work() as other:
                container_named(other, "v", "host", NOW)
            # ...and this one inserts it too, as container_named would have.
            session.add(ContainerRow(vault_name="v", name="host", kind="Server", registered=NOW))
            session.flush()
        return container_named(session, "v", "host", NOW).id

    try:
        found = catalog.creating(find_or_create)
        assert len(runs) == 2
        with catalog.unit_of_work() as session:
            assert container_named(session, "v", "host", NOW).id == found
        assert _containers(catalog) == 1
    finally:
        catalog.close()


def test_a_conflict_that_stays_is_raised_after_the_last_attempt(catalog: Catalog) -> None:
    runs: list[int] = []

    def always_conflicting(session: Session) -> None:
        runs.append(1)
        for _ in range(2):
            session.add(ContainerRow(vault_name="v", name="twin", kind="Server", registered=NOW))
            session.flush()

    try:
        with pytest.raises(IntegrityError):
            catalog.creating(always_conflicting, attempts=3)
        assert len(runs) == 3
        assert _containers(catalog) == 0  # every attempt was rolled back
    finally:
        catalog.close()
