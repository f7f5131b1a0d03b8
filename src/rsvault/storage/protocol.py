"""The BlobStore contract that every backend and wrapper honours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    modified: datetime


class BlobUpload(Protocol):
    """One blob being written; see `BlobStore.open_upload`."""

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit(self) -> None:
        """Make the blob visible and durable. A failed commit raises; the blob then counts as
        never written (it may or may not be there, like a put that failed)."""
        ...

    def abort(self) -> None:
        """Drop what was written; idempotent, and harmless after a commit or a failure."""
        ...


class BlobStore(Protocol):
    """Named immutable-ish byte blobs under '/'-separated names such as 'data/ab/abcd…'.

    Contract:
    - `put` is atomic: a reader sees the old blob, or no blob, or the whole new blob, never a
      part. When `put` returns, the blob is durable (fsynced or acknowledged by the service).
    - `open_upload` writes a blob piece by piece, for blobs too large to hold in memory at
      once (packs). Nothing is visible until `commit`, which is then atomic and durable like
      `put`; `abort` (or a failed write or commit) leaves no blob behind.
    - `get` of a missing blob raises StoreNotFoundError. `get(name, offset, length)` returns at
      most `length` bytes from `offset`; a range past the end returns what exists.
    - `list(prefix)` yields every blob whose name starts with `prefix`, in no particular order.
      A blob put before the call starts is listed; one put during the call may or may not be.
    - `delete` of a missing blob is not an error (deletes are idempotent).
    - Failures raise StoreError subclasses; `transient` says whether retrying may help.
    """

    @property
    def location(self) -> str:
        """A human-readable description of where the bytes live."""
        ...

    def put(self, name: str, data: bytes | memoryview) -> None: ...

    def open_upload(self, name: str) -> BlobUpload: ...

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def stat(self, name: str) -> BlobInfo: ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]: ...

    def delete(self, name: str) -> None: ...

    def free_space(self) -> int | None:
        """Bytes still writable, or None when the store cannot tell (object stores)."""
        ...


@runtime_checkable
class FileStore(Protocol):
    """A store that keeps each blob as a file on a local file system. It can lend a
    descriptor, so that another process (a restore worker) reads what it needs itself
    instead of receiving a copy of the bytes."""

    def open_file(self, name: str) -> int:
        """A new read-only descriptor on blob `name`, for the caller to close. A missing
        blob raises StoreNotFoundError, like `get`."""
        ...
