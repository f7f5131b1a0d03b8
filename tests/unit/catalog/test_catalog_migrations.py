"""The catalog schema: created by migrations, kept current, rows survive re-opening.

Every test that opens a database runs on SQLite and on PostgreSQL (`catalog_url`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from tests.unit.catalog.conftest import as_utc, backend

from rsvault.catalog.database import HEAD_REVISION, Catalog, current_revision
from rsvault.catalog.models import Base, VaultRow
from rsvault.catalog.repositories import VaultRepository


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("rsvault.catalog").joinpath("migrations"))
    )
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_catalog_url_is_a_new_empty_database_of_its_backend(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    try:
        assert catalog.engine.dialect.name == backend(catalog_url)
        assert catalog.engine.dialect.name in ("sqlite", "postgresql")
    finally:
        catalog.close()


def test_new_catalog_is_migrated_and_rows_survive_reopening(catalog_url: str) -> None:
    created = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    catalog = Catalog(catalog_url)
    assert current_revision(catalog.engine) == HEAD_REVISION
    with catalog.unit_of_work() as session:
        VaultRepository(session).add(
            VaultRow(name="v1", vault_id="a" * 64, location="/x", created=created)
        )
    catalog.close()
    again = Catalog(catalog_url)
    try:
        assert current_revision(again.engine) == HEAD_REVISION
        with again.unit_of_work() as session:
            rows = VaultRepository(session).all()
            assert [row.name for row in rows] == ["v1"]
            assert rows[0].vault_id == "a" * 64
            assert rows[0].location == "/x"
            assert as_utc(rows[0].created) == created
            # the models hand out aware UTC datetimes on every backend (SQLite stores naive UTC)
            assert rows[0].created.utcoffset() == timedelta(0)
    finally:
        again.close()


def test_migrated_schema_has_every_table_and_column_of_the_models(catalog_url: str) -> None:
    """The migrations and the models describe the same tables (a missing migration fails)."""
    catalog = Catalog(catalog_url)
    try:
        inspector = inspect(catalog.engine)
        tables = set(inspector.get_table_names())
        for table in Base.metadata.sorted_tables:
            assert table.name in tables, f"no migration creates table {table.name}"
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            missing = {column.name for column in table.columns} - columns
            assert not missing, f"{table.name}: no migration creates columns {sorted(missing)}"
    finally:
        catalog.close()
