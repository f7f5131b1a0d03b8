"""Upgrading a catalog in place: an old catalog's rows survive every later migration.

Runs on SQLite and on PostgreSQL (`catalog_url`). A database is migrated only to the FIRST
revision, filled with plain SQL in that revision's schema (never through the models, which
follow the newest schema), then opened with `Catalog`, which upgrades it to head. The test
reads back only the first revision's columns, and checks the rest generically (no column the
models declare NOT NULL left empty in an old row), so it keeps holding as revisions are added.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Engine, bindparam, inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine
from tests.unit.catalog.conftest import as_utc

from rsvault.catalog.database import HEAD_REVISION, Catalog, current_revision, make_engine
from rsvault.catalog.models import Base, JobRow, VaultRow
from rsvault.catalog.repositories import JobRepository, VaultRepository

FIRST_REVISION = "0001"

# The first revision's columns that need a type to be written and read the way the
# application of that time wrote them (the rest are plain strings and integers).
TYPES: Mapping[str, TypeEngine[Any]] = {
    "created": DateTime(timezone=True),
    "start_time": DateTime(timezone=True),
    "end_time": DateTime(timezone=True),
    "stats": JSON(),
    "warnings": JSON(),
}


def _at(day: int, microsecond: int = 0) -> datetime:
    return datetime(2024, 3, day, 12, 30, 15, microsecond, tzinfo=UTC)


VAULTS: list[dict[str, Any]] = [
    {
        "name": "alpha",
        "vault_id": "a" * 64,
        "store_kind": "local",
        "location": "/srv/vaults/alpha",
        "created": _at(1, 123456),
    },
    {
        "name": "beta-ünï",
        "vault_id": "b" * 64,
        "store_kind": "azureblob",
        "location": "https://127.0.0.1:10000/devstoreaccount1/beta",
        "created": _at(2),
    },
    {
        "name": "gamma",  # a vault with no jobs
        "vault_id": "c" * 64,
        "store_kind": "s3",
        "location": "s3://bucket/prefix with space",
        "created": _at(3, 999999),
    },
]

JOBS: list[dict[str, Any]] = [
    {
        "name": "job-0001",
        "vault_name": "alpha",
        "operation": "Backup",
        "status": "Completed",
        "item": "etc",
        "start_time": _at(4, 1),
        "end_time": _at(4, 500000),
        "error_code": None,
        "error_message": None,
        "recovery_point": "rp-20240304-123015-000001",
        "pid": 4242,
        "stats": {"files": 12, "bytes_read": 123_456_789_012, "ratio": 0.5},
        "warnings": [],
    },
    {
        "name": "job-0002",
        "vault_name": "alpha",
        "operation": "Backup",
        "status": "Failed",
        "item": None,
        "start_time": _at(5),
        "end_time": None,
        "error_code": "UserErrorVaultNotFound",
        "error_message": "multi-line\nmessage: ✗ 日本語 'quoted'",
        "recovery_point": None,
        "pid": None,
        "stats": {},
        "warnings": [{"code": "W1", "path": "/a b", "nested": {"list": [1, None, True]}}],
    },
    {
        "name": "job-0003",
        "vault_name": "beta-ünï",
        "operation": "Restore",
        "status": "InProgress",
        "item": "home",
        "start_time": _at(6),
        "end_time": None,
        "error_code": None,
        "error_message": None,
        "recovery_point": "rp-x",
        "pid": 1,
        "stats": {"files": 0},
        "warnings": [],
    },
]


def _alembic_config(engine: Engine | None = None) -> Config:
    """Built the way rsvault.catalog.database.migrate() builds it."""
    config = Config()
    migrations = resources.files("rsvault.catalog").joinpath("migrations")
    config.set_main_option("script_location", str(migrations))
    if engine is not None:
        config.attributes["connection_engine"] = engine
    return config


def _insert(engine: Engine, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = list(rows[0])
    statement = text(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + name for name in columns)})"
    ).bindparams(*(bindparam(name, type_=TYPES[name]) for name in columns if name in TYPES))
    with engine.begin() as connection:
        connection.execute(statement, [dict(row) for row in rows])


def _select(engine: Engine, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    statement = text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY name").columns(
        **{name: TYPES[name] for name in columns if name in TYPES}
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    return [_normalized(dict(row)) for row in rows]


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


def _by_column(row: Base) -> dict[str, Any]:
    """An ORM row's values keyed by column name."""
    mapper = inspect(type(row))
    return _normalized(
        {attr.columns[0].name: getattr(row, attr.key) for attr in mapper.column_attrs}
    )


def _old_catalog(url: str) -> None:
    """A catalog as the first release left it: schema at FIRST_REVISION, rows in it."""
    engine = make_engine(url)
    try:
        command.upgrade(_alembic_config(engine), FIRST_REVISION)
        assert current_revision(engine) == FIRST_REVISION
        _insert(engine, "vaults", VAULTS)
        _insert(engine, "jobs", JOBS)
    finally:
        engine.dispose()


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_normalized(row) for row in sorted(rows, key=lambda row: str(row["name"]))]


