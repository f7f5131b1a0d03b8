"""Which fixed-size chunks of a disk to read, to take from the previous recovery point, or to
record as zeros, given where the disk has data and which blocks changed since the checkpoint.

A chunk is read when it overlaps data and either has no previous version (full read) or
overlaps a dirty extent. A chunk with no data reads as zeros and is never read. Everything else
keeps the previous recovery point's chunk: that is changed-block tracking.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence

Range = tuple[int, int]


class Action(enum.Enum):
    READ = "read"
    ZERO = "zero"
    KEEP = "keep"


class _Cursor:
    """Walks sorted, disjoint ranges forward, answering "does [start, end) overlap any?"."""

    def __init__(self, ranges: Sequence[Range]) -> None:
        self._ranges = ranges
        self._i = 0

    def overlaps(self, start: int, end: int) -> bool:
        ranges = self._ranges
        while self._i < len(ranges) and ranges[self._i][1] <= start:
            self._i += 1
        return self._i < len(ranges) and ranges[self._i][0] < end


def plan_chunks(
    size: int,
    chunk_size: int,
    data: Sequence[Range],
    dirty: Sequence[Range] | None,
    first: int = 0,
    count: int | None = None,
) -> Iterator[tuple[int, Action]]:
    """(chunk index, action) for chunks `first`..`first+count` of a disk, in order.

    `dirty` None means there is no usable bitmap: every chunk with data is read.
    """
    total = -(-size // chunk_size)
    last = total if count is None else min(total, first + count)
    has_data = _Cursor(data)
    changed = _Cursor(dirty) if dirty is not None else None
    for index in range(first, last):
        start = index * chunk_size
        end = min(start + chunk_size, size)
        if changed is not None and not changed.overlaps(start, end):
            yield index, Action.KEEP
        elif has_data.overlaps(start, end):
            yield index, Action.READ
        else:
            yield index, Action.ZERO
