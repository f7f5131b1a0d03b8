"""Copying files and folders out of an ext file system into a RestoreTarget.

Everything lands at <target>/<path in the guest>, through the target's directory fds, so
nothing escapes it; nothing is overwritten either: a name that exists is skipped, and said.
File contents are dumped by debugfs into a private staging folder inside the target (the
same file system), then hard-linked to their places: a link never replaces an existing name.
Only folders and regular files are extracted; other kinds are skipped, and said.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rsvault.errors import Code, RsvaultError
from rsvault.sources.diskimage.extfs import BATCH, ExtFs, FsEntry
from rsvault.sources.files.target import RestoreTarget


@dataclass
class ExtractResult:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


def guest_path(path: str) -> bytes:
    """An absolute path inside the guest, without . or .. (which could climb out of the
    restore target once the path is used under it), as a relative one: b"" for the root."""
    raw = os.fsencode(path)
    parts = [p for p in raw.split(b"/") if p]
    if not raw.startswith(b"/") or any(p in (b".", b"..") for p in parts) or b"\0" in raw:
        raise RsvaultError(Code.RESTORE_UNSAFE_PATH, path=path)
    return b"/".join(parts)


def extract_tree(
    fs: ExtFs,
    rel: bytes,
    target: RestoreTarget,
    out: ExtractResult,
    check_cancel: Callable[[], None],
) -> None:
    """Extract the file or folder at `rel` (see guest_path) and everything under it;
    `check_cancel` runs before each batch of files but the last, and may raise."""
    files: list[tuple[bytes, FsEntry]] = []
    for path, entry in fs.walk(fs.lookup(rel), rel):
        if entry.is_dir:
            if path:
                _make_dir(target, path, entry, out)
        elif entry.is_file:
            files.append((path, entry))
            if len(files) >= BATCH:
                check_cancel()
                _extract_files(fs, files, target, out)
                files = []
        else:
            _skip(out, path, f"{entry.kind}s are not extracted")
    _extract_files(fs, files, target, out)


def _skip(out: ExtractResult, rel: bytes, reason: str) -> None:
    out.skipped.append({"path": "/" + rel.decode("utf-8", "backslashreplace"), "reason": reason})


def _make_dir(target: RestoreTarget, rel: bytes, entry: FsEntry, out: ExtractResult) -> None:
    try:
        parent, name = target.locate(rel)
        os.mkdir(name, stat.S_IMODE(entry.mode) & 0o777 | 0o700, dir_fd=parent)
        out.dirs += 1
    except FileExistsError:
        if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            _skip(out, rel, "something that is not a folder has this name in the target")
    except NotADirectoryError as exc:
        _skip(out, rel, exc.strerror or "a folder of its path is not a folder in the target")


def _extract_files(
    fs: ExtFs, files: Sequence[tuple[bytes, FsEntry]], target: RestoreTarget, out: ExtractResult
) -> None:
    """Dump a batch into a staging folder, then link each file to its place."""
    if not files:
        return
    staging = tempfile.mkdtemp(prefix=".rsvault-extract-", dir=target.root)
    staging_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fs.dump([entry.ino for _, entry in files], staging_fd)
        for n, (rel, entry) in enumerate(files):
            size = _staged_size(staging_fd, str(n), entry)
            if size != entry.size:
                shown = rel.decode("utf-8", "backslashreplace")
                raise RsvaultError(
                    Code.FILESYSTEM_NOT_SUPPORTED,
                    disk=fs.volume.name,
                    reason=f"read {size} of the {entry.size} bytes of /{shown}",
                )
            _place_file(staging_fd, str(n), rel, target, out)
            out.bytes += size
    finally:
        for name in os.listdir(staging_fd):
            os.unlink(name, dir_fd=staging_fd)
        os.close(staging_fd)
        os.rmdir(staging)


def _staged_size(staging_fd: int, temp: str, entry: FsEntry) -> int:
    fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=staging_fd)
    try:
        os.fchmod(fd, stat.S_IMODE(entry.mode) & 0o777)  # no set-id bits from a guest
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _place_file(
    staging_fd: int, temp: str, rel: bytes, target: RestoreTarget, out: ExtractResult
) -> None:
    try:
        parent, name = target.locate(rel)
        os.link(temp, name, src_dir_fd=staging_fd, dst_dir_fd=parent, follow_symlinks=False)
    except FileExistsError:
        _skip(out, rel, "exists in the target; nothing is overwritten")
        return
    except (NotADirectoryError, IsADirectoryError) as exc:
        _skip(out, rel, exc.strerror or "a folder of its path is not a folder in the target")
        return
    out.files += 1
