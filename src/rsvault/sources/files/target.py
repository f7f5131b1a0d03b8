"""The one way a restore writes to disk, and why it cannot write outside its root.

A recovery point's manifest is data, and data can be tampered with; the target may also
already hold symlinks planted by whoever can write there (restoring as root into /home is
the classic case). So every operation is relative to directory fds: a path is checked
name by name, each directory is opened with O_NOFOLLOW from the fd of its parent, and the
final name is created without following anything. No absolute path is ever built.

Per-entry failures (a file where a directory is needed, a full disk) are OSErrors for the
restorer to report; a path that would escape is RsvaultError(RESTORE_UNSAFE_PATH).
A RestoreTarget is not thread-safe: it caches directory fds for the paths it walked.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from rsvault.core.linkfd import link_descriptor
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.sources.files.node import Node, NodeType

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_UNNAMED_FILE_FLAGS = os.O_WRONLY | getattr(os, "O_TMPFILE", 0) | os.O_CLOEXEC
# what open(O_TMPFILE) fails with where a file system cannot make unnamed files
_NO_UNNAMED_FILES = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}
_TEMP_PREFIX = b".rsvault-tmp-"
_NAME_MAX = 255  # bytes in one name, on every Linux file system worth restoring to
_TEMP_TAG_BYTES = 8  # random bytes in each temp name
_CACHED_DIRS = 64  # restores go depth-first, so a short LRU holds nearly every hit
_SPECIAL_TYPES = {
    NodeType.FIFO: stat.S_IFIFO,
    NodeType.CHAR_DEVICE: stat.S_IFCHR,
    NodeType.BLOCK_DEVICE: stat.S_IFBLK,
}


_NOT_NAMES = frozenset((b"", b".", b".."))


def check_restore_path(rel: bytes) -> bytes:
    """`rel` if it is a plain relative path of real names; RESTORE_UNSAFE_PATH if not."""
    if b"\0" in rel or not _NOT_NAMES.isdisjoint(rel.split(b"/")):
        # also covers b'' and b'/x' (an empty first name) and b'a//b'
        raise RsvaultError(Code.RESTORE_UNSAFE_PATH, path=_printable(rel))
    return rel


class RestoreTarget:
    """A directory to restore into; `root` is created (mode 0o700) if it does not exist."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root_fd = _open_root(root)
        self._dirs: dict[bytes, int] = {}  # parent path -> fd, least recently used first
        # temp files not yet committed or discarded: removed if the restore fails (a full disk)
        self._temps: dict[bytes, bytes] = {}  # temp name -> rel
        self._temps_lock = threading.Lock()

    def __enter__(self) -> RestoreTarget:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is not None:
                self._discard_unfinished()
        finally:
            self.close()

    def _discard_unfinished(self) -> None:
        with self._temps_lock:
            left = list(self._temps.items())
        for temp, rel in left:
            with contextlib.suppress(OSError, RsvaultError):
                self.discard_temp_file(rel, temp)

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def check_writable(self) -> None:
        """Raise RESTORE_TARGET_NOT_WRITABLE unless a file can be created in the root."""
        probe = _temp_name(b"probe")
        try:
            os.close(os.open(probe, _NEW_FILE_FLAGS, 0o600, dir_fd=self._root_fd))
            os.unlink(probe, dir_fd=self._root_fd)
        except OSError as exc:
            raise _not_writable(self.root, exc) from exc

    def check_path(self, rel: bytes) -> bytes:
        return check_restore_path(rel)

    def prepare_parent(self, rel: bytes) -> int:
        """An fd of the directory that will hold `rel`, creating missing directories (0o700
        until their metadata is applied). The fd belongs to the target: do not close it, and
        use it before the next call, which may evict it from the cache."""
        parts = self.check_path(rel).split(b"/")[:-1]
        depth, fd = self._deepest_cached(parts)
        while depth < len(parts):
            fd = self._open_or_make_dir(fd, parts[: depth + 1])
            depth += 1
            self._remember(b"/".join(parts[:depth]), fd)
        return fd

    def locate(self, rel: bytes) -> tuple[int, bytes]:
        """(parent directory fd, last name) for `rel`: what `apply_metadata` needs."""
        return self.prepare_parent(rel), rel.rsplit(b"/", 1)[-1]

    def make_dir(self, rel: bytes) -> None:
        """Create directory `rel` (mode 0o700); an existing directory is kept as it is, and
        any other existing entry is replaced."""
        fd, name = self.locate(rel)
        try:
            os.mkdir(name, 0o700, dir_fd=fd)
        except FileExistsError:
            if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                return
            os.unlink(name, dir_fd=fd)  # removes a symlink itself, never its target
            os.mkdir(name, 0o700, dir_fd=fd)

    def make_symlink(self, rel: bytes, target: bytes) -> None:
        """Create symlink `rel` -> `target` (stored as is: it is never followed here)."""
        fd, name = self.locate(rel)
        _create_replacing(fd, name, lambda new: os.symlink(target, new, dir_fd=fd))

    def make_hardlink(self, rel: bytes, existing_rel: bytes) -> None:
        """Create `rel` as a further name of the already restored `existing_rel`."""
        # A private copy of the fd: locating `rel` may evict the cached one.
        source_fd = os.dup(self.prepare_parent(existing_rel))
        source = existing_rel.rsplit(b"/", 1)[-1]
        try:
            fd, name = self.locate(rel)
            _create_replacing(
                fd,
                name,
                lambda new: os.link(
                    source, new, src_dir_fd=source_fd, dst_dir_fd=fd, follow_symlinks=False
                ),
            )
        finally:
            os.close(source_fd)

    def make_special(self, rel: bytes, node: Node) -> list[JobWarning]:
        """Create a FIFO or device node (mode 0o600 until metadata is applied). Sockets are
        skipped with a warning: one is only meaningful while a process listens on it."""
        if node.type is NodeType.SOCKET:
            shown = os.fsdecode(b"/" + node.path)
            params: dict[str, object] = {"what": "socket", "reason": "sockets are not restored"}
            return [JobWarning(Code.METADATA_NOT_RESTORED, shown, params)]
        kind = _SPECIAL_TYPES.get(node.type)
        if kind is None:
            raise ValueError(f"make_special cannot create a {node.type.name} node")
        fd, name = self.locate(rel)
        _create_replacing(fd, name, lambda new: os.mknod(new, kind | 0o600, node.rdev, dir_fd=fd))
        return []

    def open_temp_file(self, rel: bytes) -> tuple[int, bytes]:
        """A new, empty file beside `rel` to write its contents into: (write fd, temp name).
        The caller closes the fd, then commits or discards the temp name."""
        fd, _name, temp = self.reserve_temp_file(rel)
        return create_temp_file(fd, temp), temp

    def reserve_temp_file(self, rel: bytes) -> tuple[int, bytes, bytes]:
        """(parent directory fd, last name, temp name) for a temp file that someone else
        creates, writes and commits with this module's functions (a restore worker, given a
        duplicate of the fd). The temp name is removed if the restore fails; call
        `forget_temp_file` once it is committed or discarded."""
        fd, name = self.locate(rel)
        temp = _temp_name(name)
        with self._temps_lock:
            self._temps[temp] = rel
        return fd, name, temp

    def reserve_temp_files(
        self, rels: Sequence[bytes]
    ) -> tuple[list[int], list[tuple[int, bytes, bytes]]]:
        """`reserve_temp_file` for many files at once: (a duplicate fd of each directory they
        are in, which the caller closes; for each file, (the number of its directory in that
        list, last name, temp name)). Files come in path order, most of them beside the one
        before: each directory is looked up once, not once per file."""
        fds: list[int] = []
        numbers: dict[bytes, int] = {}  # parent → its number in `fds`
        placed: list[tuple[int, bytes]] = []
        try:
            for rel in rels:
                parent, _slash, name = check_restore_path(rel).rpartition(b"/")
                number = numbers.get(parent)
                if number is None:
                    number = numbers[parent] = len(fds)
                    fds.append(os.dup(self.prepare_parent(rel)))
                placed.append((number, name))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        temps = _temp_names([name for _number, name in placed])
        with self._temps_lock:
            self._temps.update(zip(temps, rels, strict=True))
        return fds, [(n, name, temp) for (n, name), temp in zip(placed, temps, strict=True)]

    def commit_temp_file(self, rel: bytes, temp_name: bytes) -> None:
        """Atomically put the temp file in place of `rel`, replacing a file, symlink or other
        non-directory there. An existing directory is refused (IsADirectoryError) and the
        temp file is then removed."""
        fd, name = self.locate(rel)
        self.forget_temp_file(temp_name)
        commit_temp_file(fd, temp_name, name)

    def discard_temp_file(self, rel: bytes, temp_name: bytes) -> None:
        fd, _ = self.locate(rel)
        self.forget_temp_file(temp_name)
        discard_temp_file(fd, temp_name)

    def forget_temp_file(self, temp_name: bytes) -> None:
        self.forget_temp_files([temp_name])

    def forget_temp_files(self, temp_names: Iterable[bytes]) -> None:
        """Stop tracking these temp names: their files were committed or discarded."""
        with self._temps_lock:
            for temp_name in temp_names:
                _check_temp_name(temp_name)
                self._temps.pop(temp_name, None)

    def _deepest_cached(self, parts: list[bytes]) -> tuple[int, int]:
        """(how many leading names are already open, the fd of the last of them)."""
        for depth in range(len(parts), 0, -1):
            key = b"/".join(parts[:depth])
            fd = self._dirs.pop(key, None)
            if fd is not None:
                self._dirs[key] = fd  # re-inserted: now the most recently used
                return depth, fd
        return 0, self._root_fd

    def _remember(self, key: bytes, fd: int) -> None:
        self._dirs[key] = fd
        while len(self._dirs) > _CACHED_DIRS:
            # The oldest entry is never `fd` nor the parent just used to open it.
            os.close(self._dirs.pop(next(iter(self._dirs))))

    def _open_or_make_dir(self, parent_fd: int, parts: list[bytes]) -> int:
        name = parts[-1]
        fd = _open_dir(parent_fd, name, parts)
        if fd is None:
            # FileExistsError: made meanwhile, or not a directory; the open below tells which
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            fd = _open_dir(parent_fd, name, parts)
        if fd is None:
            raise FileNotFoundError(f"{_printable(b'/'.join(parts))} vanished while restoring")
        return fd


