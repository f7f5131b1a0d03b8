"""Fixtures for the vault tests: real stores, real crypto, a cheap KDF and a clock we move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from rsvault.core.clock import ManualClock
from rsvault.storage import BlobStore, MemoryStore
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.repository import Vault

PASSPHRASE = "pass-phrase-1"
START = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def make_vault(clock: ManualClock) -> Callable[[BlobStore], Vault]:
    """Creates a vault with PASSPHRASE on the given store, at the test's clock."""

    def make(on: BlobStore) -> Vault:
        return Vault.create(on, PASSPHRASE, clock, kdf=CHEAP_KDF)

    return make


@pytest.fixture
def vault(store: MemoryStore, make_vault: Callable[[BlobStore], Vault]) -> Vault:
    return make_vault(store)


def snapshot(store: BlobStore, prefix: str = "") -> dict[str, bytes]:
    """Every blob below `prefix`, by name: compare two of these to see what a call wrote."""
    return {info.name: store.get(info.name) for info in store.list(prefix)}


@pytest.fixture
def blobs() -> Callable[..., dict[str, bytes]]:
    """The `snapshot` helper, as a fixture (test modules cannot import this conftest)."""
    return snapshot
