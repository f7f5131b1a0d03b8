"""A read worker: a child process that reads, cuts, hashes and seals files for a backup.

A files backup makes hundreds of thousands of system calls. Threads of one Python process
hand the interpreter lock over at each of them, so a threaded reader spends more time
switching than reading; separate processes use every core instead. The parent (see
`readpool`) walks the tree, decides which chunks are new, and writes the packs; a worker
only ever sees the paths it is given, and nothing it sends is trusted further than a chunk
id the parent can recompute.

Messages over one socket pair (see `wire`):

parent → worker  ("setup", Setup)
                 ("read", task id, [(file number, absolute path)])
                 ("seal", part id, [chunk positions in the part])
                 ("stop",)
worker → parent  ("hashed", part id, task id, [FilePiece], task finished)
                 ("sealed", part id, [(chunk id, sealed length, plaintext length)]) with the
                 sealed chunks, one after another, as the payload
                 ("failed", description)

A part is up to PART_BYTES of consecutive chunks of one task's files (or one larger chunk);
a large file spans several parts. FilePiece = (file number, [(chunk id or None for zeros,
length)], last piece of the file, error or None), error = (errno, strerror).
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rsvault.core.memory import release_free_memory
from rsvault.engine import wire
from rsvault.sources.files.prefetch import start_prefetch
from rsvault.vault.chunker import ContentChunker, is_zero
from rsvault.vault.crypto import DATA, Sealer
from rsvault.vault.keys import VaultKeys

# A worker holds PARTS_WAITING + 1 parts: 2 MiB each cost as little time as 4 MiB did, and
# 12 MiB less memory for the two workers of a two-core machine.
PART_BYTES = 2 * 1024 * 1024
PARTS_WAITING = 2  # parts hashed and waiting for the parent's answer, at most
# Idle this long, a worker hands its buffers back: at the end of a backup the workers wait
# while the parent writes the tree and the index, and their buffers would sit on top of that.
# Shorter gaps, while the walk catches up, keep them (making them again costs page faults).
IDLE_SECONDS = 0.05

FilePiece = tuple[int, list[tuple[bytes | None, int]], bool, tuple[int, str] | None]


@dataclass(frozen=True)
class Setup:
    keys: VaultKeys
    compression_level: int
    cdc_min: int
    cdc_avg: int
    cdc_max: int
    # The backup's roots (absolute) and exclude globs, for the one worker that prefetches
    # their metadata (see `sources.files.prefetch`).
    prefetch: tuple[list[bytes], list[str]] | None = None


@dataclass
class _Part:
    # The part's chunks, back to back, in a buffer that later parts reuse: a copy per chunk
    # would leave the heap fragmented by megabyte holes, and a worker's memory would grow.
    buffer: memoryview
    pieces: list[FilePiece] = field(default_factory=list)
    chunks: list[tuple[bytes, int, int] | None] = field(default_factory=list)  # id, start, end
    size: int = 0
    # A chunk larger than a part is always alone in its part (see `_read_task`), in a buffer
    # of its own that goes once the part is sealed: pooled, such buffers would make every
    # part as large as the largest chunk.
    large: memoryview | None = None

    @property
    def data(self) -> memoryview:
        """Where the chunks' bytes are (`chunks` gives their places)."""
        return self.buffer if self.large is None else self.large

    def add(self, file_no: int, data: bytes | memoryview, sealer: Sealer) -> None:
        refs = self._piece(file_no)[1]
        n = len(data)
        if is_zero(data):
            refs.append((None, n))
            self.chunks.append(None)
        else:
            chunk_id = sealer.chunk_id(data)
            refs.append((chunk_id, n))
            if n > len(self.buffer) and self.size == 0:
                self.large = memoryview(bytearray(data))
            else:
                self.buffer[self.size : self.size + n] = data
            self.chunks.append((chunk_id, self.size, self.size + n))
        self.size += n

    def end_file(self, file_no: int, error: tuple[int, str] | None = None) -> None:
        number, refs, _last, _error = self._piece(file_no)
        self.pieces[-1] = (number, refs, True, error)

    def _piece(self, file_no: int) -> FilePiece:
        if not self.pieces or self.pieces[-1][0] != file_no:
            self.pieces.append((file_no, [], False, None))
        return self.pieces[-1]


