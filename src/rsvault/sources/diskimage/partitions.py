"""Partition tables of a disk image: MBR (with logical partitions) and GPT, by byte offset.

Only the tables are read: each partition is (number, byte offset, byte length). Numbers
follow Linux: 1-4 for MBR primaries, 5 onwards for logical partitions, the entry's position
for GPT. A damaged or looping chain of extended boot records ends the search, not the read.
"""

from __future__ import annotations

from typing import Any

SECTOR = 512
_EXTENDED_TYPES = (0x05, 0x0F, 0x85)
_GPT_PROTECTIVE = 0xEE
_GPT_MAX_ENTRIES = 1024
_EBR_MAX = 128

Partition = tuple[int, int, int]  # (number, byte offset, byte length)


def read_at(f: Any, offset: int, length: int) -> bytes:
    """Up to `length` bytes at `offset` of a binary file (fewer past its end)."""
    f.seek(offset)
    return bytes(f.read(length))


def partitions(f: Any) -> list[Partition]:
    """Each partition of the disk in `f`; [] without a partition table."""
    mbr = read_at(f, 0, SECTOR)
    if not _is_boot_record(mbr):
        return []
    entries = [mbr[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    if any(e[4] == _GPT_PROTECTIVE for e in entries):
        return _gpt_partitions(f)
    found = []
    for number, entry in enumerate(entries, 1):
        kind, start, count = entry[4], _u32(entry, 8), _u32(entry, 12)
        if kind in _EXTENDED_TYPES:
            found += _logical_partitions(f, start)
        elif kind and count:
            found.append((number, start * SECTOR, count * SECTOR))
    return found


def _is_boot_record(record: bytes) -> bool:
    return len(record) >= SECTOR and record[510:512] == b"\x55\xaa"


def _logical_partitions(f: Any, extended_start: int) -> list[Partition]:
    """The chain of extended boot records: each holds one partition (relative to itself)
    and a link to the next (relative to the extended partition)."""
    found, ebr, number = [], extended_start, 5
    while ebr and number < 5 + _EBR_MAX:
        record = read_at(f, ebr * SECTOR, SECTOR)
        if not _is_boot_record(record):
            break
        first, link = record[446:462], record[462:478]
        if first[4] and _u32(first, 12):
            found.append((number, (ebr + _u32(first, 8)) * SECTOR, _u32(first, 12) * SECTOR))
            number += 1
        ebr = extended_start + _u32(link, 8) if link[4] else 0
    return found


def _gpt_partitions(f: Any) -> list[Partition]:
    header = read_at(f, SECTOR, 92)
    if header[:8] != b"EFI PART":
        return []
    table, count, size = _u64(header, 72), _u32(header, 80), _u32(header, 84)
    if size < 128 or count > _GPT_MAX_ENTRIES:
        return []
    raw = read_at(f, table * SECTOR, count * size)
    found = []
    for index in range(len(raw) // size):
        entry = raw[index * size : (index + 1) * size]
        first, last = _u64(entry, 32), _u64(entry, 40)
        if entry[:16] != bytes(16) and last >= first:
            found.append((index + 1, first * SECTOR, (last - first + 1) * SECTOR))
    return found


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "little")
