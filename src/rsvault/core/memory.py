"""Memory settings for rsvault's processes: the glibc allocator and the cycle collector.

The CLI and the read workers move many megabyte-sized buffers; the CLI also builds hundreds
of thousands of long-lived objects (tree records, index entries, the files cache).

By default glibc raises its mmap threshold after the first large buffer is freed, so later
packs and chunks come from the heap and the heap never shrinks: peak memory grows with the
size of the backup. A fixed threshold above the largest chunk (4 MiB) keeps chunks in reusable
heap memory and gives pack-sized buffers back to the system at once; a trim threshold of a
few such buffers keeps the heap from shrinking and growing again for each of them; two
arenas stop every worker thread from growing an arena of its own.

Those thresholds only ever give back the top of a heap. Buffers of a few MiB freed between
longer-lived allocations leave holes that stay resident, and a read worker's heap held twice
the memory it used. `release_free_memory`, called after each batch of such buffers, hands the
whole free pages inside the heap back as well. In a backup's read workers and collector it
cost no measurable CPU; in restore workers, which free and refill span buffers at once, it
cost seconds of system time for 3 MiB, so they do not call it.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable

# A backup allocates objects by the million and frees few of them cyclically: with Python's
# default first threshold (700 allocations) the collector runs thousands of times and each
# older-generation pass walks every live tree record again.
GC_THRESHOLDS = (50_000, 20, 20)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 6 * 1024 * 1024
# Freed heap is kept up to this much rather than handed back at once: buffers of a few MiB
# come and go all the time, and memory handed back must be faulted in (and zeroed) again.
TRIM_THRESHOLD = 4 * MMAP_THRESHOLD
ARENAS = 2


def _libc() -> ctypes.CDLL:
    # The program's own symbols, which include the C library's: ctypes.util.find_library
    # would fork and run ldconfig at every start, doubling the process for a moment.
    return ctypes.CDLL(None)


def tune_allocator() -> None:
    try:
        libc = _libc()
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, ARENAS)
    except (OSError, AttributeError):
        return  # not glibc: its allocator has its own policy


def release_free_memory() -> None:
    """Give the free pages inside the heaps back to the system (glibc's malloc_trim)."""
    _malloc_trim(0)


def _find_malloc_trim() -> Callable[[int], int]:
    try:
        trim: Callable[[int], int] = _libc().malloc_trim
    except (OSError, AttributeError):
        return lambda _pad: 0  # not glibc
    return trim


_malloc_trim = _find_malloc_trim()


def tune_collector() -> None:
    """Collect less often, and never rescan what exists once the commands are imported."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
