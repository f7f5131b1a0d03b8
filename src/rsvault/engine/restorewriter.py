"""Writing file contents on restore: read packs in spans, verify each chunk, pwrite it.

Files are restored in batches; each batch reads every pack it needs once, in parallel, and a
chunk shared by several files (or several places in one file) is decrypted once.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rsvault.engine.progress import ProgressCounter
from rsvault.errors import RsvaultError
from rsvault.sources.files.metadata import apply_metadata
from rsvault.sources.files.node import Node
from rsvault.sources.files.target import RestoreTarget
from rsvault.vault.index import Index
from rsvault.vault.pack import BlobEntry
from rsvault.vault.repository import Vault

if TYPE_CHECKING:
    from rsvault.engine.restore import RestoreResult

BATCH_FILES = 1024
BATCH_BYTES = 256 << 20
SPAN_GAP = 256 * 1024  # read through small gaps rather than issue another request
SPAN_MAX = 16 << 20


@dataclass
class _OpenFile:
    node: Node
    fd: int
    temp: bytes
    failure: str | None = None


@dataclass
class _Blob:
    entry: BlobEntry
    destinations: list[tuple[int, int]] = field(default_factory=list)  # (file number, offset)


class ContentWriter:
    def __init__(
        self,
        vault: Vault,
        index: Index,
        target: RestoreTarget,
        workers: int,
        counter: ProgressCounter,
        result: RestoreResult,
    ) -> None:
        self._vault = vault
        self._index = index
        self._target = target
        self._workers = workers
        self._counter = counter
        self._result = result
        self._lock = threading.Lock()

    def write(self, files: list[Node]) -> None:
        with ThreadPoolExecutor(self._workers, thread_name_prefix="restore") as pool:
            for batch in _batches(files):
                self._write_batch(batch, pool)

    def _write_batch(self, batch: list[Node], pool: ThreadPoolExecutor) -> None:
        opened = [self._open(node) for node in batch]
        by_pack = self._plan(opened)
        jobs = [
            pool.submit(self._restore_pack, pid, blobs, opened) for pid, blobs in by_pack.items()
        ]
        for job in jobs:
            job.result()
        for handle in opened:
            self._finish(handle)

    def _open(self, node: Node) -> _OpenFile:
        fd, temp = self._target.open_temp_file(node.path)
        os.ftruncate(fd, node.size)  # holes stay holes: all-zero chunks are never written
        return _OpenFile(node, fd, temp)

    def _plan(self, opened: list[_OpenFile]) -> dict[str, dict[bytes, _Blob]]:
        by_pack: dict[str, dict[bytes, _Blob]] = defaultdict(dict)
        for number, handle in enumerate(opened):
            offset = 0
            for chunk_id, length in handle.node.chunks:
                if chunk_id is not None:
                    self._place(by_pack, handle, number, chunk_id, offset)
                offset += length
        return by_pack

    def _place(
        self,
        by_pack: dict[str, dict[bytes, _Blob]],
        handle: _OpenFile,
        number: int,
        chunk_id: bytes,
        offset: int,
    ) -> None:
        location = self._index.get(chunk_id)
        if location is None:
            handle.failure = f"chunk {chunk_id.hex()} is not in the vault"
            return
        blob = by_pack[location.pack_id].setdefault(chunk_id, _Blob(location.entry))
        blob.destinations.append((number, offset))

    def _restore_pack(
        self, pack_id: str, blobs: dict[bytes, _Blob], opened: list[_OpenFile]
    ) -> None:
        for start, end, members in _spans(sorted(blobs.values(), key=lambda b: b.entry.offset)):
            try:
                data = memoryview(self._vault.read_span(pack_id, start, end))
            except RsvaultError as exc:
                self._fail(members, opened, exc.report().message)
                continue
            for blob in members:
                self._write_blob(
                    blob, data[blob.entry.offset - start :][: blob.entry.length], opened
                )

    def _write_blob(self, blob: _Blob, sealed: memoryview, opened: list[_OpenFile]) -> None:
        try:
            plain = self._vault.open_blob(blob.entry, sealed)
        except RsvaultError as exc:
            self._fail([blob], opened, exc.report().message)
            return
        for number, offset in blob.destinations:
            _pwrite_all(opened[number].fd, plain, offset)
            self._counter.add(nbytes=len(plain))

    def _fail(self, blobs: list[_Blob], opened: list[_OpenFile], why: str) -> None:
        with self._lock:
            for blob in blobs:
                for number, _offset in blob.destinations:
                    opened[number].failure = why

    def _finish(self, handle: _OpenFile) -> None:
        os.close(handle.fd)
        path = handle.node.path
        if handle.failure is not None:
            self._target.discard_temp_file(path, handle.temp)
            self._result.failed["/" + os.fsdecode(path)] = handle.failure
            self._result.stats.files_failed += 1
            return
        parent = self._target.prepare_parent(path)
        self._result.warnings += apply_metadata(handle.temp, handle.node, dir_fd=parent)
        self._target.commit_temp_file(path, handle.temp)
        self._result.stats.files += 1
        self._result.stats.bytes_written += handle.node.size
        self._counter.add(files=1)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _batches(files: list[Node]) -> Iterator[list[Node]]:
    batch: list[Node] = []
    size = 0
    for node in files:
        batch.append(node)
        size += node.size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _spans(blobs: list[_Blob]) -> Iterator[tuple[int, int, list[_Blob]]]:
    """Group blobs sorted by offset into contiguous reads."""
    members: list[_Blob] = []
    start = end = 0
    for blob in blobs:
        e = blob.entry
        if members and (e.offset - end > SPAN_GAP or e.offset + e.length - start > SPAN_MAX):
            yield start, end, members
            members = []
        if not members:
            start = e.offset
        members.append(blob)
        end = max(end, e.offset + e.length) if len(members) > 1 else e.offset + e.length
    if members:
        yield start, end, members
