"""What one directory entry is, read with lstat: its type, ownership, times and xattrs.

Nothing here follows a symlink or reads file contents; the engine reads contents itself.
"""

from __future__ import annotations

import errno
import os
import stat

from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.owners import OwnerNames

_TYPES = {
    stat.S_IFREG: NodeType.FILE,
    stat.S_IFDIR: NodeType.DIR,
    stat.S_IFLNK: NodeType.SYMLINK,
    stat.S_IFIFO: NodeType.FIFO,
    stat.S_IFCHR: NodeType.CHAR_DEVICE,
    stat.S_IFBLK: NodeType.BLOCK_DEVICE,
    stat.S_IFSOCK: NodeType.SOCKET,
}

_DEVICES = frozenset((NodeType.CHAR_DEVICE, NodeType.BLOCK_DEVICE))

# A file system without xattr support says so with one of these; that is not a problem.
_NO_XATTR_SUPPORT = {errno.ENOTSUP, errno.EOPNOTSUPP}


def node_type(st: os.stat_result) -> NodeType:
    return _TYPES[stat.S_IFMT(st.st_mode)]


def describe(absolute: bytes, st: os.stat_result, owners: OwnerNames) -> Node:
    """The Node for `absolute` (from its lstat result), without xattrs (see `read_xattrs`).

    Raises OSError only from readlink, when a symlink vanished after the lstat.
    """
    kind = node_type(st)
    # Positional, in Node's field order: the walk describes every entry of every backup.
    return Node(
        absolute[1:],  # b'/home/ana' -> b'home/ana'; the root b'/' -> b''
        kind,
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_mtime_ns,
        st.st_atime_ns,
        st.st_ctime_ns,
        st.st_size if kind is NodeType.FILE else 0,
        st.st_ino,
        st.st_dev,
        st.st_nlink,
        owners.user(st.st_uid),
        owners.group(st.st_gid),
        os.readlink(absolute) if kind is NodeType.SYMLINK else None,
        st.st_rdev if kind in _DEVICES else 0,
    )


def read_xattrs(absolute: bytes) -> dict[bytes, bytes]:
    """All extended attributes of `absolute` itself (not a symlink's target), POSIX ACLs
    (system.posix_acl_*) included. Raises OSError, except when xattrs are unsupported."""
    try:
        names = os.listxattr(absolute, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _NO_XATTR_SUPPORT:
            return {}
        raise
    values: dict[bytes, bytes] = {}
    for name in sorted(names):
        try:
            values[os.fsencode(name)] = os.getxattr(absolute, name, follow_symlinks=False)
        except OSError as exc:
            # ENODATA: removed since the listing, so it is simply not there any more
            if exc.errno != errno.ENODATA and exc.errno not in _NO_XATTR_SUPPORT:
                raise
    return values
