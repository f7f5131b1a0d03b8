"""Leases: who may hold a vault together, and when a lease stops counting."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import datetime, timedelta

import pytest

from rsvault.core.clock import ManualClock
from rsvault.core.ids import random_hex_id
from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore
from rsvault.vault.lease import LEASE_TTL, LOCK_PREFIX, Lease, LeaseKind, LeaseRecord, read_leases
from rsvault.vault.manifest import MANIFEST_PREFIX, Manifest
from rsvault.vault.repository import Vault

TTL = LEASE_TTL.total_seconds()


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def plant(
    store: BlobStore,
    kind: LeaseKind,
    *,
    host: str,
    pid: int,
    created: datetime,
    purpose: str = "planted",
) -> str:
    """Write a lease record as another process would, without a refresher."""
    record = LeaseRecord(random_hex_id(), kind, host, pid, purpose, created, created + LEASE_TTL)
    store.put(LOCK_PREFIX + record.lease_id, record.encode())
    return record.lease_id


def lock_names(store: BlobStore) -> set[str]:
    return {i.name for i in store.list(LOCK_PREFIX)}


def test_two_shared_leases_coexist(vault: Vault) -> None:
    with vault.lease(LeaseKind.SHARED, "backup a") as a, vault.lease(LeaseKind.SHARED, "b") as b:
        assert lock_names(vault.store) == {a.name, b.name}
        a.ensure_held()
        b.ensure_held()
    assert lock_names(vault.store) == set()


def test_exclusive_is_blocked_by_a_live_shared_lease(vault: Vault) -> None:
    with vault.lease(LeaseKind.SHARED, "backup web01") as shared:
        with pytest.raises(RsvaultError) as caught:
            vault.lease(LeaseKind.EXCLUSIVE, "vault delete")
        error = caught.value
        assert error.code is Code.VAULT_LOCKED
        holder = str(error.params["holder"])
        assert "backup web01" in holder
        assert str(os.getpid()) in holder
        assert socket.gethostname() in holder
        assert error.params["kind"] == "shared"
        assert lock_names(vault.store) == {shared.name}  # the loser removed its own lease


def test_shared_is_blocked_by_exclusive(vault: Vault) -> None:
    with vault.lease(LeaseKind.EXCLUSIVE, "vault delete"):
        with pytest.raises(RsvaultError) as caught:
            vault.lease(LeaseKind.SHARED, "backup")
        assert caught.value.code is Code.VAULT_LOCKED
        assert "vault delete" in str(caught.value.params["holder"])


@pytest.mark.parametrize(
    ("held", "wanted", "conflict"),
    [
        (LeaseKind.SHARED, LeaseKind.CHECK, False),
        (LeaseKind.SHARED, LeaseKind.PRUNE, False),
        (LeaseKind.CHECK, LeaseKind.CHECK, False),
        (LeaseKind.CHECK, LeaseKind.PRUNE, True),
        (LeaseKind.PRUNE, LeaseKind.CHECK, True),
        (LeaseKind.PRUNE, LeaseKind.PRUNE, True),
        (LeaseKind.PRUNE, LeaseKind.SHARED, False),
        (LeaseKind.EXCLUSIVE, LeaseKind.CHECK, True),
        (LeaseKind.CHECK, LeaseKind.EXCLUSIVE, True),
    ],
)
def test_conflict_table(vault: Vault, held: LeaseKind, wanted: LeaseKind, conflict: bool) -> None:
    with vault.lease(held, "first"):
        if conflict:
            with pytest.raises(RsvaultError) as caught:
                vault.lease(wanted, "second")
            assert caught.value.code is Code.VAULT_LOCKED
        else:
            vault.lease(wanted, "second").release()


def test_a_lease_of_a_dead_process_on_this_host_is_ignored_and_removed(
    vault: Vault, clock: ManualClock
) -> None:
    host = socket.gethostname()
    planted = plant(vault.store, LeaseKind.SHARED, host=host, pid=dead_pid(), created=clock.now())
    assert [r.lease_id for r in read_leases(vault.store)] == [planted]
    with vault.lease(LeaseKind.EXCLUSIVE, "vault delete") as lease:
        assert lock_names(vault.store) == {lease.name}


def test_a_lease_of_a_live_process_on_this_host_counts(vault: Vault, clock: ManualClock) -> None:
    planted = plant(
        vault.store,
        LeaseKind.SHARED,
        host=socket.gethostname(),
        pid=os.getppid(),
        created=clock.now(),
        purpose="backup by parent",
    )
    with pytest.raises(RsvaultError) as caught:
        vault.lease(LeaseKind.EXCLUSIVE, "vault delete")
    assert "backup by parent" in str(caught.value.params["holder"])
    assert LOCK_PREFIX + planted in lock_names(vault.store)


def test_a_lease_from_another_host_counts_until_it_expires(
    vault: Vault, clock: ManualClock
) -> None:
    # the pid means nothing on another host: dead here, the lease is still honoured
    plant(
        vault.store,
        LeaseKind.SHARED,
        host="other-host.invalid",
        pid=dead_pid(),
        created=clock.now(),
        purpose="backup elsewhere",
    )
    clock.advance(TTL - 1)
    with pytest.raises(RsvaultError) as caught:
        vault.lease(LeaseKind.EXCLUSIVE, "vault delete")
    assert "other-host.invalid" in str(caught.value.params["holder"])

    clock.advance(2)  # now past its expiry
    with vault.lease(LeaseKind.EXCLUSIVE, "vault delete") as lease:
        assert lock_names(vault.store) == {lease.name}


def test_a_corrupt_lease_file_is_not_honoured(vault: Vault) -> None:
    vault.store.put(LOCK_PREFIX + random_hex_id(), b"{half a lease")
    with vault.lease(LeaseKind.EXCLUSIVE, "vault delete"):
        pass


def test_ensure_held_fails_once_the_clock_passes_the_expiry(
    vault: Vault, clock: ManualClock
) -> None:
    with vault.lease(LeaseKind.SHARED, "backup") as lease:
        clock.advance(TTL - 1)
        lease.ensure_held()
        clock.advance(1)
        with pytest.raises(RsvaultError) as caught:
            lease.ensure_held()
        assert caught.value.code is Code.VAULT_LEASE_LOST


def test_refresh_extends_the_lease(vault: Vault, clock: ManualClock) -> None:
    with vault.lease(LeaseKind.SHARED, "backup") as lease:
        clock.advance(60)
        lease.refresh()
        stored = LeaseRecord.decode(lease.record.lease_id, vault.store.get(lease.name))
        assert stored.expires == clock.now() + LEASE_TTL
        clock.advance(TTL - 1)  # 60 + 119 s after it was taken
        lease.ensure_held()


def test_a_refresh_after_the_expiry_does_not_revive_the_lease(
    vault: Vault, clock: ManualClock
) -> None:
    with vault.lease(LeaseKind.SHARED, "backup") as lease:
        clock.advance(TTL + 5)
        lease.refresh()  # too late: someone may have judged us dead already
        clock.advance(-TTL)  # even if the clock stepped back
        with pytest.raises(RsvaultError) as caught:
            lease.ensure_held()
        assert caught.value.code is Code.VAULT_LEASE_LOST


def test_manifest_write_after_losing_the_lease_is_refused(vault: Vault, clock: ManualClock) -> None:
    manifest = Manifest("rp", clock.now().isoformat(), "item", "files", "host", [], [])
    with vault.lease(LeaseKind.SHARED, "backup") as lease:
        clock.advance(timedelta(minutes=3).total_seconds())
        with pytest.raises(RsvaultError) as caught:
            vault.write_manifest(manifest, lease)
        assert caught.value.code is Code.VAULT_LEASE_LOST
    assert list(vault.store.list(MANIFEST_PREFIX)) == []


def test_release_removes_the_lease_and_a_new_holder_can_take_it(vault: Vault) -> None:
    lease = vault.lease(LeaseKind.EXCLUSIVE, "one")
    lease.release()
    assert lock_names(vault.store) == set()
    Lease(vault.store, vault.clock, LeaseKind.EXCLUSIVE, "two").acquire().release()
