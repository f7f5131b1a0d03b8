"""Writing restored contents past the page cache (O_DIRECT).

A restore writes each byte once and never reads it back. Through the page cache, the kernel
finds a fresh page for every 4 KiB, copies the bytes into it, and writes it out later. In a
restore of large files that was most of the workers' system time, and it varied widely from
run to run. Written directly, the bytes go from a few reused buffers to the disk.

A direct write must start and end on a block boundary and come from aligned memory. So each
piece of a file is split: its aligned middle is copied into an aligned buffer and written
directly, the partial blocks at its ends go through the page cache. The two never share a
block, so the kernel keeps them coherent. A direct write returns only once the disk has the
bytes, and holds the file's lock meanwhile; so one thread does every write to such a file,
in order, while the worker verifies the next chunks. A file system that takes no direct
writes gets everything through the page cache, as before.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

ALIGN = 4096  # a multiple of every logical block size, and the page size
MIN_SIZE = 64 << 10  # a smaller file is mostly partial blocks: direct writes do not pay
_STAGE = 1 << 20  # one aligned buffer: one direct write at most
_DEPTH = 4  # writes in flight: the disk never waits, and a worker holds 4 MiB at most
# Errors that mean "no direct writes here" (not a fault of the file or the disk)
_NOT_SUPPORTED = {errno.EINVAL, errno.EOPNOTSUPP, errno.ENOENT, errno.ENOTDIR, errno.EACCES}


class DirectWrites:
    """One process's direct writes: its aligned buffers, the thread that writes them, and
    whether the file system takes them (after a refusal, every write goes through the page
    cache). `flush` before a file's descriptors close: writes may still be in flight."""

    def __init__(self) -> None:
        self._spare: list[mmap.mmap] = []
        self._in_flight: deque[tuple[Future[None], mmap.mmap | None]] = deque()
        self._writer: ThreadPoolExecutor | None = None
        self._refused = False

    def open(self, fd: int, size: int) -> int | None:
        """A second descriptor on the new file `fd` (`size` bytes once written) for direct
        writes, or None where they do not pay or are not possible. The file gets its size
        now: a direct write past the end would have to take the file's lock alone."""
        if size < MIN_SIZE or self._refused:
            return None
        try:
            direct = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno not in _NOT_SUPPORTED:
                raise
            self._refused = True
            return None
        try:
            os.ftruncate(fd, size)
        except BaseException:
            os.close(direct)
            raise
        return direct

    def write(self, fd: int, direct: int, data: bytes | memoryview, offset: int) -> None:
        """Write `data` at `offset` of the file: its aligned middle through `direct`, the
        partial blocks at its ends through `fd`. Every write to the file goes through the
        thread (in flight until `flush`): one that waited for the file's lock while a direct
        write held it would stall the worker."""
        view = memoryview(data)
        start = min(-offset % ALIGN, len(view))  # bytes up to the first block boundary
        end = start + (len(view) - start) // ALIGN * ALIGN
        # the partial blocks travel as copies: a view would keep the whole chunk alive
        if start:
            self._send(fd, None, view[:start].tobytes(), offset)
        for at in range(start, end, _STAGE):
            self._send(fd, direct, view[at : min(at + _STAGE, end)], offset + at)
        if end < len(view):
            self._send(fd, None, view[end:].tobytes(), offset + end)

    def flush(self) -> None:
        """Wait for every write in flight; the first that failed raises its error."""
        while self._in_flight:
            self._settle_oldest()

    def drain(self) -> None:
        """Wait for every write in flight, when their errors no longer matter (the files are
        given up)."""
        while self._in_flight:
            with contextlib.suppress(OSError):
                self._settle_oldest()

    def close(self) -> None:
        self.drain()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        self._spare.clear()  # unmapped once the last view of them is gone

    def _send(self, fd: int, direct: int | None, piece: bytes | memoryview, offset: int) -> None:
        """Hand one write to the thread: through `direct` from an aligned copy of `piece`, or
        through `fd`."""
        if len(self._in_flight) >= _DEPTH:
            self._settle_oldest()
        stage = None
        if direct is not None and not self._refused:
            stage = self._spare.pop() if self._spare else mmap.mmap(-1, _STAGE)  # page-aligned
            stage[: len(piece)] = piece
            piece = memoryview(stage)[: len(piece)]  # the chunk need not stay alive
        else:
            direct = None
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="direct-write")
        future = self._writer.submit(self._write, fd, direct, piece, offset)
        self._in_flight.append((future, stage))

    def _settle_oldest(self) -> None:
        future, stage = self._in_flight.popleft()
        if stage is not None:
            self._spare.append(stage)
        future.result()

    def _write(self, fd: int, direct: int | None, piece: bytes | memoryview, at: int) -> None:
        """(On the thread.) Write `piece` at `at`: through `direct` when given (`piece` is
        then aligned), else, or where the file system refuses (and from then on, for every
        write), through `fd`."""
        if direct is None or self._refused:
            pwrite_all(fd, piece, at)
            return
        view = memoryview(piece)
        try:
            while view:
                count = os.pwrite(direct, view, at)
                if count % ALIGN:  # a short write that cannot go on directly
                    raise OSError(errno.EINVAL, "unaligned short direct write")
                view, at = view[count:], at + count
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._refused = True
            pwrite_all(fd, view, at)


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        count = os.pwrite(fd, view, offset)
        view, offset = view[count:], offset + count
