"""One contract, every backend: local directory, memory, and the fault wrapper at rest."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from rsvault.storage import (
    BlobStore,
    FaultyStore,
    LocalStore,
    MemoryStore,
    StoreError,
    StoreNotFoundError,
)

Factory = Callable[[Path], BlobStore]

BACKENDS: dict[str, Factory] = {
    "local": lambda tmp: LocalStore(tmp / "store"),
    "memory": lambda tmp: MemoryStore(),
    "faulty-idle": lambda tmp: FaultyStore(MemoryStore()),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BACKENDS[request.param](tmp_path)


def test_put_then_get_returns_the_same_bytes(store: BlobStore) -> None:
    store.put("data/ab/abcdef", b"hello world")
    assert store.get("data/ab/abcdef") == b"hello world"


def test_get_with_range(store: BlobStore) -> None:
    store.put("x", b"0123456789")
    assert store.get("x", 2, 3) == b"234"
    assert store.get("x", 8, 100) == b"89"
    assert store.get("x", 4) == b"456789"
    assert store.get("x", 10, 5) == b""


def test_put_replaces_whole_blob(store: BlobStore) -> None:
    store.put("config", b"a" * 1000)
    store.put("config", b"b")
    assert store.get("config") == b"b"
    assert store.stat("config").size == 1


def test_empty_blob(store: BlobStore) -> None:
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.stat("empty").size == 0


def test_missing_blob_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(StoreNotFoundError):
        store.get("nope")
    with pytest.raises(StoreNotFoundError):
        store.stat("nope")


def test_delete_is_idempotent(store: BlobStore) -> None:
    store.put("k/1", b"1")
    store.delete("k/1")
    store.delete("k/1")
    with pytest.raises(StoreNotFoundError):
        store.get("k/1")


def test_list_by_prefix(store: BlobStore) -> None:
    for name in ("data/00/a", "data/01/b", "index/c", "keys/d", "data-not/e"):
        store.put(name, name.encode())
    assert sorted(i.name for i in store.list("data/")) == ["data/00/a", "data/01/b"]
    assert sorted(i.name for i in store.list("data/01")) == ["data/01/b"]
    assert len(list(store.list())) == 5
    sizes = {i.name: i.size for i in store.list("index/")}
    assert sizes == {"index/c": len(b"index/c")}


def test_stat_reports_size_and_aware_time(store: BlobStore) -> None:
    store.put("s", os.urandom(4096))
    info = store.stat("s")
    assert info.size == 4096
    assert info.modified.tzinfo is not None


@pytest.mark.parametrize("bad", ["", "/abs", "../up", "a/../b", "a//b", "a/./b", "with space", "é"])
def test_rejects_names_that_could_escape(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid blob name"):
        store.put(bad, b"x")


def test_concurrent_puts_of_distinct_blobs(store: BlobStore) -> None:
    def writer(n: int) -> None:
        for i in range(20):
            store.put(f"c/{n}/{i}", bytes([n, i]) * 100)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(store.list("c/"))) == 80
    assert store.get("c/3/7") == bytes([3, 7]) * 100


def test_large_blob_round_trip(store: BlobStore) -> None:
    payload = os.urandom(8 * 1024 * 1024 + 17)
    store.put("data/ff/big", payload)
    assert store.get("data/ff/big") == payload
    assert store.get("data/ff/big", 5_000_000, 10) == payload[5_000_000:5_000_010]


def test_upload_in_pieces_is_invisible_until_committed(store: BlobStore) -> None:
    upload = store.open_upload("data/aa/streamed")
    upload.write(b"first ")
    upload.write(memoryview(b"second"))
    assert upload.size == len(b"first second")
    with pytest.raises(StoreNotFoundError):
        store.stat("data/aa/streamed")
    assert list(store.list("data/")) == []
    upload.commit()
    assert store.get("data/aa/streamed") == b"first second"


def test_upload_commit_replaces_an_existing_blob(store: BlobStore) -> None:
    store.put("index/i", b"old contents")
    upload = store.open_upload("index/i")
    upload.write(b"new")
    assert store.get("index/i") == b"old contents"
    upload.commit()
    assert store.get("index/i") == b"new"


def test_aborted_upload_leaves_nothing(store: BlobStore) -> None:
    upload = store.open_upload("data/bb/dropped")
    upload.write(os.urandom(100_000))
    upload.abort()
    upload.abort()  # idempotent
    with pytest.raises(StoreNotFoundError):
        store.get("data/bb/dropped")
    assert list(store.list()) == []


def test_finished_upload_refuses_more(store: BlobStore) -> None:
    upload = store.open_upload("done")
    upload.commit()
    assert store.get("done") == b""
    with pytest.raises(StoreError):
        upload.write(b"late")
    with pytest.raises(StoreError):
        upload.commit()


def test_upload_names_are_checked(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="invalid blob name"):
        store.open_upload("../escape")