def _open_root(root: Path) -> int:
    # The root itself may be reached through symlinks: the user chose it, the manifest did not.
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _not_writable(root, exc) from exc


def _open_dir(parent_fd: int, name: bytes, parts: list[bytes]) -> int | None:
    """The fd of directory `name` in `parent_fd`, None if there is none; a symlink there is
    refused with RESTORE_UNSAFE_PATH, any other non-directory with NotADirectoryError."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        return None
    except OSError:
        # O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR or ELOOP: lstat tells.
        mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            shown = _printable(b"/".join(parts))
            detail = f"{shown} is a symbolic link in the restore target"
            raise RsvaultError(Code.RESTORE_UNSAFE_PATH, path=shown, detail=detail) from None
        raise


def _create_replacing(fd: int, name: bytes, create: Callable[[bytes], None]) -> None:
    """Create `name` in `fd` with `create`; if something is there, create the new entry under
    a temp name and rename it over the old one, so the name is never missing or half-made."""
    try:
        create(name)
        return
    except FileExistsError:
        pass
    temp = _temp_name(name)
    create(temp)
    try:
        os.rename(temp, name, src_dir_fd=fd, dst_dir_fd=fd)  # EISDIR over a directory
    finally:
        # Also after success: renaming onto another name of the same inode is a no-op that
        # leaves the temp name behind (hard links restored over themselves).
        _unlink_quietly(temp, fd)


def create_temp_file(dir_fd: int, temp_name: bytes, mode: int = 0o600) -> int:
    """Create the temp file `temp_name` (from `reserve_temp_file`) in `dir_fd`, for writing,
    with the permissions `mode` allows (see `creation_mode`)."""
    _check_temp_name(temp_name)
    return os.open(temp_name, _NEW_FILE_FLAGS, creation_mode(mode), dir_fd=dir_fd)


def create_unnamed_file(dir_fd: int, mode: int = 0o600) -> int | None:
    """A new file in `dir_fd` that has no name until `commit_unnamed_file` gives it one, for
    writing, with the permissions `mode` allows (see `creation_mode`); None where the file
    system (or a missing /proc) does not allow that.

    Cheaper than a temp name and a rename, and a restore killed halfway leaves nothing
    behind: the kernel frees a file that never got a name."""
    if not _can_link_unnamed():
        return None
    try:
        return os.open(b".", _UNNAMED_FILE_FLAGS, creation_mode(mode), dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _NO_UNNAMED_FILES:
            return None
        raise


def commit_unnamed_file(dir_fd: int, fd: int, temp_name: bytes, name: bytes) -> None:
    """Give the finished unnamed file `fd` the name `name` in `dir_fd`. Where `name` is taken,
    the file is linked as `temp_name` and renamed over it, as `commit_temp_file` does."""
    _check_final_name(name)
    try:
        link_descriptor(fd, dir_fd, name)
        return
    except FileExistsError:
        pass
    _check_temp_name(temp_name)
    link_descriptor(fd, dir_fd, temp_name)
    commit_temp_file(dir_fd, temp_name, name)


# Read and execute bits for all, write for the owner only: no set-id, sticky or foreign write bit
_CREATION_MODE_MASK = 0o755


def creation_mode(mode: int) -> int:
    """The permissions a restored file is created with, given its final `mode`: what that
    mode allows, but never writable by anyone except its owner, and never set-id, since its
    contents are not verified yet. The owner may write it (its direct-write descriptor is
    opened by path). Most files then need no chmod once written."""
    return mode & _CREATION_MODE_MASK | stat.S_IWUSR


@functools.cache
def _can_link_unnamed() -> bool:
    # Where the kernel refuses linkat by descriptor (`core.linkfd`), an unnamed file can only
    # be linked through /proc/self/fd.
    return hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


def commit_temp_file(dir_fd: int, temp_name: bytes, name: bytes) -> None:
    """Rename a finished temp file over `name` in the same directory (see the method)."""
    _check_temp_name(temp_name)
    _check_final_name(name)
    try:
        os.rename(temp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        _unlink_quietly(temp_name, dir_fd)
        raise


def discard_temp_file(dir_fd: int, temp_name: bytes) -> None:
    _check_temp_name(temp_name)
    _unlink_quietly(temp_name, dir_fd)


def _temp_name(name: bytes) -> bytes:
    return _temp_names([name])[0]


def _temp_names(names: Sequence[bytes]) -> list[bytes]:
    """A temp name beside each of `names`: unguessable, so nobody can plant one first. One
    call for many files, because `os.urandom` gives up the interpreter lock and getting it
    back, once per file, was most of the planning thread's time in a restore of small files."""
    tags = os.urandom(_TEMP_TAG_BYTES * len(names)).hex().encode()
    width = 2 * _TEMP_TAG_BYTES
    temps = []
    for at, name in enumerate(names):
        prefix = _TEMP_PREFIX + tags[at * width : (at + 1) * width] + b"-"
        temps.append(prefix + name[: _NAME_MAX - len(prefix)])
    return temps


def _check_final_name(name: bytes) -> None:
    if b"/" in name or b"\0" in name or name in (b"", b".", b".."):
        raise RsvaultError(Code.RESTORE_UNSAFE_PATH, path=_printable(name))


def _check_temp_name(temp_name: bytes) -> None:
    if not temp_name.startswith(_TEMP_PREFIX) or b"/" in temp_name or b"\0" in temp_name:
        raise RsvaultError(Code.RESTORE_UNSAFE_PATH, path=_printable(temp_name))


def _unlink_quietly(name: bytes, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=fd)


def _not_writable(root: Path, exc: OSError) -> RsvaultError:
    return RsvaultError(
        Code.RESTORE_TARGET_NOT_WRITABLE, target=str(root), reason=exc.strerror or str(exc)
    )


def _printable(raw: bytes) -> str:
    """A path for messages and logs: undecodable bytes and control characters escaped."""
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
