"""Writing file contents on restore: plan batches of files, let worker processes write them.

This thread checks and plans: it reserves a temp name beside each file (through the restore
target, which checked every name and opened every directory), and groups a batch's chunks
by pack (`SpanPlan`), so each pack is read in a few long spans and a chunk shared by several
files, or several places in one file, is verified once. A worker then creates the batch's
files, writes and verifies their chunks, and finishes each file once its last chunk is in:
metadata, then the rename into place, or removal if a chunk did not verify (`restorepool`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from rsvault.engine.progress import ProgressCounter
from rsvault.engine.restorepool import Outcome, SpanPlan, WriteBatch, WritePool, why_text
from rsvault.engine.restoreworker import file_spec
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.target import RestoreTarget
from rsvault.vault.index import Index, Location

if TYPE_CHECKING:
    from rsvault.engine.restore import RestoreResult

BATCH_FILES = 256
BATCH_BYTES = 64 << 20
# Towards the end batches shrink to 1/TAIL_BATCHES of what is left (not under 1 MiB), so the
# workers run out of work together instead of one writing the last large batch alone.
TAIL_BATCHES = 8
BATCH_BYTES_LAST = 1 << 20
BATCH_DIRS = 200  # their descriptors travel in one message (at most wire.MAX_FDS)
IN_PROCESS_BYTES = 32 << 20  # a smaller restore is done before worker processes would start


class ContentWriter:
    def __init__(
        self,
        pool: WritePool,
        index: Index,
        target: RestoreTarget,
        counter: ProgressCounter,
        result: RestoreResult,
    ) -> None:
        self._pool = pool
        self._index = index
        self._target = target
        self._counter = counter
        self._result = result

    def write(self, nodes: Iterable[Node], size: int) -> None:
        """Make the directories and write the files among `nodes` (in path order; `size` is
        their files' total). Each directory is made just before the files after it are
        planned, so the workers start on the first files while later ones are still read."""
        pool = self._pool
        pool.start(in_process=in_process(size))
        for batch in _batches(nodes, self._target.make_dir, size):
            self._settle(pool.submit(self._plan(batch)))
        while pool.outstanding:
            self._settle(pool.wait())

    def _plan(self, nodes: list[Node]) -> WriteBatch:
        plan = SpanPlan()
        kept: list[Node] = []
        for node in nodes:
            located = self._locate(node)
            if located is None:
                continue
            for location, offset in located:
                plan.add(location, len(kept), offset)
            kept.append(node)
        dirs, reserved = self._target.reserve_temp_files([node.path for node in kept])
        specs = [
            file_spec(dir_no, temp, name, node)
            for (dir_no, name, temp), node in zip(reserved, kept, strict=True)
        ]
        return plan.batch(specs, dirs, [], token=kept)

    def _locate(self, node: Node) -> list[tuple[Location, int]] | None:
        """Where each stored chunk of `node` is and goes; None (the file failed) if one is
        missing from the vault."""
        located = []
        offset = 0
        for chunk_id, length in node.chunks:
            if chunk_id is not None:
                location = self._index.get(chunk_id)
                if location is None:
                    self._failed(node, f"chunk {chunk_id.hex()} is not in the vault")
                    return None
                located.append((location, offset))
            offset += length
        return located

    def _settle(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            nodes: list[Node] = outcome.batch.token
            committed = 0
            files = outcome.batch.files
            self._target.forget_temp_files(files[number][1] for number, _w, _ws in outcome.finished)
            for number, why, warnings in outcome.finished:
                node = nodes[number]
                if why is not None:
                    self._failed(node, why_text(why))
                    continue
                self._result.warnings += warnings
                self._result.stats.files += 1
                self._result.stats.bytes_written += node.size
                committed += 1
            self._counter.add(nbytes=outcome.written, files=committed)

    def _failed(self, node: Node, why: str) -> None:
        self._result.failed["/" + os.fsdecode(node.path)] = why
        self._result.stats.files_failed += 1


def in_process(size: int) -> bool:
    """Whether restoring `size` bytes is quicker in a thread than in worker processes."""
    return size < IN_PROCESS_BYTES


def _batches(
    nodes: Iterable[Node], make_dir: Callable[[bytes], None], total: int
) -> Iterator[list[Node]]:
    """The files of `nodes` (`total` bytes) in batches; each directory is made (`make_dir`)
    on the way."""
    batch: list[Node] = []
    size = 0
    dirs: set[bytes] = set()
    limit = _batch_bytes(total)
    for node in nodes:
        if node.type is NodeType.DIR and node.path:  # b"" is the target itself
            make_dir(node.path)
        if node.type is not NodeType.FILE:
            continue
        parent = node.path.rpartition(b"/")[0]
        if batch and parent not in dirs and len(dirs) >= BATCH_DIRS:
            yield batch
            total, batch, size, dirs = total - size, [], 0, set()
            limit = _batch_bytes(total)
        batch.append(node)
        size += node.size
        dirs.add(parent)
        if len(batch) >= BATCH_FILES or size >= limit:
            yield batch
            total, batch, size, dirs = total - size, [], 0, set()
            limit = _batch_bytes(total)
    if batch:
        yield batch


def _batch_bytes(left: int) -> int:
    """How many bytes the next batch may hold with `left` still to write (see TAIL_BATCHES)."""
    return max(BATCH_BYTES_LAST, min(BATCH_BYTES, left // TAIL_BATCHES))
