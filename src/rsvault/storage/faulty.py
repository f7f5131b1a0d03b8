"""A store wrapper that fails on demand: errors, delays, lost writes, corrupted reads.

Faults are scripted per operation, e.g. `store.fail("put", StoreFullError, after=3)` makes
the fourth and later puts fail; `store.corrupt_reads("data/")` flips a byte in every get
below that prefix. An upload (`open_upload`) is a put in pieces: "put" faults, delays and lost
writes apply to its commit, and "write" faults to each of its writes (a disk that fills up
while a pack is being written). This is product code: tests and `rsvault` self-checks both
use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rsvault.core.clock import SYSTEM_CLOCK, Clock
from rsvault.storage.errors import StoreError
from rsvault.storage.protocol import BlobInfo, BlobStore, BlobUpload


@dataclass
class _Fault:
    operation: str
    make_error: Callable[[str], StoreError]
    prefix: str
    after: int
    times: int | None
    seen: int = 0

    def fires(self, operation: str, name: str) -> bool:
        if operation != self.operation or not name.startswith(self.prefix):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is None:
            return True
        if self.times > 0:
            self.times -= 1
            return True
        return False


class FaultyStore:
    def __init__(self, inner: BlobStore, clock: Clock = SYSTEM_CLOCK) -> None:
        self.inner = inner
        self._clock = clock
        self._faults: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._lose_prefixes: list[str] = []
        self._corrupt_prefixes: list[str] = []
        self._lock = threading.Lock()

    # scripting

    def fail(
        self,
        operation: str,
        error: type[StoreError] = StoreError,
        *,
        prefix: str = "",
        after: int = 0,
        times: int | None = None,
        reason: str = "injected fault",
    ) -> None:
        """Make `operation` on names below `prefix` raise, after `after` calls, `times` times."""
        fault = _Fault(operation, lambda name: error(name, reason), prefix, after, times)
        with self._lock:
            self._faults.append(fault)

    def delay(self, operation: str, seconds: float) -> None:
        self._delays[operation] = seconds

    def lose_writes(self, prefix: str) -> None:
        """Puts below `prefix` report success but store nothing (a lying disk or cache)."""
        self._lose_prefixes.append(prefix)

    def corrupt_reads(self, prefix: str) -> None:
        """Gets below `prefix` return the bytes with one bit flipped in the middle."""
        self._corrupt_prefixes.append(prefix)

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
        self._delays.clear()
        self._lose_prefixes.clear()
        self._corrupt_prefixes.clear()

    # BlobStore

    @property
    def location(self) -> str:
        return self.inner.location

    def _before(self, operation: str, name: str) -> None:
        if seconds := self._delays.get(operation):
            self._clock.sleep(seconds)
        with self._lock:
            fired = next((f for f in self._faults if f.fires(operation, name)), None)
        if fired is not None:
            raise fired.make_error(name)

    def put(self, name: str, data: bytes | memoryview) -> None:
        self._before("put", name)
        if self._loses(name):
            return
        self.inner.put(name, data)

    def open_upload(self, name: str) -> _FaultyUpload:
        return _FaultyUpload(self, name, self.inner.open_upload(name))

    def _loses(self, name: str) -> bool:
        return any(name.startswith(p) for p in self._lose_prefixes)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        self._before("get", name)
        data = self.inner.get(name, offset, length)
        if data and any(name.startswith(p) for p in self._corrupt_prefixes):
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0x01
            return bytes(flipped)
        return data

    def stat(self, name: str) -> BlobInfo:
        self._before("stat", name)
        return self.inner.stat(name)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        self._before("list", prefix)
        return self.inner.list(prefix)

    def delete(self, name: str) -> None:
        self._before("delete", name)
        self.inner.delete(name)

    def free_space(self) -> int | None:
        return self.inner.free_space()


class _FaultyUpload:
    def __init__(self, store: FaultyStore, name: str, inner: BlobUpload) -> None:
        self._store = store
        self._name = name
        self._inner = inner

    @property
    def size(self) -> int:
        return self._inner.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._store._before("write", self._name)
        self._inner.write(data)

    def commit(self) -> None:
        try:
            self._store._before("put", self._name)
        except StoreError:
            self._inner.abort()
            raise
        if self._store._loses(self._name):
            self._inner.abort()
            return
        self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()
