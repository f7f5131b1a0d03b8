"""Memory settings for rsvault's processes: the glibc allocator and the cycle collector.

The CLI and the read workers move many megabyte-sized buffers; the CLI also builds hundreds
of thousands of long-lived objects (tree records, index entries, the files cache).

By default glibc raises its mmap threshold after the first large buffer is freed, so later
packs and chunks come from the heap and the heap never shrinks: peak memory grows with the
size of the backup. A fixed threshold above the largest chunk (4 MiB) keeps chunks in reusable
heap memory and gives pack-sized buffers back to the system at once; a trim threshold of a
few such buffers keeps the heap from shrinking and growing again for each of them; two
arenas stop every worker thread from growing an arena of its own.
"""

from __future__ import annotations

import ctypes
import gc

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


def tune_allocator() -> None:
    try:
        # The program's own symbols, which include the C library's: ctypes.util.find_library
        # would fork and run ldconfig at every start, doubling the process for a moment.
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, ARENAS)
    except (OSError, AttributeError):
        return  # not glibc: its allocator has its own policy


def tune_collector() -> None:
    """Collect less often, and never rescan what exists once the commands are imported."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
