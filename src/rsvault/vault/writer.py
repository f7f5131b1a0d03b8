"""Storing chunks: deduplicate, seal, stream into packs, commit them, then index them.

Safe to call from many threads at once. Sealed chunks go straight to the open pack's upload
(no pack is held in memory); a full pack is committed in the background, and an index file is
written only after every pack it names is durable (packs → index, never the reverse).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from rsvault.core.ids import random_hex_id
from rsvault.core.memory import release_free_memory
from rsvault.errors import RsvaultError
from rsvault.storage import BlobStore, StoreError
from rsvault.vault.chunker import is_zero
from rsvault.vault.crypto import Sealer
from rsvault.vault.index import INDEX_PREFIX, Index, IndexFile
from rsvault.vault.pack import BlobEntry, PackWriter
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
        self._pack = self._new_pack()
        self._uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload")
        self._uploads: list[Future[None]] = []
        self._upload_slots = threading.BoundedSemaphore(MAX_UPLOADS_IN_FLIGHT)
        self._unindexed: list[str] = []  # packs stored, in no index file yet
        self._failure: RsvaultError | None = None
        self.index_files_written: list[str] = []

    def store(self, kind: bytes, data: bytes | memoryview) -> ChunkRef:
        """Store one chunk unless it is all zeros or already known; return its reference."""
        self._raise_if_failed()
        if is_zero(data):
            self.note_zero()
            return (None, len(data))
        chunk_id = self._sealer.chunk_id(data)
        if self.claim(chunk_id):
            sealed = self._sealer.seal_chunk(kind, chunk_id, data)
            self.append_sealed(kind, chunk_id, sealed, len(data))
        return (chunk_id, len(data))

    def note_zero(self) -> None:
        """Count an all-zero chunk, which is referenced but never stored."""
        self.stats.chunks_zero += 1

    def claim(self, chunk_id: bytes) -> bool:
        """True when the caller must seal the chunk and `append_sealed` it; False when it is
        stored already or another caller has claimed it (a deduplicated chunk)."""
        with self._claim_lock:
            if chunk_id in self._index or chunk_id in self._claimed:
                self.stats.chunks_deduplicated += 1
                return False
            self._claimed.add(chunk_id)
            return True

    def _new_pack(self) -> PackWriter:
        return PackWriter(self._store, random_hex_id())

    def append_sealed(
        self, kind: bytes, chunk_id: bytes, sealed: bytes | bytearray | memoryview, raw_length: int
    ) -> None:
        """Add a chunk sealed by whoever claimed it (this process or a read worker)."""
        full: PackWriter | None = None
        with self._pack_lock:
            self._raise_if_failed()
            try:
                self._pack.add(kind, chunk_id, sealed, raw_length)
            except StoreError as exc:
                self._pack.abort()  # a pack that missed a chunk must never be committed
                self._failure = as_rsvault_error(self._store, exc)
                raise self._failure from exc
            self.stats.chunks_new += 1
            self.stats.bytes_new += raw_length
            self.stats.bytes_stored += len(sealed)
            if self._pack.size >= self._pack_target:
                full, self._pack = self._pack, self._new_pack()
        if full is not None:
            self._submit(full)

    def _submit(self, pack: PackWriter) -> None:
        self._upload_slots.acquire()  # back-pressure: one pack committing while the next fills
        self._uploads.append(self._uploader.submit(self._upload, pack))

    def _upload(self, pack: PackWriter) -> None:
        try:
            pack.finish(self._sealer)
            self.stats.packs += 1
            self._index.add_pack(pack.pack_id, pack.entries)
            self._forget_claims(pack.entries)
            self._unindexed.append(pack.pack_id)
            if len(self._unindexed) >= PACKS_PER_INDEX:
                self._write_index()
        except StoreError as exc:
            pack.abort()
            self._failure = as_rsvault_error(self._store, exc)
        except RsvaultError as exc:
            pack.abort()
            self._failure = exc
        finally:
            self._upload_slots.release()

    def _forget_claims(self, entries: list[BlobEntry]) -> None:
        # The index answers for these chunks now; keeping every claim until the writer closes
        # would hold a second copy of every new chunk id of the backup.
        with self._claim_lock:
            self._claimed.difference_update(e.chunk_id for e in entries)

    def _write_index(self) -> None:
        index_file = IndexFile(random_hex_id(), self._index.packs_named(self._unindexed))
        self._store.put(INDEX_PREFIX + index_file.index_id, index_file.encode(self._sealer))
        self.index_files_written.append(index_file.index_id)
        self._unindexed.clear()
        release_free_memory()  # the file's body, plain and sealed: megabytes each

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def flush(self) -> None:
        """Upload the last pack and index everything; after this every chunk is durable."""
        self._raise_if_failed()
        with self._pack_lock:
            last, self._pack = self._pack, self._new_pack()
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
        """Release everything; a pack still open (the work was abandoned) is dropped unwritten."""
        with self._pack_lock:
            self._pack.abort()
        self._uploader.shutdown(wait=True)
