"""Restore work spread over worker processes (see `restoreworker`).

The caller plans a batch: the files a worker is to create (under names and in directories
the restore target checked), and where each chunk goes (`SpanPlan`: a target and an offset
per destination). `WritePool.submit` gives the batch to the least busy worker. That
worker's feeder thread hands the batch's spans over a few at a time, up to MESSAGE_BYTES of
them in one message: a restore of small files reads thousands of short spans, and each
message costs both processes more than reading one more span does. What each message did
comes back to the caller's thread as outcomes from `submit` and `wait`. The caller's thread
only plans and keeps the books, so the workers never wait for it.

When the store keeps packs as local files, the feeder lends the worker a descriptor on the
pack and asks the kernel to read the span ahead; the worker reads it itself. Otherwise the
feeder reads the span and sends its bytes. Lending spares two copies of every byte through
the socket and this process's share of the reading, which on a two-core machine is time
taken from the workers.

A small restore runs the very same code in a thread of this process (`in_process`):
starting interpreters would take longer than the restore itself. A pool made with `threads`
runs all its workers as threads of this process. That suits a disk restore: its work is long
spans of large chunks, whose reading, decrypting, decompressing, hashing and writing all run
outside the interpreter lock, so threads are as fast as processes there, and a worker process
would add an interpreter's memory (some 38 MiB) for nothing.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rsvault.core.openfiles import OpenFiles
from rsvault.engine import wire
from rsvault.engine.restoreworker import (
    FileSpec,
    Finished,
    Server,
    SpanBlob,
    SpanSource,
    Why,
    WorkerSetup,
)
from rsvault.errors import Code, RsvaultError
from rsvault.vault.index import Location
from rsvault.vault.pack import BlobEntry
from rsvault.vault.repository import Vault

SPAN_GAP = 256 * 1024  # read through small gaps rather than issue another request
# Spans stay below the allocator's mmap threshold (core/memory.py): their buffers are then
# reused from the heap instead of being mapped, faulted in and unmapped for every read.
SPAN_MAX = 4 * 1024 * 1024
MESSAGES_PER_WORKER = 2  # one being handled, one on its way: a worker never waits for work
MESSAGE_BYTES = SPAN_MAX  # of spans in one message (a longer span goes alone)
MESSAGE_SPANS = 32  # at most, and as many descriptors (wire.MAX_FDS is the hard limit)
PACK_FILES_OPEN = 16  # per feeder: a batch reads a few packs, most of them more than once
BATCHES_PER_WORKER = 3  # planned ahead, so a worker never waits for this process's thread


@dataclass
class Placement:
    """One chunk and every place it is written to: (descriptor, offset in that file)."""

    entry: BlobEntry
    destinations: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class SpanJob:
    pack_id: str
    start: int
    end: int
    placements: list[Placement]


@dataclass
class WriteBatch:
    """Work for one worker: files it creates, descriptors it writes into, and the spans.

    Each of `messages` is the span jobs one message carries. Destinations in the jobs are
    (target, offset): targets number the descriptors in `fds` first, then the files.
    `ends[0]` are files with nothing to write; `ends[i + 1]` the files whose last chunk is
    in `messages[i]`. The pool owns (and closes) `dirs` and `fds`."""

    files: list[FileSpec]
    dirs: list[int]
    fds: list[int]
    messages: list[list[SpanJob]]
    ends: list[list[int]]
    token: Any = None  # the caller's


@dataclass
class Outcome:
    """What one message of a batch did."""

    batch: WriteBatch
    written: int
    finished: list[Finished]  # files put in place, or removed and why
    failed: list[tuple[int, Why]]  # descriptor targets a chunk could not reach, and why
    batch_id: int
    batch_done: bool


class SpanPlan:
    """Chunks to write, grouped by pack, so each pack is read in a few long spans and each
    chunk is read and verified once however many places it goes to."""

    def __init__(self) -> None:
        self._packs: dict[str, dict[bytes, Placement]] = defaultdict(dict)
        self.chunks = 0

    def add(self, location: Location, target: int, offset: int) -> None:
        chunks = self._packs[location.pack_id]
        placement = chunks.get(location.entry.chunk_id)
        if placement is None:
            placement = chunks[location.entry.chunk_id] = Placement(location.entry)
            self.chunks += 1
        placement.destinations.append((target, offset))

    def batch(
        self, files: list[FileSpec], dirs: list[int], fds: list[int], token: Any = None
    ) -> WriteBatch:
        jobs = [
            SpanJob(pack_id, start, end, members)
            for pack_id, chunks in self._packs.items()
            for start, end, members in _spans(chunks.values())
        ]
        messages = _messages(jobs)
        return WriteBatch(files, dirs, fds, messages, _ends(messages, len(fds), len(files)), token)


def _spans(placements: Iterable[Placement]) -> Iterator[tuple[int, int, list[Placement]]]:
    """Contiguous reads over the placements, in pack order."""
    members: list[Placement] = []
    start = end = 0
    for p in sorted(placements, key=lambda p: p.entry.offset):
        e = p.entry
        if members and (e.offset - end > SPAN_GAP or e.offset + e.length - start > SPAN_MAX):
            yield start, end, members
            members = []
        if not members:
            start = end = e.offset
        members.append(p)
        end = max(end, e.offset + e.length)
    if members:
        yield start, end, members


def _messages(jobs: list[SpanJob]) -> list[list[SpanJob]]:
    """The jobs in order, a few to a message (see the module's docstring)."""
    messages: list[list[SpanJob]] = []
    size = 0
    for job in jobs:
        length = job.end - job.start
        if not messages or size + length > MESSAGE_BYTES or len(messages[-1]) >= MESSAGE_SPANS:
            messages.append([])
            size = 0
        messages[-1].append(job)
        size += length
    return messages


def _ends(messages: list[list[SpanJob]], first_file: int, files: int) -> list[list[int]]:
    last = dict.fromkeys(range(files), -1)  # file number → the last message writing it
    for index, jobs in enumerate(messages):
        for job in jobs:
            for placement in job.placements:
                for target, _offset in placement.destinations:
                    if target >= first_file:
                        last[target - first_file] = index
    ends: list[list[int]] = [[] for _ in range(len(messages) + 1)]
    for number, index in last.items():
        ends[index + 1].append(number)
    return ends


class _Channel:
    """A worker process, or this process's own thread for a small restore, with the queue
    of work its feeder thread hands over."""

    def __init__(self, setup: WorkerSetup, *, in_process: bool) -> None:
        self.work: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self.batches = 0  # submitted, not finished
        self._server: Server | None = None
        self._replies: deque[tuple[Any, ...]] = deque()
        self.process: subprocess.Popen[bytes] | None = None
        if in_process:
            self._server = Server(setup)
            return
        self._sock, self.process = wire.spawn("rsvault.engine.restoreworker")
        wire.send(self._sock, ("setup", setup))

    def send(self, message: tuple[Any, ...], payload: list[memoryview], fds: list[int]) -> None:
        """Hand a message over; the descriptors go with it (closed here once sent)."""
        if self._server is not None:
            joined = memoryview(b"".join(payload))
            self._replies.append(self._server.handle(message, joined, fds))
            return
        try:
            wire.send(self._sock, message, payload, fds)
        finally:
            wire.close_all(fds)

    def receive(self) -> tuple[Any, ...]:
        if self._server is not None:
            return self._replies.popleft()
        message: tuple[Any, ...] = wire.receive(self._sock)[0]
        return message

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def ask_to_stop(self, *, kill: bool) -> None:
        if self._server is not None:
            self._server.close()
        elif self.process is not None:
            wire.ask_to_stop(self._sock, self.process, kill=kill)

    def reap(self) -> None:
        if self.process is not None:
            wire.reap(self._sock, self.process)


class WritePool:
    """Batches of restore work spread over workers: processes, or with `threads` threads of
    this process (see the module's docstring)."""

    def __init__(self, vault: Vault, workers: int, *, threads: bool = False) -> None:
        self._vault = vault
        self._workers = max(1, workers)
        self._threads = threads
        self._channels: list[_Channel] = []
        self._feeders: list[threading.Thread] = []
        self._outcomes: queue.Queue[Outcome | BaseException] = queue.Queue()
        self._owner: dict[int, _Channel] = {}  # batch id → the channel doing it
        self._next_batch = 0
        self._stopping = threading.Event()

    def __enter__(self) -> WritePool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shut_down(kill=exc is not None)

    @property
    def outstanding(self) -> int:
        """Batches submitted and not finished yet."""
        return len(self._owner)

    def submit(self, batch: WriteBatch) -> list[Outcome]:
        """Queue `batch` for the least busy worker; returns the outcomes ready meanwhile
        (waiting for some while every worker has BATCHES_PER_WORKER). A refused write is
        raised as the OSError it was."""
        self.start()
        done: list[Outcome] = []
        while min(c.batches for c in self._channels) >= BATCHES_PER_WORKER:
            done += self._take(block=True)
        channel = min(self._channels, key=lambda c: c.batches)
        batch_id, self._next_batch = self._next_batch, self._next_batch + 1
        self._owner[batch_id] = channel
        channel.batches += 1
        channel.work.put(("batch", batch_id, batch))
        for index in range(len(batch.messages)):
            channel.work.put(("write", batch_id, batch, index))
        return done + self._take(block=False)

    def wait(self) -> list[Outcome]:
        """At least one outcome, unless nothing is outstanding."""
        return self._take(block=True) if self._owner else []

    def _take(self, *, block: bool) -> list[Outcome]:
        items: list[Outcome | BaseException] = []
        try:
            items.append(self._outcomes.get(block=block))
            while True:
                items.append(self._outcomes.get_nowait())
        except queue.Empty:
            pass
        outcomes = []
        for item in items:
            if isinstance(item, BaseException):
                raise item
            if item.batch_done:
                self._owner.pop(item.batch_id).batches -= 1
            outcomes.append(item)
        return outcomes

    def start(self, *, in_process: bool = False) -> None:
        """Start the workers (the first `submit` does, if nobody did before): worker processes
        take a while to start, better spent while the caller is still preparing. With
        `in_process`, one worker runs in a thread of this process (see the module's
        docstring). Once started, later calls change nothing."""
        if self._channels:
            return
        setup = WorkerSetup(self._vault.subkeys(), self._vault.store.location)
        size = 1 if in_process else self._workers
        threads = in_process or self._threads
        self._channels = [_Channel(setup, in_process=threads) for _ in range(size)]
        self._feeders = [
            threading.Thread(target=self._feed, args=(c,), daemon=True) for c in self._channels
        ]
        for feeder in self._feeders:
            feeder.start()

    # feeder threads

    def _feed(self, channel: _Channel) -> None:
        sent: deque[tuple[int, WriteBatch, bool]] = deque()  # (batch id, batch, its last message)
        packs = _PackFiles(self._vault)
        try:
            while True:
                if len(sent) >= MESSAGES_PER_WORKER:
                    self._collect(channel, sent)
                    continue
                try:
                    item = channel.work.get(block=not sent)
                except queue.Empty:
                    self._collect(channel, sent)
                    continue
                if item is None:
                    break
                sent.append(self._send(channel, item, packs))
            while sent:
                self._collect(channel, sent)
        except (EOFError, OSError) as exc:
            if not self._stopping.is_set():
                self._outcomes.put(_worker_ended(exc))
        except BaseException as exc:
            self._outcomes.put(exc)
        finally:
            packs.close()

    def _send(
        self, channel: _Channel, item: tuple[Any, ...], packs: _PackFiles
    ) -> tuple[int, WriteBatch, bool]:
        kind, batch_id, batch = item[:3]
        if kind == "batch":
            header: tuple[Any, ...] = (
                "batch",
                batch_id,
                batch.files,
                len(batch.dirs),
                batch.ends[0],
            )
            fds, batch.dirs, batch.fds = [*batch.dirs, *batch.fds], [], []
            channel.send(header, [], fds)
            return batch_id, batch, not batch.messages
        index = item[3]
        last = index == len(batch.messages) - 1
        spans: list[SpanSource] = []
        payload: list[memoryview] = []
        lent: list[int] = []
        try:
            for job in batch.messages[index]:
                span, fds, lost = self._source(job, packs)
                where = (job.start, job.end) if fds else None
                spans.append((_blobs(job), lost, where, len(span)))
                payload += [span] if span else []
                lent += fds
        except BaseException:
            wire.close_all(lent)
            raise
        header = ("write", batch_id, spans, batch.ends[index + 1], last)
        channel.send(header, payload, lent)
        return batch_id, batch, last

    def _collect(self, channel: _Channel, sent: deque[tuple[int, WriteBatch, bool]]) -> None:
        reply = channel.receive()
        batch_id, batch, last = sent.popleft()
        if reply[0] == "done":
            self._outcomes.put(Outcome(batch, reply[1], reply[2], reply[3], batch_id, last))
        elif reply[0] == "refused":
            self._outcomes.put(OSError(reply[1], reply[2]))
        else:
            raise RsvaultError(Code.INTERNAL_ERROR, reason=f"restore worker failed: {reply[1]}")

    def _source(self, job: SpanJob, packs: _PackFiles) -> tuple[memoryview, list[int], Why | None]:
        """What the worker gets to read `job`'s span from: (its bytes, or a descriptor on
        its pack to read it from, or why every chunk of it is lost)."""
        try:
            fd = packs.lend(job)
            if fd is not None:
                return memoryview(b""), [fd], None
            return memoryview(self._vault.read_span(job.pack_id, job.start, job.end)), [], None
        except RsvaultError as exc:  # the store failed: every chunk of the span is lost
            return memoryview(b""), [], (exc.code.value, exc.params)

    # stopping

    def _shut_down(self, *, kill: bool) -> None:
        self._stopping.set()
        for channel in self._channels:
            if kill:
                channel.kill()
                _drain(channel.work)
            channel.work.put(None)
        for feeder in self._feeders:
            feeder.join()
        for channel in self._channels:
            channel.ask_to_stop(kill=kill)
        for channel in self._channels:
            channel.reap()  # after all were asked, so their exits overlap
        self._channels, self._feeders = [], []


class _PackFiles:
    """One feeder's descriptors on pack files, the most recently used kept open."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._open = OpenFiles(PACK_FILES_OPEN)
        # Asked once: the answer is an isinstance test against a protocol, which is slow
        # enough to count when asked for every span.
        self._lends = vault.lends_pack_files

    def lend(self, job: SpanJob) -> int | None:
        """A duplicate descriptor on `job`'s pack for a worker, the span already being read
        ahead; None when the store does not keep packs as files."""
        if not self._lends:
            return None
        fd = self._open.get(job.pack_id, lambda: self._vault.open_pack(job.pack_id))
        os.posix_fadvise(fd, job.start, job.end - job.start, os.POSIX_FADV_WILLNEED)
        return os.dup(fd)

    def close(self) -> None:
        self._open.close()


def _blobs(job: SpanJob) -> list[SpanBlob]:
    """The job as a worker receives it: offsets into the span."""
    return [
        (p.entry.kind, p.entry.chunk_id, p.entry.offset - job.start, p.entry.length, p.destinations)
        for p in job.placements
    ]


def why_text(why: Why) -> str:
    return error_of(why).report().message


def error_of(why: Why) -> RsvaultError:
    code, params = why
    return RsvaultError(Code(code), **params)


def _drain(work: queue.Queue[tuple[Any, ...] | None]) -> None:
    try:
        while True:
            work.get_nowait()
    except queue.Empty:
        pass


def _worker_ended(exc: BaseException) -> RsvaultError:
    return RsvaultError(Code.INTERNAL_ERROR, reason=f"a restore worker ended unexpectedly ({exc})")
