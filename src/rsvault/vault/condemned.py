"""Prune records: packs condemned by a prune's mark, still in the store until a sweep.

Readers (restore, check, a backup reading its parent's tree) see these packs: a backup that
deduplicated against one before the mark is readable at once, not only after the next sweep
revives the pack. Writers never deduplicate against them: see "Prune and the grace period".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgpack

from rsvault.storage import BlobStore
from rsvault.vault.crypto import Sealer
from rsvault.vault.index import Index
from rsvault.vault.pack import BlobEntry

PRUNE_PREFIX = "prune/"


@dataclass
class PruneRecord:
    record_id: str
    time: datetime
    packs: dict[str, list[BlobEntry]]

    def encode(self, sealer: Sealer) -> bytes:
        body = {
            "time": self.time.isoformat(),
            "packs": {p: [e.as_list() for e in es] for p, es in self.packs.items()},
        }
        return sealer.seal_meta(_context(self.record_id), msgpack.packb(body))

    @classmethod
    def decode(cls, sealer: Sealer, record_id: str, blob: bytes) -> PruneRecord:
        raw = sealer.open_meta(_context(record_id), blob, PRUNE_PREFIX + record_id)
        body = msgpack.unpackb(raw)
        packs = {p: [BlobEntry.from_list(r) for r in rows] for p, rows in body["packs"].items()}
        return cls(record_id, datetime.fromisoformat(body["time"]), packs)


def _context(record_id: str) -> bytes:
    return b"prune" + record_id.encode()


def read_records(store: BlobStore, sealer: Sealer) -> list[PruneRecord]:
    return [
        PruneRecord.decode(sealer, i.name.removeprefix(PRUNE_PREFIX), store.get(i.name))
        for i in store.list(PRUNE_PREFIX)
    ]


def with_condemned(index: Index, records: list[PruneRecord]) -> Index:
    """The index plus the condemned packs not yet swept (they are still in the store)."""
    extra = {p: es for r in records for p, es in r.packs.items() if p not in index.packs}
    if not extra:
        return index
    readable = Index()
    readable.files = list(index.files)
    for pack_id, entries in [*index.packs.items(), *extra.items()]:
        readable.add_pack(pack_id, entries)
    return readable
