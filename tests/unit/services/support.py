"""Helpers for the service tests: names, policy documents, trees, catalog and vault snapshots."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from sqlalchemy import select

from rsvault.catalog.models import Base, ItemRow, JobRow, JobTaskRow
from rsvault.errors import Code, RsvaultError
from rsvault.services import vaults
from rsvault.services.context import ServiceContext
from rsvault.storage import LocalStore
from rsvault.vault.manifest import MANIFEST_PREFIX

PASSPHRASE = "services test passphrase"
START = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
VAULT = "vault1"
POLICY = "daily"
ITEM = "item1"
DATA_PREFIX = "data/"
DAY = 86400.0


def daily_policy(days: int = 7, run_time: str = "02:00", **retention: Any) -> dict[str, Any]:
    return {
        "policyType": "Standard",
        "schedule": {"frequency": "Daily", "time": run_time, "timeZone": "UTC"},
        "instantRpRetentionDays": 2,
        "retention": {"daily": {"days": days}, **retention},
    }


DAILY_POLICY = daily_policy()

T = TypeVar("T")
MakeContext = Callable[..., ServiceContext]  # the conftest fixture `make_context`


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def random_tree(root: Path, files: int, size: int) -> Path:
    """Files of incompressible bytes: a backup of them takes a while and stores them all."""
    return write_tree(root, {f"f{n:02d}.bin": os.urandom(size) for n in range(files)})


@contextmanager
def raises(code: Code) -> Iterator[pytest.ExceptionInfo[RsvaultError]]:
    with pytest.raises(RsvaultError) as info:
        yield info
    assert info.value.code is code, f"expected {code.value}, got {info.value.code.value}"


def catalog_snapshot(ctx: ServiceContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: equal snapshots mean nothing changed."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with ctx.catalog.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in session.execute(query)]
    return out


def vault_store(ctx: ServiceContext, name: str = VAULT) -> LocalStore:
    location = next(v.location for v in vaults.list_vaults(ctx) if v.name == name)
    return LocalStore(Path(location))


def store_snapshot(ctx: ServiceContext, name: str = VAULT) -> set[tuple[str, int]]:
    """Names and sizes of the vault's objects, leases left out (reading takes them)."""
    store = vault_store(ctx, name)
    return {(i.name, i.size) for i in store.list("") if not i.name.startswith("locks/")}


def manifests(ctx: ServiceContext, name: str = VAULT) -> set[str]:
    return {
        i.name.removeprefix(MANIFEST_PREFIX) for i in vault_store(ctx, name).list(MANIFEST_PREFIX)
    }


def packs(ctx: ServiceContext, name: str = VAULT) -> tuple[int, int]:
    """How many packs the vault holds, and their bytes."""
    infos = list(vault_store(ctx, name).list(DATA_PREFIX))
    return len(infos), sum(i.size for i in infos)


def item_row(ctx: ServiceContext, name: str = ITEM, vault: str = VAULT) -> ItemRow:
    with ctx.catalog.unit_of_work() as session:
        row = session.scalar(
            select(ItemRow).where(ItemRow.vault_name == vault, ItemRow.name == name)
        )
    assert row is not None, name
    return row


def job_row(ctx: ServiceContext, name: str) -> JobRow:
    with ctx.catalog.unit_of_work() as session:
        row = session.get(JobRow, name)
    assert row is not None, name
    return row


def task_statuses(ctx: ServiceContext, job: str) -> dict[str, str]:
    with ctx.catalog.unit_of_work() as session:
        query = select(JobTaskRow).where(JobTaskRow.job_name == job)
        return {t.name: t.status for t in session.scalars(query.order_by(JobTaskRow.position))}


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.005
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {predicate}")
        time.sleep(interval)


@dataclass
class Background(Generic[T]):
    """A call on another thread; `outcome()` returns its result or raises its exception."""

    call: Callable[[], T]
    _result: list[T] = field(default_factory=list)
    _error: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result.append(self.call())
        except BaseException as exc:
            self._error.append(exc)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def outcome(self, timeout: float = 60.0) -> T:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the call did not end in time"
        if self._error:
            raise self._error[0]
        return self._result[0]