def test_the_first_revision_is_the_base_of_the_migration_history() -> None:
    scripts = ScriptDirectory.from_config(_alembic_config())
    assert scripts.get_base() == FIRST_REVISION
    history = [script.revision for script in scripts.walk_revisions("base", "heads")]
    assert history[0] == HEAD_REVISION
    assert history[-1] == FIRST_REVISION


def test_migrations_upgrade_an_existing_catalog_without_losing_rows(catalog_url: str) -> None:
    _old_catalog(catalog_url)
    catalog = Catalog(catalog_url)  # upgrades to head
    try:
        assert current_revision(catalog.engine) == HEAD_REVISION
        # every first-revision column of every row, read with plain SQL
        assert _select(catalog.engine, "vaults", list(VAULTS[0])) == _sorted(VAULTS)
        assert _select(catalog.engine, "jobs", list(JOBS[0])) == _sorted(JOBS)
        # columns added later gave the old rows a value wherever the models need one
        assert _null_where_the_models_need_a_value(catalog.engine) == []
        # and the models of the newest schema read the old rows
        with catalog.unit_of_work() as session:
            _check_through_models(session)
    finally:
        catalog.close()


def _null_where_the_models_need_a_value(engine: Engine) -> list[str]:
    """Columns the models declare NOT NULL that hold NULL in some row.

    A later revision may add a column as nullable and leave the old rows empty; the models
    (and the code using them) would then meet None where they expect a value.
    """
    quote = engine.dialect.identifier_preparer.quote
    empty = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if column.nullable:
                    continue
                query = (
                    f"SELECT count(*) FROM {quote(table.name)} WHERE {quote(column.name)} IS NULL"
                )
                if connection.execute(text(query)).scalar_one():
                    empty.append(f"{table.name}.{column.name}")
    return empty


def _check_through_models(session: Session) -> None:
    vaults = VaultRepository(session).all()
    assert [v.name for v in vaults] == sorted(v["name"] for v in VAULTS)
    for vault_row in vaults:
        expected = next(v for v in VAULTS if v["name"] == vault_row.name)
        assert _subset(_by_column(vault_row), expected) == _normalized(expected)
    jobs = JobRepository(session)
    for vault in VAULTS:
        expected_jobs = [j for j in JOBS if j["vault_name"] == vault["name"]]
        found: Sequence[JobRow] = jobs.for_vault(vault["name"])
        assert [j.name for j in found] == [j["name"] for j in expected_jobs]
        for job_row, expected_job in zip(found, expected_jobs, strict=True):
            assert _subset(_by_column(job_row), expected_job) == _normalized(expected_job)


def _subset(values: Mapping[str, Any], like: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in like}


def test_the_upgraded_catalog_takes_new_rows_next_to_the_old(catalog_url: str) -> None:
    _old_catalog(catalog_url)
    catalog = Catalog(catalog_url)
    try:
        with catalog.unit_of_work() as session:
            VaultRepository(session).add(
                VaultRow(name="new", vault_id="d" * 64, location="/new", created=_at(7))
            )
        with catalog.unit_of_work() as session:
            names = [v.name for v in VaultRepository(session).all()]
        assert names == sorted([*(v["name"] for v in VAULTS), "new"])
    finally:
        catalog.close()


def test_two_catalogs_open_at_once_on_a_migrated_database(catalog_url: str) -> None:
    Catalog(catalog_url).close()  # migrated once, as by an earlier command
    barrier = threading.Barrier(2)
    opened: dict[str, Catalog] = {}
    errors: list[BaseException] = []

    def open_and_add(name: str) -> None:
        try:
            barrier.wait(timeout=30)
            catalog = Catalog(catalog_url)
            opened[name] = catalog
            with catalog.unit_of_work() as session:
                VaultRepository(session).add(
                    VaultRow(name=name, vault_id=name * 64, location=f"/{name}", created=_at(8))
                )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    try:
        _run_threads(open_and_add, ["a", "b"])
        assert errors == []
        assert sorted(opened) == ["a", "b"]
        for catalog in opened.values():  # both open, each sees both rows
            assert current_revision(catalog.engine) == HEAD_REVISION
            with catalog.unit_of_work() as session:
                assert [v.name for v in VaultRepository(session).all()] == ["a", "b"]
        with opened["a"].engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [HEAD_REVISION]
    finally:
        for catalog in opened.values():
            catalog.close()


def test_opening_a_catalog_does_not_wait_for_a_writer(catalog_url: str) -> None:
    """A command opening the catalog while another one is inside a write transaction."""
    first = Catalog(catalog_url)
    opened: list[Catalog] = []
    try:
        with first.unit_of_work() as session:
            session.add(VaultRow(name="busy", vault_id="e" * 64, location="/b", created=_at(9)))
            session.flush()  # the write is made and its locks held until the commit
            _run_threads(lambda _: opened.append(Catalog(catalog_url)), ["second"], 30)
            assert len(opened) == 1, "opening the catalog waited for the writer"
        with opened[0].unit_of_work() as session:
            assert [v.name for v in VaultRepository(session).all()] == ["busy"]
    finally:
        first.close()
        for catalog in opened:
            catalog.close()


def _run_threads(target: Callable[[str], None], names: list[str], timeout: float = 60) -> None:
    """Run target(name) in a daemon thread per name; a thread still running is left behind."""
    threads = [threading.Thread(target=target, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
