"""glibc allocator settings for a process that moves many megabyte-sized buffers.

By default glibc raises its mmap threshold after the first large buffer is freed, so later
packs and chunks come from the heap and the heap never shrinks: peak memory grows with the
size of the backup. A fixed threshold above the largest chunk (4 MiB) keeps chunks in reusable
heap memory and gives pack-sized buffers back to the system at once; two arenas stop every
worker thread from growing an arena of its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 6 * 1024 * 1024
ARENAS = 2


def tune_allocator() -> None:
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, ARENAS)
    except (OSError, AttributeError):
        return  # not glibc: its allocator has its own policy
