"""ChunkWriter: dedup, zeros, packs before their index, and store failures as user errors."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.storage import (
    BlobInfo,
    BlobStore,
    BlobUpload,
    FaultyStore,
    LocalStore,
    StoreFullError,
    StorePermissionError,
)
from rsvault.vault.crypto import DATA, TREE
from rsvault.vault.index import INDEX_PREFIX, IndexFile, load_index
from rsvault.vault.pack import pack_id_from_name, pack_name
from rsvault.vault.repository import Vault
from rsvault.vault.writer import PACKS_PER_INDEX, ChunkWriter

SMALL_PACK = 32 * 1024


class RecordingStore:
    """A store wrapper that remembers the order of puts."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.puts: list[str] = []
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return self.inner.location

    def put(self, name: str, data: bytes | memoryview) -> None:
        self.inner.put(name, data)
        with self._lock:
            self.puts.append(name)

    def open_upload(self, name: str) -> BlobUpload:
        return _RecordedUpload(self, name, self.inner.open_upload(name))

    def recorded(self, name: str) -> None:
        with self._lock:
            self.puts.append(name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.get(name, offset, length)

    def stat(self, name: str) -> BlobInfo:
        return self.inner.stat(name)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return self.inner.list(prefix)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def free_space(self) -> int | None:
        return None


class _RecordedUpload:
    def __init__(self, store: RecordingStore, name: str, inner: BlobUpload) -> None:
        self._store = store
        self._name = name
        self._inner = inner

    @property
    def size(self) -> int:
        return self._inner.size

    def write(self, data: bytes | memoryview) -> None:
        self._inner.write(data)

    def commit(self) -> None:
        self._inner.commit()
        self._store.recorded(self._name)

    def abort(self) -> None:
        self._inner.abort()


def writer_on(vault: Vault, store: BlobStore, pack_target: int = SMALL_PACK) -> ChunkWriter:
    return ChunkWriter(store, vault.sealer, load_index(store, vault.sealer), pack_target)


def packs_in(store: BlobStore) -> set[str]:
    return {pack_id_from_name(i.name) for i in store.list("data/")}


def index_files(vault: Vault, store: BlobStore) -> list[IndexFile]:
    return [
        IndexFile.decode(vault.sealer, i.name.removeprefix(INDEX_PREFIX), store.get(i.name))
        for i in store.list(INDEX_PREFIX)
    ]


def test_the_same_chunk_twice_is_stored_once(vault: Vault) -> None:
    writer = writer_on(vault, vault.store)
    try:
        data = os.urandom(5000)
        first = writer.store(DATA, data)
        second = writer.store(DATA, bytes(data))
        writer.flush()
    finally:
        writer.close()
    assert first == second == (vault.sealer.chunk_id(data), 5000)
    assert (writer.stats.chunks_new, writer.stats.chunks_deduplicated) == (1, 1)
    index = vault.load_index()
    assert len(index) == 1
    (pack_id,) = packs_in(vault.store)
    assert [e.chunk_id for e in index.packs[pack_id]] == [first[0]]


def test_a_chunk_already_in_the_index_is_not_stored_again(vault: Vault) -> None:
    data = os.urandom(5000)
    for _round in range(2):
        writer = writer_on(vault, vault.store)
        try:
            writer.store(DATA, data)
            writer.flush()
        finally:
            writer.close()
    assert writer.stats.chunks_new == 0
    assert writer.stats.chunks_deduplicated == 1
    assert len(packs_in(vault.store)) == 1
    assert len(list(vault.store.list(INDEX_PREFIX))) == 1


def test_zero_chunks_are_recorded_but_not_stored(vault: Vault) -> None:
    writer = writer_on(vault, vault.store)
    try:
        refs = [writer.store(DATA, bytes(n)) for n in (1, 4096, 1 << 20)]
        writer.flush()
    finally:
        writer.close()
    assert refs == [(None, 1), (None, 4096), (None, 1 << 20)]
    assert writer.stats.chunks_zero == 3
    assert writer.stats.chunks_new == 0
    assert list(vault.store.list("data/")) == []
    assert list(vault.store.list(INDEX_PREFIX)) == []


def test_concurrent_stores_of_the_same_chunks_keep_one_copy(vault: Vault) -> None:
    chunks = [os.urandom(3000) for _ in range(50)]
    writer = writer_on(vault, vault.store)
    try:
        threads = [
            threading.Thread(target=lambda: [writer.store(DATA, c) for c in chunks])
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer.flush()
    finally:
        writer.close()
    index = vault.load_index()
    assert len(index) == 50
    assert sum(len(es) for es in index.packs.values()) == 50
    assert writer.stats.chunks_new == 50
    assert writer.stats.chunks_deduplicated == 150


def test_packs_are_put_before_the_index_that_names_them(vault: Vault) -> None:
    store = RecordingStore(vault.store)
    writer = writer_on(vault, store)
    chunks = [os.urandom(9000) for _ in range(PACKS_PER_INDEX * 4 + 3)]
    try:
        refs = [writer.store(DATA if i % 3 else TREE, c) for i, c in enumerate(chunks)]
        writer.flush()
    finally:
        writer.close()

    files = index_files(vault, store)
    assert len(files) >= 2  # an index every PACKS_PER_INDEX packs, and one at the end
    for index_file in files:
        at = store.puts.index(INDEX_PREFIX + index_file.index_id)
        for pack_id in index_file.packs:
            assert store.puts.index(pack_name(pack_id)) < at
    named = {p for f in files for p in f.packs}
    assert named == packs_in(store)  # after flush: every pack indexed, every index pack stored
    assert writer.stats.packs == len(named)
    index = vault.load_index()
    for (chunk_id, _n), plain in zip(refs, chunks, strict=True):
        assert chunk_id is not None
        location = index.get(chunk_id)
        assert location is not None
        assert vault.read_chunk(index, location.entry.kind, chunk_id) == plain


def test_before_flush_an_index_never_names_a_missing_pack(vault: Vault) -> None:
    store = RecordingStore(vault.store)
    writer = writer_on(vault, store)
    try:
        for _ in range(PACKS_PER_INDEX * 2 + 5):
            writer.store(DATA, os.urandom(SMALL_PACK))
            for index_file in index_files(vault, store):
                assert set(index_file.packs) <= packs_in(store)
        writer.flush()
    finally:
        writer.close()


def store_then_flush(writer: ChunkWriter, chunks: list[bytes]) -> None:
    for chunk in chunks:
        writer.store(DATA, chunk)
    writer.flush()


@pytest.mark.parametrize("prefix", ["data/", INDEX_PREFIX])
def test_a_full_store_is_not_enough_space(vault: Vault, prefix: str) -> None:
    faulty = FaultyStore(vault.store)
    faulty.fail("put", StoreFullError, prefix=prefix, reason="No space left on device")
    writer = writer_on(vault, faulty)
    try:
        with pytest.raises(RsvaultError) as caught:
            store_then_flush(writer, [os.urandom(4000) for _ in range(40)])
        assert caught.value.code is Code.NOT_ENOUGH_SPACE
        # the failure is sticky: nothing more is accepted
        with pytest.raises(RsvaultError) as again:
            writer.store(DATA, os.urandom(10))
        assert again.value.code is Code.NOT_ENOUGH_SPACE
    finally:
        writer.close()
    assert list(vault.store.list(INDEX_PREFIX)) == []


def test_a_disk_filling_up_while_a_pack_is_written_fails_at_once_and_leaves_no_pack(
    vault: Vault,
) -> None:
    faulty = FaultyStore(vault.store)
    faulty.fail("write", StoreFullError, prefix="data/", after=5, reason="No space left")
    writer = writer_on(vault, faulty, pack_target=1 << 30)
    try:
        with pytest.raises(RsvaultError) as caught:
            store_then_flush(writer, [os.urandom(4000) for _ in range(10)])
        assert caught.value.code is Code.NOT_ENOUGH_SPACE
    finally:
        writer.close()
    assert packs_in(vault.store) == set()
    assert list(vault.store.list(INDEX_PREFIX)) == []


def test_an_abandoned_writer_drops_its_open_pack(
    tmp_path: Path, make_vault: Callable[[BlobStore], Vault]
) -> None:
    store = LocalStore(tmp_path / "store")
    vault = make_vault(store)
    writer = writer_on(vault, store, pack_target=1 << 30)
    writer.store(DATA, os.urandom(4000))
    assert [p.name[:4] for p in (tmp_path / "store/data").glob("*/*")] == ["tmp~"]
    writer.close()  # no flush: the backup was cancelled or failed elsewhere
    assert list((tmp_path / "store/data").glob("*/*")) == []


def test_a_full_store_fails_the_last_pack_at_flush(vault: Vault) -> None:
    faulty = FaultyStore(vault.store)
    faulty.fail("put", StoreFullError, prefix="data/")
    writer = writer_on(vault, faulty, pack_target=1 << 30)
    try:
        writer.store(DATA, os.urandom(4000))  # fits the open pack: nothing is put yet
        with pytest.raises(RsvaultError) as caught:
            writer.flush()
        assert caught.value.code is Code.NOT_ENOUGH_SPACE
    finally:
        writer.close()


def test_a_refusing_store_is_an_unusable_location(vault: Vault) -> None:
    faulty = FaultyStore(vault.store)
    faulty.fail("put", StorePermissionError, prefix="data/", reason="Read-only file system")
    writer = writer_on(vault, faulty)
    try:
        writer.store(DATA, os.urandom(4000))
        with pytest.raises(RsvaultError) as caught:
            writer.flush()
        assert caught.value.code is Code.VAULT_LOCATION_UNUSABLE
    finally:
        writer.close()


def test_a_failed_index_put_at_flush_is_reported(vault: Vault) -> None:
    faulty = FaultyStore(vault.store)
    faulty.fail("put", StoreFullError, prefix=INDEX_PREFIX)
    writer = writer_on(vault, faulty)
    try:
        writer.store(DATA, os.urandom(4000))
        with pytest.raises(RsvaultError) as caught:
            writer.flush()
        assert caught.value.code is Code.NOT_ENOUGH_SPACE
    finally:
        writer.close()
    # the pack is there, unindexed: an orphan for prune, never an index naming nothing
    assert len(packs_in(vault.store)) == 1
    assert list(vault.store.list(INDEX_PREFIX)) == []


def test_a_claim_is_forgotten_once_the_index_answers_for_it(vault: Vault) -> None:
    """Claims only bridge the time until a chunk's pack is indexed, and never leave a gap."""
    writer = writer_on(vault, vault.store)
    try:
        data = os.urandom(5000)
        chunk_id, _n = writer.store(DATA, data)
        writer.flush()
        assert not writer._claimed
        assert not writer.claim(chunk_id)  # the index knows it now
        assert writer.store(DATA, data) == (chunk_id, 5000)
        writer.flush()
    finally:
        writer.close()
    assert (writer.stats.chunks_new, writer.stats.chunks_deduplicated) == (1, 2)
    assert len(packs_in(vault.store)) == 1
