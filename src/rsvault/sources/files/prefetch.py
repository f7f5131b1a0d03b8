"""Warming the kernel's caches with a tree's metadata, ahead of the walk that needs it.

With a cold cache the walk waits for each directory and inode from the disk in turn, one
request at a time, and between requests it spends its own time on every entry. A second
process that lists the same directories and looks up the same entries, in the same order,
keeps the disk busy meanwhile: the walk then mostly finds what it asks for in the cache.
Started before the vault is unlocked, it also puts the key derivation's time to use. (A
thread would not do: it took the interpreter lock from the walk at every system call, and
the backup got slower.) It only reads, keeps nothing, stops at the root's file system
boundary and at excluded directories, and is killed when the backup ends.

Run as `python -m rsvault.sources.files.prefetch [--exclude GLOB ...] -- PATH ...`.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rsvault.sources.files.excludes import ExcludeMatcher


@contextmanager
def metadata_prefetch(paths: Sequence[str], excludes: Sequence[str] = ()) -> Iterator[None]:
    """Prefetch the metadata under `paths` while the body runs; stop when it ends."""
    arguments = [arg for pattern in excludes for arg in ("--exclude", pattern)]
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, *arguments, "--", *paths],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        yield  # only a hint: the backup goes on without it
        return
    try:
        yield
    finally:
        process.kill()
        process.wait()


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


def main(argv: Sequence[str]) -> None:
    split = list(argv).index("--")
    options, paths = argv[:split], argv[split + 1 :]
    excludes = [options[i + 1] for i, arg in enumerate(options) if arg == "--exclude"]
    prefetch([os.fsencode(os.path.abspath(p)) for p in paths], ExcludeMatcher(excludes))


if __name__ == "__main__":
    main(sys.argv[1:])
