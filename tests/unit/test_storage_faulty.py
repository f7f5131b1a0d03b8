"""The fault injector does what the fault tests rely on."""

from __future__ import annotations

import pytest

from rsvault.core.clock import ManualClock
from rsvault.storage import FaultyStore, MemoryStore, StoreError, StoreFullError
from rsvault.storage.errors import StoreNotFoundError


def test_fail_after_n_calls_for_a_prefix() -> None:
    store = FaultyStore(MemoryStore())
    store.fail("put", StoreFullError, prefix="data/", after=2)
    store.put("data/1", b"")
    store.put("data/2", b"")
    store.put("index/1", b"")
    with pytest.raises(StoreFullError):
        store.put("data/3", b"")


def test_fail_a_limited_number_of_times() -> None:
    store = FaultyStore(MemoryStore())
    store.fail("get", StoreError, times=1)
    store.put("a", b"1")
    with pytest.raises(StoreError):
        store.get("a")
    assert store.get("a") == b"1"


def test_lost_writes_and_corrupted_reads() -> None:
    store = FaultyStore(MemoryStore())
    store.lose_writes("lost/")
    store.put("lost/x", b"abc")
    with pytest.raises(StoreNotFoundError):
        store.get("lost/x")
    store.put("data/y", b"\x00\x00\x00")
    store.corrupt_reads("data/")
    assert store.get("data/y") == b"\x00\x01\x00"
    store.heal()
    assert store.get("data/y") == b"\x00\x00\x00"


def test_delays_use_the_injected_clock() -> None:
    from datetime import UTC, datetime

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = FaultyStore(MemoryStore(), clock=clock)
    store.delay("put", 30)
    store.put("a", b"")
    assert clock.monotonic() == 30


def test_an_upload_can_fail_while_writing_and_leaves_nothing() -> None:
    store = FaultyStore(MemoryStore())
    store.fail("write", StoreFullError, prefix="data/", after=1)
    upload = store.open_upload("data/p")
    upload.write(b"fits")
    with pytest.raises(StoreFullError):
        upload.write(b"does not")
    upload.abort()
    with pytest.raises(StoreNotFoundError):
        store.get("data/p")


def test_put_faults_and_lost_writes_apply_to_an_upload_commit() -> None:
    store = FaultyStore(MemoryStore())
    store.fail("put", StoreFullError, prefix="data/", times=1)
    upload = store.open_upload("data/p")
    upload.write(b"pack")
    with pytest.raises(StoreFullError):
        upload.commit()
    with pytest.raises(StoreNotFoundError):
        store.get("data/p")
    store.lose_writes("data/")
    upload = store.open_upload("data/q")
    upload.write(b"pack")
    upload.commit()
    with pytest.raises(StoreNotFoundError):
        store.get("data/q")
