"""The volumes of a disk image: a file system on the whole disk, or one per partition,
each named by its signature (ext2/3/4, xfs, btrfs, swap, LVM, LUKS, NTFS, FAT)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsvault.sources.diskimage.partitions import SECTOR, partitions, read_at

_EXT_FEATURES_EXT4 = 0x40 | 0x80 | 0x200 | 0x10000  # extents, 64bit, flex_bg, inline data
_EXT_HAS_JOURNAL = 0x4
_SIGNATURES = (  # (byte offset from the volume's start, magic, name)
    (0, b"XFSB", "xfs"),
    (0, b"LUKS\xba\xbe", "crypto_LUKS"),
    (SECTOR + 24, b"LVM2 001", "LVM2_member"),
    (4086, b"SWAPSPACE2", "swap"),
    (3, b"NTFS    ", "ntfs"),
    (82, b"FAT32   ", "vfat"),
    (54, b"FAT1", "vfat"),
)


@dataclass(frozen=True)
class Volume:
    name: str  # vda for a file system on the whole disk, vda1 for partition 1
    partition: int  # 0: the whole disk
    offset: int
    size: int
    filesystem: str | None  # ext2, ext3, ext4, xfs, btrfs, swap, LVM2_member, crypto_LUKS...


def volumes_of(image: Path, target: str, size: int) -> list[Volume]:
    """The file systems of a disk image: the whole disk, or each MBR/GPT partition."""
    with open(image, "rb") as f:
        whole = filesystem_at(f, 0)
        if whole is not None:
            return [Volume(target, 0, 0, size, whole)]
        return [
            Volume(f"{target}{n}", n, start, length, filesystem_at(f, start))
            for n, start, length in partitions(f)
        ]


def filesystem_at(f: Any, offset: int) -> str | None:
    """The file system whose signature starts at `offset` of `f`; None for none known."""
    ext = _ext_kind(read_at(f, offset + 1024, 1024))
    if ext is not None:
        return ext
    head = read_at(f, offset, 4096)
    for at, magic, name in _SIGNATURES:
        if head[at : at + len(magic)] == magic:
            return name
    if read_at(f, offset + 65536 + 64, 8) == b"_BHRfS_M":
        return "btrfs"
    return None


def _ext_kind(superblock: bytes) -> str | None:
    if len(superblock) < 104 or superblock[56:58] != b"\x53\xef":
        return None
    compat = int.from_bytes(superblock[92:96], "little")
    incompat = int.from_bytes(superblock[96:100], "little")
    if incompat & _EXT_FEATURES_EXT4:
        return "ext4"
    return "ext3" if compat & _EXT_HAS_JOURNAL else "ext2"
