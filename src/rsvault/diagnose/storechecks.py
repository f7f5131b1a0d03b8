"""The vault's store: can we reach it, write to it, is there room, whose leases are held.

These are the checks every diagnose ends with: whatever the item, a backup needs them.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rsvault.core.clock import Clock
from rsvault.core.units import format_bytes
from rsvault.diagnose.findings import Finding, Step
from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, LocalStore, StoreError
from rsvault.vault.lease import LeaseKind, LeaseRecord, read_leases
from rsvault.vault.repository import read_config
from rsvault.vault.storeerrors import translated

PROBE_PREFIX = "diagnose/"
# Below this a backup cannot even write its first pack; a failure, not a warning.
MIN_FREE_BYTES = 256 * 1024 * 1024
# Free space under this share of the vault's size will not hold a new full backup.
WARN_FREE_SHARE = 0.10
# The kinds of lease that make a backup, or a check, wait.
_BLOCKS_WORK = {LeaseKind.EXCLUSIVE, LeaseKind.PRUNE}


@dataclass
class StoreProbe:
    """What the store checks learn, for the checks after them (the clock compares times)."""

    root: Path
    clock: Clock
    store: BlobStore | None = None
    store_time: datetime | None = None
    vault_bytes: int = 0
    leases: list[LeaseRecord] = field(default_factory=list)

    def steps(self) -> list[Step]:
        return [
            Step("store.reachable", self.reachable, gate=True),
            Step("store.writable", self.writable, gate=True),
            Step("store.free-space", self.free_space),
            Step("store.leases", self.held_leases),
        ]

    def reachable(self) -> Finding:
        if not self.root.is_dir():
            raise RsvaultError(
                Code.VAULT_LOCATION_UNUSABLE,
                location=str(self.root),
                reason="the folder is missing (a disk not mounted, or the folder moved?)",
            )
        store = LocalStore(self.root)
        config = read_config(store)
        self.store = store
        return Finding.passed("store.reachable", f"{store.location}, vault format {config.version}")

    def writable(self) -> Finding:
        store = self._store()
        name = f"{PROBE_PREFIX}probe-{secrets.token_hex(8)}"
        payload = secrets.token_bytes(64)
        with translated(store):
            try:
                store.put(name, payload)
                read_back = store.get(name)
                self.store_time = store.stat(name).modified
            finally:
                _forget(store, name)
        if read_back != payload:
            raise RsvaultError(
                Code.STORE_UNAVAILABLE,
                store=store.location,
                reason="a test object read back different from what was written",
            )
        return Finding.passed("store.writable", "a test object was written, read back, removed")

    def free_space(self) -> Finding:
        store = self._store()
        with translated(store):
            free = store.free_space()
            self.vault_bytes = sum(info.size for info in store.list("data/"))
        if free is None:
            return Finding.passed("store.free-space", "the store does not report free space")
        facts = f"{format_bytes(free)} free; the vault holds {format_bytes(self.vault_bytes)}"
        if free < MIN_FREE_BYTES:
            error = _short_of_space(store, MIN_FREE_BYTES - free)
            return Finding.failed("store.free-space", error, facts)
        wanted = int(self.vault_bytes * WARN_FREE_SHARE)
        if free < wanted:
            return Finding.warned("store.free-space", _short_of_space(store, wanted - free), facts)
        return Finding.passed("store.free-space", facts)

    def held_leases(self) -> Finding:
        store = self._store()
        now = self.clock.now()
        with translated(store):
            self.leases = read_leases(store)
        live = [lease for lease in self.leases if lease.is_alive(now)]
        stale = len(self.leases) - len(live)
        facts = "; ".join(f"{lease.kind.value} lease held by {lease.holder}" for lease in live)
        facts = facts or "no lease is held"
        if stale:
            facts += f"; {stale} expired lease(s), ignored"
        blocking = [lease for lease in live if lease.kind in _BLOCKS_WORK]
        if blocking:
            first = blocking[0]
            error = RsvaultError(
                Code.VAULT_LOCKED,
                holder=first.holder,
                kind=first.kind.value,
                expires=first.expires.isoformat(timespec="seconds"),
            )
            return Finding.warned("store.leases", error, facts)
        return Finding.passed("store.leases", facts)

    def _store(self) -> BlobStore:
        assert self.store is not None, "store.reachable runs first and is a gate"
        return self.store


def _short_of_space(store: BlobStore, missing: int) -> RsvaultError:
    return RsvaultError(
        Code.NOT_ENOUGH_SPACE,
        location=store.location,
        detail=f"about {format_bytes(max(missing, 1))} more is needed",
    )


def _forget(store: BlobStore, name: str) -> None:
    # a probe left behind is a few bytes under diagnose/, never read by anything
    with contextlib.suppress(StoreError):
        store.delete(name)
