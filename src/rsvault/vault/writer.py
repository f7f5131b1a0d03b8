"""Storing chunks: deduplicate, seal, fill packs, upload them, then index them.

Safe to call from many threads at once. Packs are uploaded in the background; an index file
is written only after every pack it names is durable (packs → index, never the reverse).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from rsvault.core.ids import random_hex_id
from rsvault.errors import RsvaultError
from rsvault.storage import BlobStore, StoreError
from rsvault.vault.chunker import is_zero
from rsvault.vault.crypto import Sealer
from rsvault.vault.index import INDEX_PREFIX, Index, IndexFile
from rsvault.vault.pack import BlobEntry, PackBuilder, pack_name
from rsvault.vault.storeerrors import as_rsvault_error

PACKS_PER_INDEX = 16
MAX_UPLOADS_IN_FLIGHT = 1


@dataclass
class WriteStats:
    chunks_new: int = 0
    chunks_deduplicated: int = 0
    chunks_zero: int = 0
    bytes_new: int = 0  # plaintext bytes of new chunks
    bytes_stored: int = 0  # sealed bytes written into packs
    packs: int = 0


ChunkRef = tuple[bytes | None, int]


class ChunkWriter:
    def __init__(self, store: BlobStore, sealer: Sealer, index: Index, pack_target: int) -> None:
        self._store = store
        self._sealer = sealer
        self._index = index
        self._pack_target = pack_target
        self.stats = WriteStats()
        self._claimed: set[bytes] = set()
        self._claim_lock = threading.Lock()
        self._pack_lock = threading.Lock()
        self._pack = PackBuilder(random_hex_id())
        self._uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload")
        self._uploads: list[Future[None]] = []
        self._upload_slots = threading.BoundedSemaphore(MAX_UPLOADS_IN_FLIGHT)
        self._unindexed: dict[str, list[BlobEntry]] = {}
        self._failure: RsvaultError | None = None
        self.index_files_written: list[str] = []

    def store(self, kind: bytes, data: bytes) -> ChunkRef:
        """Store one chunk unless it is all zeros or already known; return its reference."""
        self._raise_if_failed()
        if is_zero(data):
            self.stats.chunks_zero += 1
            return (None, len(data))
        chunk_id = self._sealer.chunk_id(data)
        if not self._claim(chunk_id):
            self.stats.chunks_deduplicated += 1
            return (chunk_id, len(data))
        sealed = self._sealer.seal_chunk(kind, chunk_id, data)
        self._append(kind, chunk_id, sealed, len(data))
        return (chunk_id, len(data))

    def _claim(self, chunk_id: bytes) -> bool:
        with self._claim_lock:
            if chunk_id in self._index or chunk_id in self._claimed:
                return False
            self._claimed.add(chunk_id)
            return True

    def _append(self, kind: bytes, chunk_id: bytes, sealed: bytes, raw_length: int) -> None:
        full: PackBuilder | None = None
        with self._pack_lock:
            self._pack.add(kind, chunk_id, sealed, raw_length)
            self.stats.chunks_new += 1
            self.stats.bytes_new += raw_length
            self.stats.bytes_stored += len(sealed)
            if self._pack.size >= self._pack_target:
                full, self._pack = self._pack, PackBuilder(random_hex_id())
        if full is not None:
            self._submit(full)

    def _submit(self, pack: PackBuilder) -> None:
        self._upload_slots.acquire()  # back-pressure: at most a few finished packs in memory
        self._uploads.append(self._uploader.submit(self._upload, pack))

    def _upload(self, pack: PackBuilder) -> None:
        try:
            payload = pack.finish(self._sealer)
            self._store.put(pack_name(pack.pack_id), payload)
            self.stats.packs += 1
            self._index.add_pack(pack.pack_id, pack.entries)
            self._unindexed[pack.pack_id] = pack.entries
            if len(self._unindexed) >= PACKS_PER_INDEX:
                self._write_index()
        except StoreError as exc:
            self._failure = as_rsvault_error(self._store, exc)
        except RsvaultError as exc:
            self._failure = exc
        finally:
            self._upload_slots.release()

    def _write_index(self) -> None:
        index_file = IndexFile(random_hex_id(), dict(self._unindexed))
        self._store.put(INDEX_PREFIX + index_file.index_id, index_file.encode(self._sealer))
        self.index_files_written.append(index_file.index_id)
        self._unindexed.clear()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def flush(self) -> None:
        """Upload the last pack and index everything; after this every chunk is durable."""
        with self._pack_lock:
            last, self._pack = self._pack, PackBuilder(random_hex_id())
        if last.entries:
            self._submit(last)
        for upload in self._uploads:
            upload.result()
        self._uploads.clear()
        self._raise_if_failed()
        if self._unindexed:
            self._uploader.submit(self._write_index_translated).result()
        self._raise_if_failed()

    def _write_index_translated(self) -> None:
        try:
            self._write_index()
        except StoreError as exc:
            self._failure = as_rsvault_error(self._store, exc)

    def close(self) -> None:
        self._uploader.shutdown(wait=True)
