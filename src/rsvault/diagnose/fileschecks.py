"""A files item: its paths, the room left for rsvault's own state, and the clock.

rsvault keeps no scratch copy of the data (the files cache is derived from the previous
recovery point), but its state folder (RSVAULT_HOME: the catalog, mount records) lives on a
local volume that must not run dry mid-job. MARS's rule for its cache folder, free space of
5-10% of the protected data, is the yardstick: under 5% fails, under 10% warns.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rsvault.core.clock import Clock
from rsvault.core.units import format_bytes
from rsvault.diagnose.findings import Finding, Step
from rsvault.errors import Code, RsvaultError

FAIL_SHARE, WARN_SHARE = 0.05, 0.10
# Sizing a never-backed-up tree stops here and says "at least".
MAX_ENTRIES_SIZED = 200_000
# Clocks of hosts that sync with NTP agree to well under this.
CLOCK_TOLERANCE = timedelta(minutes=5)
# No recovery point can come from before rsvault existed.
EARLIEST_SANE = datetime(2024, 1, 1).astimezone()


@dataclass
class FilesProbe:
    paths: Sequence[str]
    cache_folder: Path
    protected_bytes: int | None  # the newest recovery point's size; None before the first

    def steps(self) -> list[Step]:
        return [
            Step("files.paths", self.readable_paths),
            Step("files.cache-space", self.cache_space),
        ]

    def readable_paths(self) -> Finding:
        for path in self.paths:
            _readable(path)
        return Finding.passed("files.paths", f"{len(self.paths)} path(s) exist and can be read")

    def cache_space(self) -> Finding:
        folder = _existing_parent(self.cache_folder)
        free = shutil.disk_usage(folder).free
        data, exact = _data_size(self.protected_bytes, self.paths)
        facts = (
            f"{format_bytes(free)} free at {folder}; protected data "
            f"{'' if exact else 'at least '}{format_bytes(data)}"
        )
        for share, judge in ((FAIL_SHARE, Finding.failed), (WARN_SHARE, Finding.warned)):
            needed = int(data * share)
            if free < needed:
                error = RsvaultError(
                    Code.CACHE_LOW_SPACE,
                    path=str(folder),
                    free=format_bytes(free),
                    needed=format_bytes(needed),
                )
                return judge("files.cache-space", error, facts)
        return Finding.passed("files.cache-space", facts)


@dataclass
class ClockProbe:
    """The clock: not before what this vault already recorded, and close to the store's."""

    clock: Clock
    newest_recorded: datetime | None
    store_time: Callable[[], datetime | None]

    def step(self) -> Step:
        return Step("clock", self.sane)

    def sane(self) -> Finding:
        now = self.clock.now()
        problem = self._problem(now)
        if problem:
            error = RsvaultError(
                Code.CLOCK_WRONG, now=now.isoformat(timespec="seconds"), reason=problem
            )
            return Finding.failed("clock", error)
        return Finding.passed("clock", f"{now.isoformat(timespec='seconds')}")

    def _problem(self, now: datetime) -> str | None:
        if now < EARLIEST_SANE:
            return f"earlier than {EARLIEST_SANE.date()}"
        if self.newest_recorded and now < self.newest_recorded - CLOCK_TOLERANCE:
            return (
                "earlier than the newest job or recovery point of this vault "
                f"({self.newest_recorded.isoformat(timespec='seconds')})"
            )
        store_time = self.store_time()
        if store_time and abs(now - store_time) > CLOCK_TOLERANCE:
            return (
                "more than 5 minutes from the store's clock "
                f"({store_time.isoformat(timespec='seconds')})"
            )
        return None


def _readable(path: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RsvaultError(Code.BACKUP_SOURCE_NOT_FOUND, path=path) from None
    except PermissionError:
        raise RsvaultError(Code.FILE_ACCESS_DENIED, path=path) from None
    try:
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(path) as entries:
                next(entries, None)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
    except PermissionError:
        raise RsvaultError(Code.FILE_ACCESS_DENIED, path=path) from None
    except OSError as exc:
        raise RsvaultError(Code.FILE_READ_ERROR, path=path, reason=exc.strerror) from None


def _existing_parent(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _data_size(known: int | None, paths: Sequence[str]) -> tuple[int, bool]:
    if known is not None:
        return known, True
    total, seen = 0, 0
    for path in paths:
        for name in _files_under(path):
            seen += 1
            if seen > MAX_ENTRIES_SIZED:
                return total, False
            try:
                total += os.lstat(name).st_size
            except OSError:
                continue
    return total, True


def _files_under(path: str) -> Iterator[str]:
    if not os.path.isdir(path) or os.path.islink(path):
        yield path
        return
    for root, _dirs, files in os.walk(path):
        yield from (os.path.join(root, name) for name in files)
