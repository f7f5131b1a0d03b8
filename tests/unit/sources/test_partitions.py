"""Partition tables and file-system signatures, parsed from crafted disk images in memory."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from rsvault.sources.diskimage.partitions import SECTOR, partitions
from rsvault.sources.diskimage.volumes import Volume, filesystem_at, volumes_of

MiB = 1 << 20


def entry(kind: int, start: int, count: int) -> bytes:
    """A 16-byte MBR partition entry (CHS fields left zero)."""
    return bytes(4) + bytes([kind]) + bytes(3) + struct.pack("<II", start, count)


def boot_record(*entries: bytes) -> bytes:
    table = b"".join(entries).ljust(64, b"\0")
    return bytes(446) + table + b"\x55\xaa"


def disk(size: int, records: dict[int, bytes]) -> io.BytesIO:
    """A disk of `size` bytes with `records` written at their byte offsets."""
    data = bytearray(size)
    for offset, record in records.items():
        data[offset : offset + len(record)] = record
    return io.BytesIO(bytes(data))


def gpt_entry(first: int, last: int) -> bytes:
    """A used 128-byte GPT entry: a type GUID, a unique GUID, then the first and last LBA."""
    return (bytes(range(1, 17)) + bytes(16) + struct.pack("<QQ", first, last)).ljust(128, b"\0")


def ext_superblock(incompat: int = 0, compat: int = 0) -> bytes:
    block = bytearray(1024)
    block[56:58] = b"\x53\xef"
    block[92:96] = compat.to_bytes(4, "little")
    block[96:100] = incompat.to_bytes(4, "little")
    return bytes(block)


def test_no_boot_signature_means_no_partitions() -> None:
    assert partitions(disk(4 * SECTOR, {})) == []
    assert partitions(io.BytesIO(b"")) == []


def test_mbr_primaries_in_bytes_skipping_empty_entries() -> None:
    mbr = boot_record(entry(0x83, 2048, 4096), entry(0, 0, 0), entry(0x82, 8192, 1024))
    assert partitions(disk(SECTOR, {0: mbr})) == [
        (1, 2048 * SECTOR, 4096 * SECTOR),
        (3, 8192 * SECTOR, 1024 * SECTOR),
    ]


def test_logical_partitions_follow_the_ebr_chain() -> None:
    extended = 100
    mbr = boot_record(entry(0x83, 1, 10), entry(0x05, extended, 1000))
    first = boot_record(entry(0x83, 2, 50), entry(0x05, 200, 300))  # next EBR at 100 + 200
    second = boot_record(entry(0x83, 2, 60))  # no link: the chain ends
    image = disk(400 * SECTOR, {0: mbr, extended * SECTOR: first, 300 * SECTOR: second})
    assert partitions(image) == [
        (1, SECTOR, 10 * SECTOR),
        (5, 102 * SECTOR, 50 * SECTOR),
        (6, 302 * SECTOR, 60 * SECTOR),
    ]


def test_a_looping_ebr_chain_ends() -> None:
    mbr = boot_record(entry(0x0F, 10, 100))
    looping = boot_record(entry(0x83, 1, 5), entry(0x05, 0, 100))  # links to itself
    found = partitions(disk(20 * SECTOR, {0: mbr, 10 * SECTOR: looping}))
    assert 0 < len(found) <= 128
    assert all(offset == 11 * SECTOR for _, offset, _ in found)


def test_gpt_entries_by_position_skipping_unused_ones() -> None:
    mbr = boot_record(entry(0xEE, 1, 0xFFFFFFFF))
    header = b"EFI PART" + bytes(64) + struct.pack("<QII", 2, 4, 128)  # table at LBA 2
    entries = gpt_entry(2048, 4095) + bytes(128) + gpt_entry(4096, 8191) + bytes(128)
    image = disk(16 * SECTOR, {0: mbr, SECTOR: header, 2 * SECTOR: entries})
    assert partitions(image) == [
        (1, 2048 * SECTOR, 2048 * SECTOR),
        (3, 4096 * SECTOR, 4096 * SECTOR),
    ]


def test_gpt_with_a_bad_header_or_absurd_table_is_ignored() -> None:
    mbr = boot_record(entry(0xEE, 1, 0xFFFFFFFF))
    assert partitions(disk(4 * SECTOR, {0: mbr, SECTOR: b"NOT GPT!"})) == []
    huge = b"EFI PART" + bytes(64) + struct.pack("<QII", 2, 100_000, 128)
    assert partitions(disk(4 * SECTOR, {0: mbr, SECTOR: huge})) == []


@pytest.mark.parametrize(
    ("superblock", "expected"),
    [
        (ext_superblock(), "ext2"),
        (ext_superblock(compat=0x4), "ext3"),
        (ext_superblock(compat=0x4, incompat=0x40), "ext4"),
    ],
)
def test_ext_kinds_by_feature_flags(superblock: bytes, expected: str) -> None:
    assert filesystem_at(disk(8192, {1024: superblock}), 0) == expected


@pytest.mark.parametrize(
    ("offset", "magic", "expected"),
    [
        (0, b"XFSB", "xfs"),
        (0, b"LUKS\xba\xbe", "crypto_LUKS"),
        (SECTOR + 24, b"LVM2 001", "LVM2_member"),
        (4086, b"SWAPSPACE2", "swap"),
        (65536 + 64, b"_BHRfS_M", "btrfs"),
    ],
)
def test_signatures(offset: int, magic: bytes, expected: str) -> None:
    assert filesystem_at(disk(70000, {offset: magic}), 0) == expected
    assert filesystem_at(disk(70000, {}), 0) is None


def test_volumes_whole_disk_or_partitions(tmp_path: Path) -> None:
    whole = tmp_path / "whole.raw"
    whole.write_bytes(disk(MiB, {0: b"XFSB"}).getvalue())
    assert volumes_of(whole, "vda", MiB) == [Volume("vda", 0, 0, MiB, "xfs")]

    mbr = boot_record(entry(0x83, 8, 100), entry(0x83, 200, 100))
    parted = tmp_path / "parted.raw"
    parted.write_bytes(disk(MiB, {0: mbr, 8 * SECTOR + 1024: ext_superblock()}).getvalue())
    assert volumes_of(parted, "vdb", MiB) == [
        Volume("vdb1", 1, 8 * SECTOR, 100 * SECTOR, "ext2"),
        Volume("vdb2", 2, 200 * SECTOR, 100 * SECTOR, None),
    ]
