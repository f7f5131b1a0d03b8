"""The catalog schema: created by migrations, kept current, rows survive re-opening."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from rsvault.catalog.database import HEAD_REVISION, Catalog, current_revision, sqlite_url
from rsvault.catalog.models import VaultRow
from rsvault.catalog.repositories import VaultRepository


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("rsvault.catalog").joinpath("migrations"))
    )
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_new_catalog_is_migrated_and_rows_survive_reopening(tmp_path: Path) -> None:
    catalog = Catalog(sqlite_url(tmp_path))
    assert current_revision(catalog.engine) == HEAD_REVISION
    with catalog.unit_of_work() as session:
        VaultRepository(session).add(
            VaultRow(name="v1", vault_id="a" * 64, location="/x", created=datetime.now(UTC))
        )
    catalog.close()
    again = Catalog(sqlite_url(tmp_path))
    with again.unit_of_work() as session:
        assert [row.name for row in VaultRepository(session).all()] == ["v1"]
    again.close()
