"""Warming the kernel's caches with a tree's metadata, ahead of the walk that needs it.

With a cold cache the walk waits for each directory and inode from the disk in turn, one
request at a time, and between requests it spends its own time on every entry. Another
thread that lists the same directories and looks up the same entries, in the same order,
keeps the disk busy meanwhile: the walk then mostly finds what it asks for in the cache.
It runs in the first read worker (`engine.readworker`), not in the process that walks: there
it took the interpreter lock from the walk at every system call and the backup got slower,
while a worker spends its time in reads and hashing that let the lock go. (It used to be a
process of its own, 11 MiB more at the busiest moment of a backup.) It only reads, keeps
nothing, stops at the root's file system boundary and at excluded directories, and ends
with the worker.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence

from rsvault.sources.files.excludes import ExcludeMatcher


def start_prefetch(roots: Sequence[bytes], excludes: Sequence[str]) -> threading.Thread:
    """Prefetch the metadata under `roots` (absolute) in a daemon thread of this process."""
    thread = threading.Thread(
        target=prefetch, args=(roots, ExcludeMatcher(excludes)), name="prefetch", daemon=True
    )
    thread.start()
    return thread


def prefetch(roots: Sequence[bytes], excludes: ExcludeMatcher) -> None:
    """Look up every entry under `roots`, depth first in name order, as the walk will."""
    for root in sorted(roots):
        try:
            device = os.lstat(root).st_dev
        except OSError:
            continue  # the walk reports it
        stack = [root]
        while stack:
            stack.extend(reversed(_subdirectories(stack.pop(), device, excludes)))


def _subdirectories(directory: bytes, device: int, excludes: ExcludeMatcher) -> list[bytes]:
    # Names, not DirEntry objects: each of those keeps its stat result, and a directory of
    # tens of thousands of files would cost this process tens of MiB.
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []  # the walk meets the same error and reports it
    found = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        descend = stat.S_ISDIR(st.st_mode) and st.st_dev == device
        if descend and not (excludes and excludes.excludes(path)):
            found.append(path)
    return found
