"""Reading one disk of a pull-mode backup through its NBD export, with libnbd.

Two kinds of extent come from the server: `base:allocation` says which parts of the disk read
as zeros (holes, or blocks the image knows are zero) so they need no reading at all, and
`qemu:dirty-bitmap:backup-<disk>` says which blocks the guest wrote since the previous
checkpoint. Each reader is one NBD connection; several readers of one export read in parallel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbd

from rsvault.errors import Code, RsvaultError

ALLOCATION = "base:allocation"
STATE_ZERO = 2  # base:allocation: the extent reads as zeros
STATE_DIRTY = 1  # qemu:dirty-bitmap: the extent was written since the checkpoint
STATUS_STEP = 1 << 30  # one block-status request covers at most this much

Range = tuple[int, int]  # [start, end)


@dataclass
class ExtentMaps:
    """Sorted, merged ranges: where the disk has data, and where it changed."""

    data: list[Range] = field(default_factory=list)
    dirty: list[Range] | None = None  # None: no bitmap (everything counts as changed)


class ExportReader:
    def __init__(self, socket: Path, export: str, vm: str, contexts: tuple[str, ...] = ()) -> None:
        self._vm = vm
        self._handle = nbd.NBD()
        try:
            for context in contexts:
                self._handle.add_meta_context(context)
            self._handle.set_export_name(export)
            self._handle.connect_unix(str(socket))
        except nbd.Error as exc:
            self.close()
            raise self._error(f"NBD connection to export {export}: {exc}") from exc
        self.size: int = self._handle.get_size()

    def pread(self, offset: int, length: int) -> bytes:
        try:
            return bytes(self._handle.pread(length, offset))
        except nbd.Error as exc:
            raise self._error(f"NBD read of {length} bytes at {offset}: {exc}") from exc

    def extent_maps(self, bitmap: str | None) -> ExtentMaps:
        maps = ExtentMaps(dirty=[] if bitmap else None)
        offset = 0
        while offset < self.size:
            reached = self._status(offset, min(STATUS_STEP, self.size - offset), bitmap, maps)
            offset = max(reached, offset + 1)
        maps.data = _merged(maps.data)
        if maps.dirty is not None:
            maps.dirty = _merged(maps.dirty)
        return maps

    def _status(self, offset: int, length: int, bitmap: str | None, maps: ExtentMaps) -> int:
        """One block-status request; returns how far the shortest answered context reached."""
        reached: dict[str, int] = {}

        def collect(context: str, start: int, entries: list[int], _err: object) -> int:
            end = _collect(start, entries, context, bitmap, maps)
            reached[context] = min(reached.get(context, end), end)
            return 0

        try:
            self._handle.block_status(length, offset, collect)
        except nbd.Error as exc:
            raise self._error(f"NBD block status at {offset}: {exc}") from exc
        return min(reached.values()) if reached else offset + length

    def _error(self, reason: str) -> RsvaultError:
        return RsvaultError(Code.SNAPSHOT_FAILED, vm=self._vm, reason=reason)

    def close(self) -> None:
        """Disconnect; libnbd frees the handle when the last reference goes."""
        with contextlib.suppress(nbd.Error):
            self._handle.shutdown()


def _collect(
    start: int, entries: list[int], context: str, bitmap: str | None, maps: ExtentMaps
) -> int:
    target: list[Range] | None
    wanted: Callable[[int], bool]
    if context == ALLOCATION:
        target, wanted = maps.data, lambda flags: not flags & STATE_ZERO
    elif bitmap is not None and context == bitmap:
        target, wanted = maps.dirty, lambda flags: bool(flags & STATE_DIRTY)
    else:
        return start + sum(entries[0::2])
    position = start
    for length, flags in zip(entries[0::2], entries[1::2], strict=True):
        if target is not None and wanted(flags):
            target.append((position, position + length))
        position += length
    return position


def _merged(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
