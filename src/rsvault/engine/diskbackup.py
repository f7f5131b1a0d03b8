"""Disk images into the vault: fixed-size chunks at fixed offsets, only the changed ones read.

A VM recovery point's tree holds one record per segment of each disk (SEGMENT_CHUNKS chunks):
{"p": disk target, "o": segment number, "c": [[chunk id or None, length], ...]}. None is a chunk
of zeros, never stored. A chunk the plan keeps is the previous recovery point's reference, so an
incremental backup reads and stores only what the dirty bitmap names, yet every recovery point
is a whole disk on its own: restoring one never needs another.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from rsvault.engine.diskplan import Action, Range, plan_chunks
from rsvault.engine.progress import ProgressCounter
from rsvault.errors import Code, RsvaultError
from rsvault.vault.crypto import DATA
from rsvault.vault.index import Index
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault
from rsvault.vault.tree import CHUNKS_FIELD, PATH_FIELD
from rsvault.vault.writer import ChunkRef, ChunkWriter

SEGMENT_CHUNKS = 1024
SEGMENT_FIELD = "o"


class ChunkSource(Protocol):
    def pread(self, offset: int, length: int) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DiskInput:
    """One disk to back up: where it has data, what changed, and how to read it."""

    target: str
    size: int
    data: Sequence[Range]
    dirty: Sequence[Range] | None  # None: read every chunk with data
    open_reader: Callable[[], ChunkSource]


@dataclass
class DiskStats:
    target: str
    size: int
    chunks: int = 0
    chunks_read: int = 0
    chunks_kept: int = 0
    chunks_zero: int = 0
    bytes_read: int = 0
    incremental: bool = False  # unchanged chunks came from the previous recovery point

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DisksResult:
    tree: list[tuple[bytes, int]]
    disks: list[DiskStats] = field(default_factory=list)


def parent_segments(vault: Vault, parent: Manifest | None, index: Index) -> dict[str, list[Any]]:
    """The parent recovery point's chunk references, per disk, as one flat list each."""
    refs: dict[str, list[Any]] = {}
    if parent is None:
        return refs
    for record in vault.read_tree(parent, index):
        target = bytes(record[PATH_FIELD]).decode()
        refs.setdefault(target, []).extend(record.get(CHUNKS_FIELD) or ())
    return refs


class _ThreadReaders:
    """One reader (NBD connection) per worker thread and disk, closed at the end."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[ChunkSource] = []
        self._lock = threading.Lock()

    def get(self, disk: DiskInput) -> ChunkSource:
        readers: dict[str, ChunkSource] = self._local.__dict__.setdefault("readers", {})
        reader = readers.get(disk.target)
        if reader is None:
            reader = readers[disk.target] = disk.open_reader()
            with self._lock:
                self._all.append(reader)
        return reader

    def close(self) -> None:
        with self._lock:
            for reader in self._all:
                reader.close()
            self._all.clear()


class DiskBackupRun:
    def __init__(
        self,
        vault: Vault,
        writer: ChunkWriter,
        index: Index,
        progress: ProgressCounter,
        workers: int,
        should_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self.vault = vault
        self.writer = writer
        self.index = index
        self.progress = progress
        self.chunk_size = vault.config.fixed_chunk_size
        self.workers = workers
        self.should_stop = should_stop
        self._readers = _ThreadReaders()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="disk-read")

    def records(
        self, disks: Sequence[DiskInput], parents: dict[str, list[Any]], stats: list[DiskStats]
    ) -> Iterator[dict[str, Any]]:
        for disk in disks:
            disk_stats = DiskStats(disk.target, disk.size)
            stats.append(disk_stats)
            parent = parents.get(disk.target)
            if parent is not None and len(parent) != -(-disk.size // self.chunk_size):
                parent = None  # resized: nothing lines up with the old chunks
            disk_stats.incremental = parent is not None and disk.dirty is not None
            yield from self._disk_records(disk, parent, disk_stats)

    def _disk_records(
        self, disk: DiskInput, parent: list[Any] | None, stats: DiskStats
    ) -> Iterator[dict[str, Any]]:
        dirty = disk.dirty if parent is not None else None
        pending: deque[tuple[int, list[ChunkRef | Future[ChunkRef]]]] = deque()
        segments = -(-disk.size // (self.chunk_size * SEGMENT_CHUNKS))
        plan = plan_chunks(disk.size, self.chunk_size, disk.data, dirty)
        for segment in range(segments):
            refs = [
                self._chunk(disk, index, action, parent, stats)
                for index, action in _take(plan, SEGMENT_CHUNKS)
            ]
            pending.append((segment, refs))
            # One segment is read while the one before it is awaited: the pool stays busy
            # across the boundary, and only references (not data) wait in memory.
            while len(pending) > 1:
                yield self._record(disk.target, *pending.popleft())
        while pending:
            yield self._record(disk.target, *pending.popleft())

    def _chunk(
        self,
        disk: DiskInput,
        index: int,
        action: Action,
        parent: list[Any] | None,
        stats: DiskStats,
    ) -> ChunkRef | Future[ChunkRef]:
        stats.chunks += 1
        length = min(self.chunk_size, disk.size - index * self.chunk_size)
        if action is Action.KEEP and parent is not None:
            cid, _n = parent[index]
            if cid is None or cid in self.index:  # a pruned parent chunk is read anew
                stats.chunks_kept += 1
                self.progress.add(nbytes=length)
                return (cid, length)
        if action is Action.ZERO:
            stats.chunks_zero += 1
            self.progress.add(nbytes=length)
            return (None, length)
        stats.chunks_read += 1
        stats.bytes_read += length
        return self._pool.submit(self._read_and_store, disk, index * self.chunk_size, length)

    def _read_and_store(self, disk: DiskInput, offset: int, length: int) -> ChunkRef:
        self.should_stop()
        data = self._readers.get(disk).pread(offset, length)
        if len(data) != length:
            raise RsvaultError(
                Code.SNAPSHOT_FAILED, vm=disk.target, reason=f"short read at {offset}"
            )
        ref = self.writer.store(DATA, data)
        self.progress.add(nbytes=length)
        return ref

    def _record(
        self, target: str, segment: int, refs: list[ChunkRef | Future[ChunkRef]]
    ) -> dict[str, Any]:
        done = [r.result() if isinstance(r, Future) else r for r in refs]
        return {
            PATH_FIELD: target.encode(),
            SEGMENT_FIELD: segment,
            CHUNKS_FIELD: [[cid, n] for cid, n in done],
        }

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._readers.close()


def _take(plan: Iterator[tuple[int, Action]], n: int) -> Iterator[tuple[int, Action]]:
    for _ in range(n):
        item = next(plan, None)
        if item is None:
            return
        yield item
