"""Files-and-folders backup: walk → read changed files → chunks into packs → tree → manifest."""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from rsvault.core.ids import recovery_point_name
from rsvault.core.memory import release_free_memory
from rsvault.engine.filecache import FilesCache
from rsvault.engine.progress import (
    COMMIT_PHASE,
    Progress,
    ProgressCounter,
    ProgressSink,
    ignore_progress,
)
from rsvault.engine.readpool import FileResult, ReadPool, worker_setup
from rsvault.engine.treecodec import node_to_record
from rsvault.errors import JobWarning, RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.walker import walk
from rsvault.vault.index import Index
from rsvault.vault.lease import LeaseKind
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault

WINDOW = 1024  # nodes waiting for their chunks before the oldest is awaited

Pending = Future[FileResult] | None


@dataclass(frozen=True)
class FilesBackupRequest:
    item: str
    paths: Sequence[str]
    excludes: Sequence[str] = ()
    workers: int = max(2, os.cpu_count() or 2)
    # The recovery point whose tree is the files cache. A caller that keeps a catalog names it
    # (None: this is the first backup); otherwise the vault's manifests are searched.
    parent: str | None = None
    parent_known: bool = False


@dataclass
class BackupStats:
    files: int = 0
    dirs: int = 0
    other: int = 0
    files_unchanged: int = 0
    bytes_total: int = 0  # size of every file in the recovery point
    bytes_read: int = 0  # bytes actually read from disk
    bytes_new: int = 0
    bytes_stored: int = 0
    chunks_new: int = 0
    chunks_deduplicated: int = 0
    warnings: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class BackupResult:
    manifest: Manifest
    stats: BackupStats
    warnings: list[JobWarning] = field(default_factory=list)


def latest_manifest_of(vault: Vault, item: str) -> Manifest | None:
    for name in reversed(vault.manifest_names()):
        manifest = vault.read_manifest(name)
        if manifest.item == item:
            return manifest
    return None


def backup_files(
    vault: Vault, request: FilesBackupRequest, progress: ProgressSink = ignore_progress
) -> BackupResult:
    # The lease comes before the index is read: prune's safety depends on that order.
    with vault.lease(LeaseKind.SHARED, f"backup {request.item}") as lease:
        index = vault.load_index()  # live packs only: never deduplicate against condemned ones
        parent = _parent_of(vault, request)
        cache = FilesCache.from_parent(vault, parent, vault.readable(index))
        release_free_memory()  # the index files and the parent's tree, decoded
        run = _BackupRun(vault, index, request, cache, progress)
        try:
            tree = run.write_tree()
        except BaseException:
            run.abort()  # nothing more is worth reading: the recovery point will not exist
            raise
        run.close()
        manifest = Manifest(
            name=recovery_point_name(vault.clock.now()),
            time=vault.clock.now().isoformat(),
            item=request.item,
            kind="files",
            host=socket.gethostname(),
            paths=[os.path.abspath(p) for p in request.paths],
            excludes=list(request.excludes),
            tree=tree,
            stats=run.stats.as_dict(),
            parent=parent.name if parent else None,
        )
        # Past this point the recovery point becomes visible; a sink may refuse (cancel) here.
        progress(Progress(COMMIT_PHASE, run.stats.files, run.stats.bytes_total))
        vault.write_manifest(manifest, lease)
    return BackupResult(manifest, run.stats, run.warnings)


def _parent_of(vault: Vault, request: FilesBackupRequest) -> Manifest | None:
    if not request.parent_known:
        return latest_manifest_of(vault, request.item)
    if request.parent is None:
        return None
    try:
        return vault.read_manifest(request.parent)
    except RsvaultError:
        return latest_manifest_of(vault, request.item)  # expired meanwhile: the next best


class _BackupRun:
    def __init__(
        self,
        vault: Vault,
        index: Index,
        request: FilesBackupRequest,
        cache: FilesCache,
        sink: ProgressSink,
    ) -> None:
        self.vault = vault
        self.index = index
        self.request = request
        self.cache = cache
        self.stats = BackupStats()
        self.warnings: list[JobWarning] = []
        self.progress = ProgressCounter(sink, "backup")
        self.writer = vault.chunk_writer(index)
        roots = [os.fsencode(os.path.abspath(p)) for p in request.paths]
        self.reader = ReadPool(
            worker_setup(vault),
            self.writer,
            self.progress,
            request.workers,
            prefetch=(roots, list(request.excludes)),
        )
        self.reader.start()  # the metadata prefetch begins before the walk

    def write_tree(self) -> list[tuple[bytes, int]]:
        refs = self.vault.write_tree(self.writer, self._records())
        self.reader.finish()
        self.writer.flush()
        s = self.writer.stats
        self.stats.bytes_new, self.stats.bytes_stored = s.bytes_new, s.bytes_stored
        self.stats.chunks_new, self.stats.chunks_deduplicated = s.chunks_new, s.chunks_deduplicated
        self.stats.warnings = len(self.warnings)
        return [(cid, n) for cid, n in refs if cid is not None]

    def _records(self) -> Iterator[dict[str, Any]]:
        pending: deque[tuple[Node, Pending]] = deque()
        known = self.cache.unchanged_xattrs if self.cache.has_parent else None
        for entry in walk(self.request.paths, self.request.excludes, known_xattrs=known):
            if isinstance(entry, JobWarning):
                self.warnings.append(entry)
                continue
            pending.append((entry, self._content_of(entry)))
            if len(pending) > WINDOW:
                self.reader.send_batch()  # the oldest may still wait in the task being gathered
            while pending and (len(pending) > WINDOW or _done(pending[0][1])):
                yield from self._finish(*pending.popleft())
        self.reader.send_batch()
        while pending:
            yield from self._finish(*pending.popleft())

    def _content_of(self, node: Node) -> Pending:
        self._count(node)
        if node.type is not NodeType.FILE:
            return None
        cached = self.cache.unchanged_chunks(node, self.index)
        if cached is not None:
            node.chunks = cached
            self.stats.files_unchanged += 1
            self.progress.add(files=1, nbytes=node.size)
            return None
        self.stats.bytes_read += node.size
        return self.reader.read_later(node.size, b"/" + node.path)

    def _count(self, node: Node) -> None:
        if node.type is NodeType.FILE:
            self.stats.files += 1
            self.stats.bytes_total += node.size
        elif node.type is NodeType.DIR:
            self.stats.dirs += 1
        else:
            self.stats.other += 1

    def _finish(self, node: Node, reading: Pending) -> Iterator[dict[str, Any]]:
        if reading is not None:
            result = reading.result()
            if isinstance(result, JobWarning):
                self.warnings.append(result)  # unreadable: left out, the job goes on
                self.stats.files -= 1
                self.stats.bytes_total -= node.size
                return
            node.chunks = result
            # A file that grew or shrank while being read is recorded as read, so a restore
            # writes exactly the bytes that were verified, at the size they add up to.
            read = sum(length for _cid, length in node.chunks)
            self.stats.bytes_total += read - node.size
            node.size = read
            self.progress.add(files=1)
        yield node_to_record(node)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.reader.abort()
        self.writer.close()


def _done(reading: Pending) -> bool:
    return reading is None or reading.done()
