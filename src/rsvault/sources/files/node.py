"""One entry of a backed-up file tree, as the walker sees it and the restorer recreates it.

Paths are bytes relative to the file-system root ('home/ana/notes.txt' for /home/ana/notes.txt)
so that any name Linux allows, including ones that are not valid UTF-8, survives the trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class NodeType(StrEnum):
    FILE = "f"
    DIR = "d"
    SYMLINK = "l"
    HARDLINK = "h"  # a further name for a regular file already in the tree (see `link_target`)
    FIFO = "p"
    CHAR_DEVICE = "c"
    BLOCK_DEVICE = "b"
    SOCKET = "s"


@dataclass(slots=True)
class Node:
    path: bytes
    type: NodeType
    mode: int  # permission bits and set-id/sticky bits (stat.S_IMODE)
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int = 0
    ctime_ns: int = 0
    size: int = 0
    inode: int = 0
    device: int = 0  # st_dev of the source file system, for hard-link and cache matching
    nlink: int = 1
    user: str | None = None
    group: str | None = None
    link_target: bytes | None = None  # symlink target, or for HARDLINK the path it shares data with
    rdev: int = 0  # for device nodes
    xattrs: dict[bytes, bytes] = field(default_factory=dict)  # includes system.posix_acl_*
    # for FILE: (chunk id or None for an all-zero run, length) in order; filled by the engine
    chunks: list[tuple[bytes | None, int]] = field(default_factory=list)