class _Worker:
    def __init__(self, sock: socket.socket, setup: Setup) -> None:
        self._sock = sock
        self._sealer = Sealer(setup.keys, setup.compression_level)
        self._chunker = ContentChunker(
            setup.cdc_min, setup.cdc_avg, setup.cdc_max, setup.keys.cdc_seed
        )
        self._spare_buffers: list[memoryview] = []
        self._tasks: deque[tuple[int, list[tuple[int, bytes]]]] = deque()
        self._reading: Iterator[None] | None = None
        self._waiting: dict[int, _Part] = {}
        self._next_part = 0
        if setup.prefetch is not None:
            start_prefetch(*setup.prefetch)

    def run(self) -> None:
        while True:
            idle = self._reading is None and not self._tasks
            if idle and not self._has_message(IDLE_SECONDS):
                self._shed()
            if idle or len(self._waiting) >= PARTS_WAITING or self._has_message():
                if not self._handle(wire.receive(self._sock)[0]):
                    return
                continue
            if self._reading is None:
                self._reading = self._read_task(*self._tasks.popleft())
            if next(self._reading, StopIteration) is StopIteration:
                self._reading = None

    def _has_message(self, wait: float = 0) -> bool:
        return bool(select.select([self._sock], [], [], wait)[0])

    def _shed(self) -> None:
        """Give the spare part buffers and the chunker's buffer back to the system."""
        if self._spare_buffers or self._chunker.holds_buffer:
            self._spare_buffers.clear()
            self._chunker.drop_buffer()
            release_free_memory()

    def _handle(self, message: tuple[Any, ...]) -> bool:
        kind = message[0]
        if kind == "read":
            self._tasks.append((message[1], message[2]))
        elif kind == "seal":
            self._seal(message[1], message[2])
        elif kind == "stop":
            return False
        return True

    def _read_task(self, task_id: int, files: list[tuple[int, bytes]]) -> Iterator[None]:
        """Reads the task's files, sending a part whenever one is full (one step per part)."""
        handles = [(file_no, _open_ahead(path)) for file_no, path in files]
        part = self._new_part()
        for file_no, handle in handles:
            if isinstance(handle, OSError):
                part.end_file(file_no, (handle.errno or 0, handle.strerror or str(handle)))
                continue
            try:
                with open(handle, "rb", buffering=0, closefd=True) as stream:
                    for piece in self._pieces(stream):
                        # Full before the chunk, not after: a part never exceeds PART_BYTES
                        # unless one chunk does, which bounds a worker's memory.
                        if part.size and part.size + len(piece) > PART_BYTES:
                            self._send_part(part, task_id, finished=False)
                            yield
                            # Only now: while PARTS_WAITING parts wait, no third is filled,
                            # and a buffer they free is reused instead of a new one made.
                            part = self._new_part()
                        part.add(file_no, piece, self._sealer)
                part.end_file(file_no)
            except OSError as exc:
                part.end_file(file_no, (exc.errno or 0, exc.strerror or str(exc)))
        self._send_part(part, task_id, finished=True)
        yield

    def _pieces(self, stream: io.FileIO) -> Iterator[bytes | memoryview]:
        first = stream.read(self._chunker.min_size)
        if len(first) < self._chunker.min_size:
            if first:
                yield first  # a small file is one chunk: no need to run the chunker
            return
        yield from self._chunker.cut_stream(_Prefixed(first, stream))

    def _new_part(self) -> _Part:
        spare = self._spare_buffers
        return _Part(spare.pop() if spare else memoryview(bytearray(PART_BYTES)))

    def _send_part(self, part: _Part, task_id: int, *, finished: bool) -> None:
        part_id = self._next_part
        self._next_part += 1
        self._waiting[part_id] = part
        wire.send(self._sock, ("hashed", part_id, task_id, part.pieces, finished))

    def _seal(self, part_id: int, positions: list[int]) -> None:
        part = self._waiting.pop(part_id)
        entries, blobs = [], []
        for position in positions:
            chunk = part.chunks[position]
            if chunk is not None:
                chunk_id, start, end = chunk
                blobs.append(self._sealer.seal_chunk(DATA, chunk_id, part.data[start:end]))
                entries.append((chunk_id, len(blobs[-1]), end - start))
        wire.send(self._sock, ("sealed", part_id, entries), blobs)
        self._spare_buffers.append(part.buffer)  # sent: its chunks are no longer needed
        release_free_memory()  # the sealed chunks just sent


class _Prefixed:
    """A stream whose first bytes were already read."""

    def __init__(self, prefix: bytes, stream: io.FileIO) -> None:
        self._prefix = memoryview(prefix)
        self._stream = stream

    def readinto(self, buffer: memoryview) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._stream.readinto(buffer) or 0


def _open_ahead(path: bytes) -> int | OSError:
    """Open a file and ask the kernel to start reading it, so a batch of small files is read
    from disk in parallel rather than one request at a time."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOATIME)
    except PermissionError:
        try:  # O_NOATIME is refused for files the user does not own (unless root)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            return exc
    except OSError as exc:
        return exc
    with contextlib.suppress(OSError):  # only a hint
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    return fd


def main() -> None:
    wire.child_main(lambda sock, setup: _Worker(sock, setup).run())


if __name__ == "__main__":
    main()
