"""Opening the catalog: engine, migrations to head, one session per service call."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from rsvault.catalog.migrationlock import migration_lock
from rsvault.errors import Code, RsvaultError

T = TypeVar("T")


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'catalog.sqlite'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")  # concurrent CLI processes wait, not fail
    cursor.close()


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# The newest migration; a test checks it against the migration scripts.
HEAD_REVISION = "0003"


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None  # a new, empty catalog


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; rows are kept (migrations never drop data).

    Alembic is imported only when there is something to do: most commands find the catalog
    current, and loading Alembic would be a third of their start-up time.
    """
    if current_revision(engine) == HEAD_REVISION:
        return
    with migration_lock(engine):
        if current_revision(engine) == HEAD_REVISION:
            return  # another process migrated it while this one waited
        from alembic import command
        from alembic.config import Config

        migrations = resources.files("rsvault.catalog").joinpath("migrations")
        config = Config()
        config.set_main_option("script_location", str(migrations))
        config.attributes["connection_engine"] = engine
        command.upgrade(config, "head")


class Catalog:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        with _disk_full_translated(self.engine):
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction, committed at the edge of the service call or rolled back."""
        with _disk_full_translated(self.engine), self._sessions() as session, session.begin():
            yield session

    def creating(self, work: Callable[[Session], T], attempts: int = 3) -> T:
        """`work(session)` in one unit of work, run again when it lost a race to create a row:
        another process inserted the same unique row between this one's lookup and insert.
        The next run finds that row. `work` must only find or create rows, so that running
        it again is harmless."""
        for attempt in range(1, attempts + 1):
            try:
                with self.unit_of_work() as session:
                    return work(session)
            except IntegrityError:
                if attempt == attempts:
                    raise
        raise AssertionError("attempts must be at least 1")

    def close(self) -> None:
        self.engine.dispose()


_SQLITE_FULL = 13  # "database or disk is full"
_SQLITE_IOERR = 10  # what a write into a new WAL or shared-memory file on a full disk gives
_POSTGRES_DISK_FULL = "53100"
_NEARLY_FULL = 1 << 20


@contextmanager
def _disk_full_translated(engine: Engine) -> Iterator[None]:
    """A catalog that cannot grow is a full disk (NOT_ENOUGH_SPACE), not an internal error."""
    try:
        yield
    except OperationalError as exc:
        if not _disk_full(engine, exc.orig):
            raise
        raise RsvaultError(
            Code.NOT_ENOUGH_SPACE, location=_catalog_location(engine), detail=str(exc.orig)
        ) from exc


def _disk_full(engine: Engine, reason: BaseException | None) -> bool:
    if getattr(reason, "sqlstate", None) == _POSTGRES_DISK_FULL:
        return True
    primary = (getattr(reason, "sqlite_errorcode", None) or 0) & 0xFF  # without the extension
    if primary == _SQLITE_FULL:
        return True
    if primary != _SQLITE_IOERR or engine.url.database is None:
        return False
    folder = Path(engine.url.database).parent
    return shutil.disk_usage(folder).free < _NEARLY_FULL  # an I/O error on a full disk


def _catalog_location(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return str(Path(url.database).parent)
    return url.render_as_string(hide_password=True)


def rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: how conditional updates tell who won a race."""
    assert isinstance(result, CursorResult)
    return result.rowcount
