"""Several processes opening one brand-new catalog at once: one migrates, the others wait."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import text

from rsvault.catalog.database import HEAD_REVISION, Catalog, current_revision


def _open(url: str) -> str | None:
    catalog = Catalog(url)
    try:
        return current_revision(catalog.engine)
    finally:
        catalog.close()


def test_processes_opening_a_new_catalog_together_all_succeed(catalog_url: str) -> None:
    # Separate processes, as in real life (Alembic is not safe in threads of one process).
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_open, [catalog_url] * 4)
    assert revisions == [HEAD_REVISION] * 4
    catalog = Catalog(catalog_url)
    with catalog.engine.connect() as connection:
        versions = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar()
    catalog.close()
    assert versions == 1
