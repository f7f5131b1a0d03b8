"""A directory on a local or mounted file system, with atomic, durable writes."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rsvault.core.openfiles import OpenFiles
from rsvault.storage.errors import (
    StoreError,
    StoreFullError,
    StoreNotFoundError,
    StorePermissionError,
)
from rsvault.storage.names import check_name
from rsvault.storage.protocol import BlobInfo

# '~' never appears in a valid blob name, so a temporary file can never be mistaken for a blob.
_TEMP_PREFIX = "tmp~"
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def _translate(name: str, exc: OSError) -> StoreError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT:
        return StoreNotFoundError(name, reason)
    if exc.errno in _FULL:
        return StoreFullError(name, reason)
    if exc.errno in _DENIED:
        return StorePermissionError(name, reason)
    return StoreError(name, reason)


@contextmanager
def _translated(name: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _translate(name, exc) from exc


_READ_HANDLES = 32


class LocalStore:
    """Blobs are files below `root`; a put is temp file → fsync → rename → fsync of the folder.

    Ranged reads keep a few files open: a restore reads each pack in many small spans, and an
    open per span cost more than the read. A put replaces the file (a new inode), so a cached
    handle is dropped whenever its name is written or deleted.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._handles = OpenFiles(_READ_HANDLES)
        self._handles_lock = threading.Lock()

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def put(self, name: str, data: bytes | memoryview) -> None:
        upload = self.open_upload(name)
        try:
            upload.write(data)
        except BaseException:
            upload.abort()
            raise
        upload.commit()

    def open_upload(self, name: str) -> _LocalUpload:
        path = self._path(name)
        with _translated(name):
            path.parent.mkdir(parents=True, exist_ok=True)
            return _LocalUpload(self, name, path)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if length is None:
            with _translated(name), open(self._path(name), "rb") as handle:
                handle.seek(offset)
                return handle.read()
        with _translated(name):
            fd = self._read_handle(name)
            try:
                return os.pread(fd, length, offset)
            finally:
                os.close(fd)

    def open_file(self, name: str) -> int:
        with _translated(name):
            return os.open(self._path(name), os.O_RDONLY | os.O_CLOEXEC)

    def _read_handle(self, name: str) -> int:
        """A descriptor of the caller's own on `name` (to close), duplicated from the cached
        one under the lock: once the lock is released another thread may close the cached
        descriptor, and its number may then name a different file."""
        with self._handles_lock:
            cached = self._handles.get(
                name, lambda: os.open(self._path(name), os.O_RDONLY | os.O_CLOEXEC)
            )
            return os.dup(cached)

    def _forget_handle(self, name: str) -> None:
        with self._handles_lock:
            self._handles.forget(name)

    def close(self) -> None:
        with self._handles_lock:
            self._handles.close()

    def stat(self, name: str) -> BlobInfo:
        with _translated(name):
            st = self._path(name).stat()
        return BlobInfo(name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for directory, _dirs, files in os.walk(base):
            for file_name in files:
                info = self._listed(Path(directory) / file_name, prefix)
                if info is not None:
                    yield info

    def _listed(self, path: Path, prefix: str) -> BlobInfo | None:
        name = path.relative_to(self.root).as_posix()
        if path.name.startswith(_TEMP_PREFIX) or not name.startswith(prefix):
            return None
        try:
            st = path.stat()
        except FileNotFoundError:
            return None  # deleted while listing
        return BlobInfo(name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete(self, name: str) -> None:
        self._forget_handle(name)
        with _translated(name):
            self._path(name).unlink(missing_ok=True)

    def free_space(self) -> int | None:
        with _translated("."):
            return shutil.disk_usage(self.root).free

    def sweep_temporaries(self, older_than: timedelta, now: datetime) -> int:
        """Remove temporary files left by writers that died mid-put; returns how many."""
        removed = 0
        for directory, _dirs, files in os.walk(self.root):
            for file_name in files:
                path = Path(directory) / file_name
                if file_name.startswith(_TEMP_PREFIX) and _older(path, now - older_than):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


class _LocalUpload:
    """A temporary file beside the blob: written as it comes, then fsync → rename → fsync."""

    def __init__(self, store: LocalStore, name: str, path: Path) -> None:
        self._store = store
        self._name = name
        self._path = path
        self._temp = path.parent / f"{_TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self._fd: int | None = os.open(self._temp, flags, 0o600)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd is None:
            raise StoreError(self._name, "upload already finished")
        view = memoryview(data)
        with _translated(self._name):
            while view:
                written = os.write(self._fd, view)
                self.size += written
                view = view[written:]

    def commit(self) -> None:
        if self._fd is None:
            raise StoreError(self._name, "upload already finished")
        try:
            with _translated(self._name):
                os.fsync(self._fd)
                self._close()
                self._store._forget_handle(self._name)
                os.replace(self._temp, self._path)
                _fsync_dir(self._path.parent)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self._close()
        self._temp.unlink(missing_ok=True)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _older(path: Path, cutoff: datetime) -> bool:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
