"""`vault prune`: reclaim what no recovery point references, without ever blocking backups.

Mark, then sweep after a grace period; see "Prune and the grace period" in
docs/design/vault-format.md for why this never deletes data a backup is about to reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from rsvault.core.ids import random_hex_id
from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, StoreError
from rsvault.vault.condemned import PRUNE_PREFIX, PruneRecord, read_records, with_condemned
from rsvault.vault.index import INDEX_PREFIX, Index, IndexFile
from rsvault.vault.lease import Lease, LeaseKind, read_leases
from rsvault.vault.pack import (
    BlobEntry,
    pack_id_from_name,
    pack_name,
)
from rsvault.vault.references import collect_references
from rsvault.vault.repository import Vault
from rsvault.vault.storeerrors import translated

DEFAULT_GRACE = timedelta(hours=1)
REPACK_WHEN_UNUSED_OVER = 0.5


class SweepsTemporaries(Protocol):
    def sweep_temporaries(self, older_than: timedelta, now: datetime) -> int: ...


@dataclass
class PruneReport:
    packs_condemned: int = 0
    packs_repacked: int = 0
    packs_deleted: int = 0
    packs_resurrected: int = 0
    bytes_deleted: int = 0
    records_waiting: int = 0
    temporaries_removed: int = 0
    index_files_replaced: int = 0
    waiting_for: list[str] = field(default_factory=list)


def prune_vault(vault: Vault, grace: timedelta = DEFAULT_GRACE) -> PruneReport:
    report = PruneReport()
    with vault.lease(LeaseKind.PRUNE, "prune") as lease, translated(vault.store):
        _mark(vault, report)
        _sweep(vault, lease, grace, report)
        _sweep_temporaries(vault, grace, report)
    return report


def _sweep_temporaries(vault: Vault, grace: timedelta, report: PruneReport) -> None:
    """Remove what writers that died mid-upload left behind. A live backup streams its open
    pack into a temporary whose age says nothing about whether it is still being written (a
    backup that deduplicates almost everything may add to it rarely), so while a backup
    holds the vault the sweep waits for a later prune."""
    store: BlobStore | SweepsTemporaries = vault.store
    if not hasattr(store, "sweep_temporaries"):
        return
    now = vault.clock.now()
    if any(r.kind is LeaseKind.SHARED and r.is_alive(now) for r in read_leases(vault.store)):
        return
    report.temporaries_removed = store.sweep_temporaries(grace, now)


def _referenced(vault: Vault, index: Index, records: list[PruneRecord]) -> set[bytes]:
    manifests = [vault.read_manifest(name) for name in vault.manifest_names()]
    refs = collect_references(vault, with_condemned(index, records), manifests)
    if refs.unreadable:
        # Without every tree we cannot know what is referenced: deleting anything could lose data.
        raise RsvaultError(
            Code.VAULT_CHECK_FAILED,
            name=vault.store.location,
            problems="; ".join(f"{rp}: {why}" for rp, why in refs.unreadable.items()),
        )
    return set(refs.by_chunk)


def _mark(vault: Vault, report: PruneReport) -> None:
    index = vault.load_index()
    records = _records(vault)
    referenced = _referenced(vault, index, records)
    recorded = {p for r in records for p in r.packs}
    keep, condemned = Index(), {}
    repack: list[str] = []
    for pack_id, entries in index.packs.items():
        used = sum(1 for e in entries if e.chunk_id in referenced)
        if used == 0:
            condemned[pack_id] = entries
        elif 1 - used / len(entries) > REPACK_WHEN_UNUSED_OVER:
            repack.append(pack_id)
            condemned[pack_id] = entries
        else:
            keep.add_pack(pack_id, entries)
    for pack_id in _orphans(vault, index, recorded):
        condemned[pack_id] = _entries_or_nothing(vault, pack_id)
    written = _repack(vault, index, keep, repack, referenced)
    _consolidate(vault, keep, index.files + written)
    report.packs_condemned = len(condemned)
    report.packs_repacked = len(repack)
    report.index_files_replaced = len(index.files)
    if condemned:
        record = PruneRecord(random_hex_id(), vault.clock.now(), condemned)
        vault.store.put(PRUNE_PREFIX + record.record_id, record.encode(vault.sealer))


def _orphans(vault: Vault, index: Index, recorded: set[str]) -> list[str]:
    stored = {pack_id_from_name(i.name) for i in vault.store.list("data/")}
    return sorted(stored - set(index.packs) - recorded)


def _entries_or_nothing(vault: Vault, pack_id: str) -> list[BlobEntry]:
    """A pack's own header; a torn pack (killed mid-write elsewhere) lists nothing usable."""
    try:
        return vault.pack_header(pack_id, vault.store.stat(pack_name(pack_id)).size)
    except RsvaultError:
        return []


