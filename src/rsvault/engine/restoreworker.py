"""A restore worker: a child process that creates files, writes verified chunks into them and
puts them in place.

A restore of many files is mostly system calls: create, write, set owner, mode and times,
link; and every chunk is authenticated, decompressed and hashed on the way. In threads of
one process all of that queues for the interpreter lock; worker processes put every core to
use. The parent (see `restorepool`) decides what is read and does every check of the
restore target: a worker only ever gets descriptors of directories the target opened,
names the target checked, and temp names the target will clean up if the restore fails.

Work comes in batches. A batch names the files to create (`FileSpec`) and the descriptors to
write into directly (a disk image the parent created); its write jobs then carry one span of
a pack each, and after each job the files whose last chunk it held are finished: metadata,
then their name, or nothing if one of their chunks did not verify. A file is created without
a name (O_TMPFILE) and linked under its own name once finished; where the name is taken, or
the file system cannot make unnamed files, it goes through its temp name and a rename.
Files of 64 KiB and more are written past the page cache (see `directwrite`).

Messages over one socket pair (see `wire`):

parent → worker  ("setup", WorkerSetup)
                 ("batch", batch id, [FileSpec], number of directory fds,
                  [file numbers with nothing to write]), with the directory fds, then the
                 fds to write into
                 ("write", batch id, [SpanSource], [file numbers to finish],
                  last message of the batch)
                 with the spans sent as bytes one after another as payload, and a
                 descriptor on its pack for each span lent, in order
                 ("stop",)
worker → parent, one reply per message, in order:
                 ("done", bytes written, [Finished], [(target, Why)] for chunks that did
                  not reach a descriptor target)
                 ("refused", errno, strerror): the target refused a write (a full disk)
                 ("failed", description): a bug

Targets of a batch are numbered: first the given descriptors, then the files it creates.
SpanBlob = (kind, chunk id, offset in the span, sealed length, [(target, offset in it)])
SpanSource = ([SpanBlob], Why the span could not be read or None, (start, end) in the pack
              when a descriptor is lent to read it from or None, length sent as payload)
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rsvault.core.limits import raise_open_files_limit
from rsvault.engine import wire
from rsvault.engine.directwrite import DirectWrites, pwrite_all
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.sources.files.metadata import apply_metadata
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.target import (
    commit_temp_file,
    commit_unnamed_file,
    create_temp_file,
    create_unnamed_file,
    discard_temp_file,
)
from rsvault.vault.crypto import Sealer
from rsvault.vault.keys import VaultKeys

SpanBlob = tuple[bytes, bytes, int, int, list[tuple[int, int]]]
# What a worker needs of a file's node to give it its metadata (see `file_spec`):
# (path, mode, uid, gid, atime_ns, mtime_ns, xattrs)
FileMeta = tuple[bytes, int, int, int, int, int, dict[bytes, bytes]]
# (directory number, temp name, final name, size, whether it ends in a run of zeros, FileMeta)
FileSpec = tuple[int, bytes, bytes, int, bool, FileMeta]
# Why a chunk was not written: an error code and its parameters (the parent words it)
Why = tuple[str, dict[str, Any]]
# (file number, why it was not restored or None, metadata warnings)
Finished = tuple[int, Why | None, list[JobWarning]]
# One span of a write message (see the module's docstring)
SpanSource = tuple[list[SpanBlob], Why | None, tuple[int, int] | None, int]


def file_spec(dir_no: int, temp: bytes, name: bytes, node: Node) -> FileSpec:
    """A file as a batch names it. Only what the worker uses of the node travels: pickling
    whole nodes, chunk lists and all, cost as much as the rest of a batch's planning."""
    meta = (node.path, node.mode, node.uid, node.gid, node.atime_ns, node.mtime_ns, node.xattrs)
    return (dir_no, temp, name, node.size, _ends_in_zeros(node), meta)


def _node_of(meta: FileMeta) -> Node:
    path, mode, uid, gid, atime_ns, mtime_ns, xattrs = meta
    return Node(path, NodeType.FILE, mode, uid, gid, mtime_ns, atime_ns, xattrs=xattrs)


