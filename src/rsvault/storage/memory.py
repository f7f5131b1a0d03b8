"""An in-memory store: the reference for the contract, and fast for tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from rsvault.core.clock import SYSTEM_CLOCK, Clock
from rsvault.storage.errors import StoreError, StoreNotFoundError
from rsvault.storage.names import check_name
from rsvault.storage.protocol import BlobInfo


class MemoryStore:
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._blobs: dict[str, tuple[bytes, BlobInfo]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    @property
    def location(self) -> str:
        return f"memory:{id(self):x}"

    def put(self, name: str, data: bytes | memoryview) -> None:
        payload = bytes(data)
        info = BlobInfo(check_name(name), len(payload), self._clock.now())
        with self._lock:
            self._blobs[name] = (payload, info)

    def open_upload(self, name: str) -> _MemoryUpload:
        return _MemoryUpload(self, check_name(name))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        with self._lock:
            found = self._blobs.get(check_name(name))
        if found is None:
            raise StoreNotFoundError(name, "no such blob")
        end = None if length is None else offset + length
        return found[0][offset:end]

    def stat(self, name: str) -> BlobInfo:
        with self._lock:
            found = self._blobs.get(check_name(name))
        if found is None:
            raise StoreNotFoundError(name, "no such blob")
        return found[1]

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        with self._lock:
            infos = [info for name, (_, info) in self._blobs.items() if name.startswith(prefix)]
        yield from infos

    def delete(self, name: str) -> None:
        with self._lock:
            self._blobs.pop(check_name(name), None)

    def free_space(self) -> int | None:
        return None


class _MemoryUpload:
    def __init__(self, store: MemoryStore, name: str) -> None:
        self._store = store
        self._name = name
        self._buffer: bytearray | None = bytearray()

    @property
    def size(self) -> int:
        return len(self._buffer or b"")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._buffer is None:
            raise StoreError(self._name, "upload already finished")
        self._buffer += data

    def commit(self) -> None:
        if self._buffer is None:
            raise StoreError(self._name, "upload already finished")
        buffer, self._buffer = self._buffer, None
        self._store.put(self._name, bytes(buffer))

    def abort(self) -> None:
        self._buffer = None