def _repack(
    vault: Vault, index: Index, keep: Index, packs: list[str], referenced: set[bytes]
) -> list[str]:
    if not packs:
        return []
    writer = vault.chunk_writer(keep)
    try:
        for pack_id in packs:
            for entry in index.packs[pack_id]:
                if entry.chunk_id in referenced and entry.chunk_id not in keep:
                    writer.store(entry.kind, vault.read_chunk(index, entry.kind, entry.chunk_id))
        writer.flush()
    finally:
        writer.close()
    return writer.index_files_written


def _consolidate(vault: Vault, keep: Index, replaced: list[str]) -> None:
    """One index for all live packs, then the files it replaces go (supersedes covers a crash)."""
    consolidated = IndexFile(random_hex_id(), keep.packs, sorted(replaced))
    vault.store.put(INDEX_PREFIX + consolidated.index_id, consolidated.encode(vault.sealer))
    for old in replaced:
        vault.store.delete(INDEX_PREFIX + old)


def _records(vault: Vault) -> list[PruneRecord]:
    return read_records(vault.store, vault.sealer)


def _sweep(vault: Vault, lease: Lease, grace: timedelta, report: PruneReport) -> None:
    now = vault.clock.now()
    others = [
        other
        for other in read_leases(vault.store)
        if other.lease_id != lease.record.lease_id and other.is_alive(now)
    ]
    due = []
    records = _records(vault)
    for record in records:
        # a lease from the same instant may have read the index before the mark rewrote it
        blockers = [o for o in others if o.created <= record.time]
        if record.time + grace > now or blockers:
            report.records_waiting += 1
            report.waiting_for.extend(o.holder for o in blockers)
            continue
        due.append(record)
    if due:
        _sweep_records(vault, due, records, report)


def _sweep_records(
    vault: Vault, due: list[PruneRecord], records: list[PruneRecord], report: PruneReport
) -> None:
    index = vault.load_index()  # fresh: backups that finished since the mark are in it
    referenced = _referenced(vault, index, records)
    revived: dict[str, list[BlobEntry]] = {}
    for record in due:
        for pack_id, entries in record.packs.items():
            if pack_id in index.packs:
                continue
            # only a chunk found nowhere else revives a pack (a repacked one has copies)
            if any(e.chunk_id in referenced and e.chunk_id not in index for e in entries):
                revived[pack_id] = entries
                continue
            report.bytes_deleted += _size_or_zero(vault, pack_id)
            vault.store.delete(pack_name(pack_id))
            report.packs_deleted += 1
    if revived:
        revival = IndexFile(random_hex_id(), revived)
        vault.store.put(INDEX_PREFIX + revival.index_id, revival.encode(vault.sealer))
        report.packs_resurrected = len(revived)
    for record in due:
        vault.store.delete(PRUNE_PREFIX + record.record_id)


def _size_or_zero(vault: Vault, pack_id: str) -> int:
    try:
        return vault.store.stat(pack_name(pack_id)).size
    except StoreError:  # already gone: nothing to count
        return 0
