"""Fixtures for the service tests: a ServiceContext on a temp home, a clock we move, a vault.

`ctx` runs a test twice, on SQLite and on PostgreSQL (`catalog_url` from tests/conftest.py);
`make_context` makes more (another catalog, the real clock). Vaults are made with a cheap KDF,
so opening one costs nothing. Shared helpers live in `support.py` beside this file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from tests.unit.services.support import (
    DAILY_POLICY,
    ITEM,
    PASSPHRASE,
    POLICY,
    START,
    VAULT,
    MakeContext,
    write_tree,
)

from rsvault.core.clock import Clock, ManualClock
from rsvault.services import policies, protection, vaults
from rsvault.services.context import ServiceContext
from rsvault.vault.keys import CHEAP_KDF


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here is about surviving a power cut, and fsync is half of their time: off.
    (Vault stores call os.fsync; SQLite catalogs get synchronous=OFF in `make_context`.)"""
    monkeypatch.setattr(os, "fsync", lambda _fd: None)


def _unsynchronised(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def make_context(tmp_path: Path, clock: ManualClock) -> Iterator[MakeContext]:
    """Contexts on the test's home; each is closed at the end of the test."""
    made: list[ServiceContext] = []

    def make(database_url: str | None = None, on: Clock | None = None) -> ServiceContext:
        ctx = ServiceContext(
            home=tmp_path,
            passphrase_source=lambda: PASSPHRASE,
            clock=on or clock,
            kdf=CHEAP_KDF,
            database_url=database_url,
        )
        made.append(ctx)
        if ctx.catalog.engine.dialect.name == "sqlite":
            event.listen(ctx.catalog.engine, "connect", _unsynchronised)
            ctx.catalog.engine.dispose()  # so that every connection from now on has it
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def ctx(make_context: MakeContext, catalog_url: str) -> ServiceContext:
    """A context whose catalog is SQLite or PostgreSQL (the test runs once on each)."""
    return make_context(catalog_url)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small tree to back up: a few files in two folders."""
    root = tmp_path / "data"
    write_tree(root, {"a.txt": b"alpha\n" * 100, "sub/b.bin": b"\x01" * 5000, "sub/c": b"c"})
    return root


@pytest.fixture
def item(ctx: ServiceContext, source: Path) -> str:
    """VAULT with POLICY, and ITEM (the `source` tree) protected by it, not yet backed up."""
    vaults.create_vault(ctx, VAULT)
    policies.create_policy(ctx, VAULT, POLICY, DAILY_POLICY)
    protection.enable_for_files(ctx, VAULT, POLICY, [str(source)], ITEM)
    return ITEM
