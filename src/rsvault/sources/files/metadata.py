"""Give a just-restored entry the metadata recorded in its Node.

The order is forced by the kernel: chown clears set-id bits and security.capability, so
owner goes first, xattrs (capabilities, ACLs) next, then the mode, and times last because
every other change would touch ctime/mtime bookkeeping. Nothing here follows a symlink: a
restore may run as root inside directories that other users can write to.

Metadata problems are returned as warnings: the data is restored, a detail is missing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from functools import partial
from typing import Any

from rsvault.errors import Code, JobWarning
from rsvault.sources.files.node import Node, NodeType


def apply_metadata(
    path: bytes | int,
    node: Node,
    *,
    dir_fd: int | None = None,
    restore_owner: bool = os.geteuid() == 0,
) -> list[JobWarning]:
    """Set owner, xattrs, mode and times of `path` (relative to `dir_fd` if given) from `node`.

    `path` may instead be a descriptor open on the entry itself (a file just written), which
    spares the kernel a lookup of its name for every step. Its owner and mode are then only
    set where they differ: most restored files were created with both already right, and
    each change costs the file system an inode update.

    Owners are restored by numeric id (as restic does by default), and only when
    `restore_owner`, which defaults to running as root. A directory's times should be
    applied after its children are restored, as creating them changes its mtime.
    """
    warnings: list[JobWarning] = []
    for what, step in _steps(path, node, dir_fd, restore_owner):
        try:
            step()
        except (OSError, ValueError, NotImplementedError) as exc:
            # ValueError/NotImplementedError: os.chmod refusing a symlink swapped in for the
            # entry since it was created (it will not follow it, and says so this way)
            reason = getattr(exc, "strerror", None) or str(exc)
            params: dict[str, object] = {"what": what, "reason": reason}
            shown = os.fsdecode(b"/" + node.path)  # as recorded, which is what users select
            warnings.append(JobWarning(Code.METADATA_NOT_RESTORED, shown, params))
    return warnings


def _steps(
    path: bytes | int, node: Node, dir_fd: int | None, restore_owner: bool
) -> list[tuple[str, Callable[[], None]]]:
    steps: list[tuple[str, Callable[[], None]]] = []
    owner_set, mode_set = _already_set(path, node) if isinstance(path, int) else (False, False)
    chown = restore_owner and not owner_set
    if chown:
        steps.append(("owner", partial(_chown, path, node.uid, node.gid, dir_fd)))
    for name, value in node.xattrs.items():
        what = "xattr " + name.decode("utf-8", "backslashreplace")
        steps.append((what, partial(_setxattr, path, name, value, dir_fd)))
    # A chown clears set-id bits, and an xattr (an ACL) can change the mode: after either,
    # the mode is set whatever it was. Linux symlinks have no mode of their own.
    if node.type is not NodeType.SYMLINK and (chown or node.xattrs or not mode_set):
        steps.append(("mode", partial(_chmod, path, node.mode, dir_fd)))
    steps.append(("times", partial(_utime, path, node.atime_ns, node.mtime_ns, dir_fd)))
    return steps


def _already_set(fd: int, node: Node) -> tuple[bool, bool]:
    """Whether the entry open as `fd` already has `node`'s owner, and its mode."""
    try:
        st = os.fstat(fd)
    except OSError:
        return False, False  # every step is tried, and warns on its own
    owner = st.st_uid == node.uid and st.st_gid == node.gid
    return owner, stat.S_IMODE(st.st_mode) == stat.S_IMODE(node.mode)


def _chown(path: bytes | int, uid: int, gid: int, dir_fd: int | None) -> None:
    os.chown(path, uid, gid, **_where(path, dir_fd))


def _setxattr(path: bytes | int, name: bytes, value: bytes, dir_fd: int | None) -> None:
    # os.setxattr takes no dir_fd; /proc/self/fd/N names the directory the fd holds (not
    # whatever its old path now leads to), and follow_symlinks=False protects the last name.
    if isinstance(path, int):
        os.setxattr(path, name, value)
        return
    where = path if dir_fd is None else f"/proc/self/fd/{dir_fd}/".encode() + path
    os.setxattr(where, name, value, follow_symlinks=False)


def _chmod(path: bytes | int, mode: int, dir_fd: int | None) -> None:
    # follow_symlinks=False: glibc's fchmodat refuses a symlink rather than following it
    os.chmod(path, mode, **_where(path, dir_fd))


def _utime(path: bytes | int, atime_ns: int, mtime_ns: int, dir_fd: int | None) -> None:
    os.utime(path, ns=(atime_ns, mtime_ns), **_where(path, dir_fd))


def _where(path: bytes | int, dir_fd: int | None) -> dict[str, Any]:
    """How to name the entry: a descriptor stands alone; a name never follows a symlink."""
    if isinstance(path, int):
        return {}
    return {"dir_fd": dir_fd, "follow_symlinks": False}
