"""Reading ext2/3/4 inside an image file with e2fsprogs' debugfs, by inode number.

debugfs opens the image read-only (`-c`) and never follows anything on the host; every file
is named by inode number (`<12>`), so no name from the guest is ever parsed as a command.
A volume debugfs cannot read is FILESYSTEM_NOT_SUPPORTED, with debugfs's own complaint.
"""

from __future__ import annotations

import re
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsvault.errors import Code, RsvaultError
from rsvault.sources.diskimage.volumes import Volume

EXT_FILESYSTEMS = ("ext2", "ext3", "ext4")
ROOT_INODE = 2
BATCH = 512  # inodes per debugfs run
_LS_RECORD = re.compile(rb"/(\d+)/([0-7]{6})/(-?\d+)/(-?\d+)/([^/]*)/(\d*)/\n")
_KINDS = {
    stat.S_IFDIR: "dir",
    stat.S_IFREG: "file",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


@dataclass(frozen=True)
class FsEntry:
    ino: int
    mode: int
    uid: int
    gid: int
    name: bytes
    size: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def kind(self) -> str:
        return _KINDS.get(stat.S_IFMT(self.mode), "unknown")


class ExtFs:
    """An ext2/3/4 file system inside an image file, read through debugfs."""

    def __init__(self, image: Path, volume: Volume) -> None:
        self.volume = volume
        self.spec = f"{image}?offset={volume.offset}" if volume.offset else str(image)

    def run(self, script: str, pass_fds: Sequence[int] = ()) -> bytes:
        result = subprocess.run(
            ["debugfs", "-c", "-f", "-", self.spec],
            input=script.encode(),
            capture_output=True,
            pass_fds=tuple(pass_fds),
            check=False,
        )
        problem = debugfs_problem(result.stderr)
        if result.returncode != 0 or problem:
            raise RsvaultError(
                Code.FILESYSTEM_NOT_SUPPORTED,
                disk=self.volume.name,
                reason=problem or f"debugfs exited {result.returncode}",
            )
        return result.stdout

    def listings(self, inodes: Sequence[int]) -> dict[int, list[FsEntry]]:
        """Each directory's entries, without . and .., in batches of one debugfs run."""
        found: dict[int, list[FsEntry]] = {}
        for start in range(0, len(inodes), BATCH):
            batch = inodes[start : start + BATCH]
            out = self.run("".join(f"ls -p <{ino}>\n" for ino in batch))
            for ino, entries in parse_listings(out).items():
                found.setdefault(ino, []).extend(entries)
        return found

    def lookup(self, path: bytes) -> FsEntry:
        entry = FsEntry(ROOT_INODE, stat.S_IFDIR | 0o755, 0, 0, b"", 0)
        for name in (part for part in path.split(b"/") if part):
            children = self.listings([entry.ino]).get(entry.ino, []) if entry.is_dir else []
            match = next((c for c in children if c.name == name), None)
            if match is None:
                shown = path.decode("utf-8", "backslashreplace")
                raise RsvaultError(Code.RESTORE_PATH_NOT_IN_RP, path=shown)
            entry = match
        return entry

    def walk(self, top: FsEntry, rel: bytes) -> Iterator[tuple[bytes, FsEntry]]:
        """`top` and everything under it, parents first; a directory is read once (a damaged
        file system may link one into itself)."""
        yield rel, top
        level = [(rel, top)] if top.is_dir else []
        seen = {top.ino}
        while level:
            listings = self.listings([entry.ino for _, entry in level])
            below = []
            for parent_rel, parent in level:
                for child in listings.get(parent.ino, []):
                    child_rel = parent_rel + b"/" + child.name if parent_rel else child.name
                    yield child_rel, child
                    if child.is_dir and child.ino not in seen:
                        seen.add(child.ino)
                        below.append((child_rel, child))
            level = below

    def dump(self, inodes: Sequence[int], folder_fd: int) -> None:
        """Copy each file's contents to <folder>/<position>. The folder is passed as an open
        descriptor, so a rename or symlink swap of its path cannot redirect the writes."""
        script = "".join(
            f"dump <{ino}> /proc/self/fd/{folder_fd}/{n}\n" for n, ino in enumerate(inodes)
        )
        self.run(script, pass_fds=(folder_fd,))


def parse_listings(out: bytes) -> dict[int, list[FsEntry]]:
    """The entries of each directory in the output of `ls -p` runs, keyed by the directory's
    inode (every listing starts with its own "." entry), without . and .."""
    found: dict[int, list[FsEntry]] = {}
    current: list[FsEntry] | None = None
    for match in _LS_RECORD.finditer(out):
        entry = _entry(match)
        if entry.name == b".":
            current = found.setdefault(entry.ino, [])
        elif entry.name != b".." and current is not None:
            current.append(entry)
    return found


def _entry(match: re.Match[bytes]) -> FsEntry:
    ino, mode, uid, gid, name, size = match.groups()
    return FsEntry(int(ino), int(mode, 8), int(uid), int(gid), name, int(size or b"0"))


def debugfs_problem(stderr: bytes) -> str | None:
    """debugfs exits 0 on every failure; its complaints are the stderr lines past the banner."""
    lines = [
        line
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("debugfs ") and "catastrophic mode" not in line
    ]
    return "; ".join(lines[:3]) if lines else None
