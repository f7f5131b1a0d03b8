"""Reading one file into chunk jobs: the main thread reads and cuts, workers seal and store."""

from __future__ import annotations

import errno
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from rsvault.engine.progress import ProgressCounter
from rsvault.errors import Code, JobWarning
from rsvault.sources.files.node import Node
from rsvault.vault.chunker import ContentChunker
from rsvault.vault.crypto import DATA
from rsvault.vault.writer import ChunkRef, ChunkWriter

ChunkFutures = list[Future[ChunkRef]]


READERS = 2  # files read at once: one waits on the disk while the other is being cut
# Below this size a file is read and sealed on the calling thread: handing it to another
# thread costs more in futex calls and GIL switches than the work (measured: 4 million futex
# calls for 60,000 small files, against 0.1 million inline).
INLINE_BELOW = 128 * 1024

Reading = Future["ChunkFutures | JobWarning"]


class _Stopped(Exception):
    """Raised in a reader thread once the backup is being abandoned."""


class FileReader:
    """Reads files in a few threads and submits each chunk to the sealing pool.

    Reading overlaps with sealing (the GIL is released while reading, hashing, compressing
    and encrypting); the bound on chunks in flight keeps memory flat whatever the file sizes.
    """

    def __init__(
        self,
        writer: ChunkWriter,
        chunker: ContentChunker,
        progress: ProgressCounter,
        workers: int,
    ) -> None:
        self._writer = writer
        self._chunker = chunker
        self._progress = progress
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seal")
        self._readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="read")
        self._slots = threading.BoundedSemaphore(workers * 2)
        self._stopping = threading.Event()
        self._small = chunker.min_size

    def read_later(self, node: Node, absolute: bytes) -> Reading:
        """The file's chunk jobs: small files at once, larger ones from a reader thread."""
        if node.size >= INLINE_BELOW:
            return self._readers.submit(self.read, node, absolute)
        done: Reading = Future()
        done.set_result(self._read_inline(absolute))
        return done

    def _read_inline(self, absolute: bytes) -> ChunkFutures | JobWarning:
        try:
            with open(absolute, "rb", buffering=0) as handle:
                data = handle.read()
        except OSError as exc:
            return _warning(absolute, exc)
        stored: Future[ChunkRef] = Future()
        stored.set_result(self._writer.store(DATA, data))
        self._progress.add(nbytes=len(data))
        return [stored] if data else []

    def read(self, node: Node, absolute: bytes) -> ChunkFutures | JobWarning:
        """Chunk jobs for the file's content, or a warning when it cannot be read."""
        try:
            with open(absolute, "rb", buffering=0) as handle:
                if node.size <= self._small:
                    data = handle.read()  # one chunk: no need to run the chunker
                    return [self._submit(data)] if data else []
                return [self._submit(piece) for piece in self._chunker.cut_stream(handle)]
        except OSError as exc:
            return _warning(absolute, exc)

    def _submit(self, data: bytes) -> Future[ChunkRef]:
        # A timed wait: a reader blocked on a full pipeline must notice an abort.
        while not self._slots.acquire(timeout=0.1):
            if self._stopping.is_set():
                raise _Stopped
        if self._stopping.is_set():
            self._slots.release()
            raise _Stopped
        return self._pool.submit(self._store, data)

    def _store(self, data: bytes) -> ChunkRef:
        try:
            ref = self._writer.store(DATA, data)
            self._progress.add(nbytes=len(data))
            return ref
        finally:
            self._slots.release()

    def close(self) -> None:
        self._readers.shutdown(wait=True)
        self._pool.shutdown(wait=True)

    def abort(self) -> None:
        """Stop at once (a failure or a cancel): queued files are not read, a file being read
        stops at its next chunk, queued chunks are not sealed."""
        self._stopping.set()
        self._readers.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _warning(absolute: bytes, exc: OSError) -> JobWarning:
    path = os.fsdecode(absolute)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return JobWarning(Code.FILE_ACCESS_DENIED, path)
    if exc.errno == errno.ENOENT:
        return JobWarning(Code.FILE_VANISHED, path)
    return JobWarning(Code.FILE_READ_ERROR, path, {"reason": exc.strerror or str(exc)})
