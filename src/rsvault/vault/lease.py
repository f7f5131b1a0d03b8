"""Leases: locks that expire, so a dead process never blocks a vault for long."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rsvault.core.clock import Clock
from rsvault.core.ids import random_hex_id
from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, StoreError

LOCK_PREFIX = "locks/"
LEASE_TTL = timedelta(seconds=120)
REFRESH_EVERY = timedelta(seconds=30)


class LeaseKind(StrEnum):
    SHARED = "shared"
    CHECK = "check"
    PRUNE = "prune"
    EXCLUSIVE = "exclusive"


_CONFLICTS: dict[LeaseKind, set[LeaseKind]] = {
    LeaseKind.SHARED: {LeaseKind.EXCLUSIVE},
    LeaseKind.CHECK: {LeaseKind.PRUNE, LeaseKind.EXCLUSIVE},
    LeaseKind.PRUNE: {LeaseKind.CHECK, LeaseKind.PRUNE, LeaseKind.EXCLUSIVE},
    LeaseKind.EXCLUSIVE: set(LeaseKind),
}


@dataclass(frozen=True)
class LeaseRecord:
    lease_id: str
    kind: LeaseKind
    host: str
    pid: int
    purpose: str
    created: datetime
    expires: datetime

    def encode(self) -> bytes:
        return json.dumps(
            {
                "kind": self.kind.value,
                "host": self.host,
                "pid": self.pid,
                "purpose": self.purpose,
                "created": self.created.isoformat(),
                "expires": self.expires.isoformat(),
            }
        ).encode()

    @classmethod
    def decode(cls, lease_id: str, raw: bytes) -> LeaseRecord:
        body = json.loads(raw)
        return cls(
            lease_id,
            LeaseKind(body["kind"]),
            body["host"],
            int(body["pid"]),
            body.get("purpose", ""),
            datetime.fromisoformat(body["created"]),
            datetime.fromisoformat(body["expires"]),
        )

    def is_alive(self, now: datetime) -> bool:
        if self.expires <= now:
            return False
        return self.host != socket.gethostname() or _pid_exists(self.pid)

    @property
    def holder(self) -> str:
        return f"{self.purpose} (pid {self.pid} on {self.host})"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_leases(store: BlobStore) -> list[LeaseRecord]:
    leases = []
    for info in store.list(LOCK_PREFIX):
        try:
            leases.append(
                LeaseRecord.decode(info.name.removeprefix(LOCK_PREFIX), store.get(info.name))
            )
        except (StoreError, ValueError, KeyError):
            continue  # deleted while listing, or half-readable: not a lease we must honour
    return leases


class Lease:
    """A held lease, refreshed by a background thread until released."""

    def __init__(self, store: BlobStore, clock: Clock, kind: LeaseKind, purpose: str) -> None:
        self._store = store
        self._clock = clock
        now = clock.now()
        self.record = LeaseRecord(
            random_hex_id(), kind, socket.gethostname(), os.getpid(), purpose, now, now + LEASE_TTL
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost = False

    @property
    def name(self) -> str:
        return LOCK_PREFIX + self.record.lease_id

    def acquire(self) -> Lease:
        self._store.put(self.name, self.record.encode())
        blocker = self._first_conflict()
        if blocker is not None:
            self._store.delete(self.name)
            raise RsvaultError(
                Code.VAULT_LOCKED,
                holder=blocker.holder,
                kind=blocker.kind.value,
                expires=blocker.expires.isoformat(timespec="seconds"),
            )
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True, name="lease")
        self._thread.start()
        return self

    def _first_conflict(self) -> LeaseRecord | None:
        now = self._clock.now()
        for other in read_leases(self._store):
            if other.lease_id == self.record.lease_id:
                continue
            if not other.is_alive(now):
                self._store.delete(LOCK_PREFIX + other.lease_id)
                continue
            if other.kind in _CONFLICTS[self.record.kind]:
                return other
        return None

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_EVERY.total_seconds()):
            self.refresh()

    def refresh(self) -> None:
        now = self._clock.now()
        if now >= self.record.expires:
            self._lost = True  # paused past expiry: someone may have judged us dead
            return
        renewed = LeaseRecord(**{**self.record.__dict__, "expires": now + LEASE_TTL})
        try:
            self._store.put(self.name, renewed.encode())
            self.record = renewed
        except StoreError:
            pass  # try again next round; `ensure_held` catches a lease that ran out

    def ensure_held(self) -> None:
        """Fail if the lease ran out: the write that follows must not happen."""
        if self._lost or self._clock.now() >= self.record.expires:
            raise RsvaultError(Code.VAULT_LEASE_LOST, name=self.record.purpose)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(StoreError):  # it expires by itself
            self._store.delete(self.name)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