@dataclass(frozen=True)
class WorkerSetup:
    keys: VaultKeys
    store_location: str  # named when a pack the worker reads from fails


class BatchWriter:
    """One batch's targets in this process. It owns every descriptor it is given."""

    def __init__(
        self, files: list[FileSpec], dirs: list[int], fds: list[int], directs: DirectWrites
    ) -> None:
        self._dirs = dirs
        self._files = files
        self._targets = list(fds)
        self._first_file = len(fds)
        self._directs = directs
        self._direct: dict[int, int] = {}  # target number → its descriptor for direct writes
        self._failures: dict[int, Why] = {}  # target number → why
        self._named: set[int] = set()  # file numbers created under their temp name
        try:
            for number, spec in enumerate(files):
                self._create(number, spec)
        except BaseException:
            self.close()
            raise

    def _create(self, number: int, spec: FileSpec) -> None:
        dir_no, temp, _name, size, zeros_at_end, meta = spec
        mode = meta[1]  # the file is created with it (see `target.creation_mode`)
        fd = create_unnamed_file(self._dirs[dir_no], mode)
        if fd is None:
            fd = create_temp_file(self._dirs[dir_no], temp, mode)
            self._named.add(number)
        self._targets.append(fd)
        direct = self._directs.open(fd, size)  # and the file has its size
        if direct is not None:
            self._direct[len(self._targets) - 1] = direct
        elif zeros_at_end:  # all-zero chunks are never written: holes stay holes
            os.ftruncate(fd, size)

    def write(
        self,
        sealer: Sealer,
        blobs: Sequence[SpanBlob],
        span: memoryview,
        lost: Why | None,
    ) -> tuple[int, list[tuple[int, Why]]]:
        """Verify each blob of `span` and write it wherever it goes: (bytes written, the
        given descriptors that a chunk failed to reach, and why).

        A chunk that does not verify is written nowhere, and its targets are marked failed
        (a file is then removed when finished)."""
        written = 0
        failed: list[tuple[int, Why]] = []
        for kind, chunk_id, offset, length, destinations in blobs:
            plain, why = _open(sealer, kind, chunk_id, span[offset : offset + length], lost)
            if why is not None:
                for target, _at in destinations:
                    self._failures.setdefault(target, why)
                    if target < self._first_file:
                        failed.append((target, why))
                continue
            for target, at in destinations:
                direct = self._direct.get(target)
                if direct is None:
                    pwrite_all(self._targets[target], plain, at)
                else:
                    self._directs.write(self._targets[target], direct, plain, at)
                written += len(plain)
        return written, failed

    def finish(self, numbers: Sequence[int]) -> list[Finished]:
        if any(self._first_file + number in self._direct for number in numbers):
            self._directs.flush()  # their last bytes may still be on the way
        return [self._finish_file(number) for number in numbers]

    def _finish_file(self, number: int) -> Finished:
        target = self._first_file + number
        fd, self._targets[target] = self._targets[target], -1
        direct = self._direct.pop(target, None)
        if direct is not None:
            os.close(direct)
        dir_no, temp, name, _size, _zeros_at_end, meta = self._files[number]
        named = number in self._named
        why = self._failures.get(target)
        if why is not None:
            os.close(fd)
            if named:
                discard_temp_file(self._dirs[dir_no], temp)
            return number, why, []
        try:  # every write into the file is done: its times will not move again
            warnings = apply_metadata(fd, _node_of(meta))
            if not named:
                commit_unnamed_file(self._dirs[dir_no], fd, temp, name)
        finally:
            os.close(fd)
        if named:
            commit_temp_file(self._dirs[dir_no], temp, name)
        return number, None, warnings

    def close(self) -> None:
        """Close every descriptor left; unfinished files stay for the parent to remove."""
        self._directs.drain()  # no write may still be on its way to a descriptor closed here
        for fd in [*self._direct.values(), *self._targets, *self._dirs]:
            if fd >= 0:
                os.close(fd)
        self._direct, self._targets, self._dirs = {}, [], []


