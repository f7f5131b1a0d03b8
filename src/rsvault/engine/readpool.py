"""Reading a backup's files in worker processes (see `readworker`) and storing their chunks.

The backup's thread hands files over (`read_later`) and gets a future per file. Files travel
in tasks of up to TASK_FILES files or TASK_BYTES bytes, at most TASKS_PER_WORKER per worker.
A collector thread takes each part a worker has hashed, claims its new chunks with the
ChunkWriter (deduplication stays in one place, with exact answers), asks the worker to seal
just those, and appends what comes back to the open pack. A file's future completes once its
chunk ids are known; `finish` then waits until every claimed chunk has been appended.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import selectors
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from rsvault.core.memory import release_free_memory
from rsvault.engine import wire
from rsvault.engine.progress import ProgressCounter
from rsvault.engine.readworker import FilePiece, Setup
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.vault.crypto import DATA
from rsvault.vault.repository import Vault
from rsvault.vault.writer import ChunkRef, ChunkWriter

TASK_FILES = 64
TASK_BYTES = 4 * 1024 * 1024
TASKS_PER_WORKER = 2  # one being read, one ready: a worker never waits for the next task
_POLL_SECONDS = 0.2

FileResult = list[ChunkRef] | JobWarning


@dataclass
class _File:
    path: bytes
    future: Future[FileResult]
    refs: list[ChunkRef] = field(default_factory=list)


class _Worker:
    def __init__(self) -> None:
        self.sock, self.process = wire.spawn("rsvault.engine.readworker")
        self.tasks = 0

    def send(self, header: Any) -> None:
        try:
            wire.send(self.sock, header)
        except OSError as exc:
            raise _worker_ended() from exc


class ReadPool:
    def __init__(
        self,
        setup: Setup,
        writer: ChunkWriter,
        progress: ProgressCounter,
        workers: int,
        prefetch: tuple[list[bytes], list[str]] | None = None,
    ) -> None:
        self._setup = setup
        self._prefetch = prefetch  # roots and excludes, for the first worker (Setup.prefetch)
        self._writer = writer
        self._progress = progress
        self._size = max(1, workers)
        self._workers: list[_Worker] = []
        self._lock = threading.Condition()
        self._files: dict[int, _File] = {}
        self._batch: list[tuple[int, bytes]] = []
        self._batch_bytes = 0
        self._queue: deque[tuple[int, list[tuple[int, bytes]]]] = deque()
        self._next_file = 0
        self._next_task = 0
        self._unsealed = 0  # parts whose new chunks are not appended yet
        self._failure: BaseException | None = None
        self._stopping = threading.Event()
        self._collector: threading.Thread | None = None

    # the backup's thread

    def read_later(self, size: int, absolute: bytes) -> Future[FileResult]:
        """The file's chunk references (or a warning if it cannot be read), once read.

        The file may wait in the task being gathered: call `send_batch` before waiting."""
        future: Future[FileResult] = Future()
        with self._lock:
            self._raise_if_failed()
            file_no = self._next_file
            self._next_file += 1
            self._files[file_no] = _File(absolute, future)
            self._batch.append((file_no, absolute))
            self._batch_bytes += size
            if len(self._batch) >= TASK_FILES or self._batch_bytes >= TASK_BYTES:
                self._queue_batch()
        return future

    def send_batch(self) -> None:
        with self._lock:
            self._queue_batch()

    def finish(self) -> None:
        """Wait until every chunk claimed so far is in the writer, then stop the workers."""
        with self._lock:
            self._queue_batch()
            while self._failure is None and (
                self._unsealed or self._queue or any(w.tasks for w in self._workers)
            ):
                self._lock.wait(_POLL_SECONDS)
            self._raise_if_failed()
        self._shut_down(kill=False)

    def abort(self) -> None:
        """Stop at once: the workers are killed and nothing more is appended."""
        self._stopping.set()
        self._shut_down(kill=True)

    # under the lock

    def _queue_batch(self) -> None:
        if self._batch:
            self._queue.append((self._next_task, self._batch))
            self._next_task += 1
            self._batch, self._batch_bytes = [], 0
        self._dispatch()

    def _dispatch(self) -> None:
        if self._queue and not self._workers:
            self._start()
        while self._queue:
            worker = min(self._workers, key=lambda w: w.tasks)
            if worker.tasks >= TASKS_PER_WORKER:
                return
            task_id, files = self._queue.popleft()
            worker.send(("read", task_id, files))
            worker.tasks += 1

    def start(self) -> None:
        """Start the workers now rather than with the first task: the first one begins the
        metadata prefetch, and both are ready when the walk has found files."""
        with self._lock:
            if not self._workers:
                self._start()

    def _start(self) -> None:
        self._workers = [_Worker() for _ in range(self._size)]
        for number, worker in enumerate(self._workers):
            prefetch = self._prefetch if number == 0 else None
            worker.send(("setup", dataclasses.replace(self._setup, prefetch=prefetch)))
        self._collector = threading.Thread(target=self._collect, name="collect", daemon=True)
        self._collector.start()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    # the collector thread

    def _collect(self) -> None:
        selector = selectors.DefaultSelector()
        for worker in self._workers:
            selector.register(worker.sock, selectors.EVENT_READ, worker)
        try:
            while not self._stopping.is_set():
                for key, _events in selector.select(_POLL_SECONDS):
                    if self._on_message(key.data, *wire.receive(key.fileobj)):  # type: ignore[arg-type]
                        release_free_memory()  # the sealed part just stored, a few MiB
        except (EOFError, OSError):
            if not self._stopping.is_set():
                self._fail(_worker_ended())
        except BaseException as exc:  # a full store, a cancel from the progress sink, a bug
            self._fail(exc)

    def _on_message(self, worker: _Worker, message: tuple[Any, ...], payload: memoryview) -> bool:
        """Handle one message; True if it carried sealed chunks (now stored and let go)."""
        kind = message[0]
        if kind == "hashed":
            self._on_hashed(worker, message[1], message[3], message[4])
        elif kind == "sealed":
            offset = 0
            for chunk_id, sealed_length, length in message[2]:
                sealed = payload[offset : offset + sealed_length]
                self._writer.append_sealed(DATA, chunk_id, sealed, length)
                offset += sealed_length
            with self._lock:
                self._unsealed -= 1
                self._lock.notify_all()
            return True
        elif kind == "failed":
            raise RsvaultError(Code.INTERNAL_ERROR, reason=f"read worker failed: {message[1]}")
        return False

    def _on_hashed(
        self, worker: _Worker, part_id: int, pieces: list[FilePiece], task_done: bool
    ) -> None:
        positions = self._claim(pieces)
        with self._lock:
            worker.send(("seal", part_id, positions))
            self._unsealed += 1
            if task_done:
                worker.tasks -= 1
                self._dispatch()
                self._lock.notify_all()
        self._progress.add(nbytes=sum(n for piece in pieces for _cid, n in piece[1]))
        for piece in pieces:
            self._record(piece)

    def _claim(self, pieces: list[FilePiece]) -> list[int]:
        """Positions (in the part) of the chunks this backup must store."""
        positions = []
        position = 0
        for _file_no, refs, _last, _error in pieces:
            for chunk_id, _length in refs:
                if chunk_id is None:
                    self._writer.note_zero()
                elif self._writer.claim(chunk_id):
                    positions.append(position)
                position += 1
        return positions

    def _record(self, piece: FilePiece) -> None:
        file_no, refs, last, error = piece
        with self._lock:
            state = self._files[file_no]
            state.refs.extend(refs)
            if last:
                del self._files[file_no]
        if not last:
            return
        if error is None:
            state.future.set_result(state.refs)
        else:
            state.future.set_result(_warning(state.path, *error))

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._failure = self._failure or exc
            waiting, self._files = list(self._files.values()), {}
            self._lock.notify_all()
        for state in waiting:
            if not state.future.done():
                state.future.set_exception(exc)

    # both

    def _shut_down(self, *, kill: bool) -> None:
        self._stopping.set()
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            wire.ask_to_stop(worker.sock, worker.process, kill=kill)
        # The workers' sockets close as they exit, which wakes the collector at once.
        if self._collector is not None and self._collector is not threading.current_thread():
            self._collector.join()
        for worker in workers:
            wire.reap(worker.sock, worker.process)


def worker_setup(vault: Vault) -> Setup:
    """What a read worker needs to cut and seal chunks exactly as `vault` would."""
    c = vault.config
    return Setup(vault.subkeys(), c.compression_level, c.cdc_min, c.cdc_avg, c.cdc_max)


def _worker_ended() -> RsvaultError:
    return RsvaultError(Code.INTERNAL_ERROR, reason="a read worker ended unexpectedly")


def _warning(path: bytes, code: int, reason: str) -> JobWarning:
    name = os.fsdecode(path)
    if code in (errno.EACCES, errno.EPERM):
        return JobWarning(Code.FILE_ACCESS_DENIED, name)
    if code in (errno.ENOENT, errno.ELOOP):  # ELOOP: replaced by a symlink since the walk
        return JobWarning(Code.FILE_VANISHED, name)
    return JobWarning(Code.FILE_READ_ERROR, name, {"reason": reason})