def _ends_in_zeros(node: Node) -> bool:
    """Whether writing the file's chunks leaves it short of its size (a last run of zeros)."""
    return bool(node.size) and (not node.chunks or node.chunks[-1][0] is None)


def _open(
    sealer: Sealer, kind: bytes, chunk_id: bytes, sealed: memoryview, lost: Why | None
) -> tuple[bytes | memoryview, Why | None]:
    """(the chunk's plaintext, or why there is none: the span was lost, or it did not verify)"""
    if lost is not None:
        return b"", lost
    try:
        return sealer.open_chunk(kind, chunk_id, sealed), None
    except RsvaultError as exc:
        return b"", (exc.code.value, exc.params)


class Server:
    """Handles the parent's messages; the same code serves a worker process and a small
    restore run in a thread of the parent."""

    def __init__(self, setup: WorkerSetup) -> None:
        self._sealer = Sealer(setup.keys)
        self._directs = DirectWrites()
        self._store = setup.store_location
        self._batches: dict[int, BatchWriter] = {}

    def handle(
        self, message: tuple[Any, ...], payload: memoryview, fds: list[int]
    ) -> tuple[Any, ...]:
        try:
            if message[0] == "batch":
                return self._begin(*message[1:], fds=fds)
            return self._write(*message[1:], span=payload, fds=fds)
        except OSError as exc:
            return ("refused", exc.errno or 0, exc.strerror or str(exc))

    def _begin(
        self,
        batch_id: int,
        files: list[FileSpec],
        dir_count: int,
        empty: list[int],
        *,
        fds: list[int],
    ) -> tuple[Any, ...]:
        batch = self._batches[batch_id] = BatchWriter(
            files, fds[:dir_count], fds[dir_count:], self._directs
        )
        return ("done", 0, batch.finish(empty), [])

    def _write(
        self,
        batch_id: int,
        spans: list[SpanSource],
        ends: list[int],
        last: bool,
        *,
        span: memoryview,
        fds: list[int],
    ) -> tuple[Any, ...]:
        batch = self._batches[batch_id]
        written, failed = 0, []
        lent, sent = deque(fds), span
        try:
            for blobs, lost, where, length in spans:
                if where is not None:
                    data, lost = self._read_lent(lent.popleft(), *where)
                else:
                    data, sent = sent[:length], sent[length:]
                count, missed = batch.write(self._sealer, blobs, data, lost)
                written += count
                failed += missed
        finally:
            wire.close_all(lent)  # not reached: a write was refused
        finished = batch.finish(ends)
        if last:
            del self._batches[batch_id]
            batch.close()
        return ("done", written, finished, failed)

    def _read_lent(self, fd: int, start: int, end: int) -> tuple[memoryview, Why | None]:
        """The span from a pack descriptor the parent lent (and this closes). A short read
        (a truncated pack) leaves the missing chunks to fail verification."""
        try:
            return memoryview(pread_upto(fd, end - start, start)), None
        except OSError as exc:
            params = {"store": self._store, "reason": exc.strerror or str(exc)}
            return memoryview(b""), (Code.STORE_UNAVAILABLE.value, params)
        finally:
            os.close(fd)

    def close(self) -> None:
        for batch in self._batches.values():
            batch.close()
        self._batches.clear()
        self._directs.close()


def pread_upto(fd: int, length: int, offset: int) -> bytes:
    """`length` bytes from `offset`, fewer only where the file ends."""
    parts = []
    while length:
        data = os.pread(fd, length, offset)
        if not data:
            break
        parts.append(data)
        length, offset = length - len(data), offset + len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _serve(sock: socket.socket, server: Server) -> None:
    while True:
        message, payload, fds = wire.receive_with_fds(sock, wire.MAX_FDS)
        if message[0] == "stop":
            return
        wire.send(sock, server.handle(message, payload, fds))


def _run(sock: socket.socket, setup: WorkerSetup) -> None:
    raise_open_files_limit()
    server = Server(setup)
    try:
        _serve(sock, server)
    finally:
        server.close()


def main() -> None:
    wire.child_main(_run)


if __name__ == "__main__":
    main()
