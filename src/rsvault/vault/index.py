"""The index: chunk id → (pack, offset, length), kept in memory and stored as index files."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import msgpack

from rsvault.storage import BlobStore
from rsvault.vault.crypto import Sealer
from rsvault.vault.pack import BlobEntry

INDEX_PREFIX = "index/"


class Location(NamedTuple):  # one per chunk in memory: as cheap as a Python object gets
    pack_id: str
    entry: BlobEntry


@dataclass
class IndexFile:
    """One stored index file: the packs it names and the index files it replaces."""

    index_id: str
    packs: dict[str, list[BlobEntry]] = field(default_factory=dict)
    supersedes: list[str] = field(default_factory=list)

    def encode(self, sealer: Sealer) -> bytes:
        body = {
            "v": 1,
            "packs": [
                {"id": pid, "blobs": [e.as_list() for e in entries]}
                for pid, entries in self.packs.items()
            ],
            "supersedes": self.supersedes,
        }
        return sealer.seal_meta(_context(self.index_id), msgpack.packb(body))

    @classmethod
    def decode(cls, sealer: Sealer, index_id: str, blob: bytes) -> IndexFile:
        body = msgpack.unpackb(sealer.open_meta(_context(index_id), blob, INDEX_PREFIX + index_id))
        packs = {p["id"]: [BlobEntry.from_list(row) for row in p["blobs"]] for p in body["packs"]}
        return cls(index_id, packs, list(body.get("supersedes", [])))


def _context(index_id: str) -> bytes:
    return b"index" + index_id.encode()


class Index:
    """The in-memory union of the live index files, safe to extend from several threads."""

    def __init__(self) -> None:
        self._chunks: dict[bytes, Location] = {}
        self.packs: dict[str, list[BlobEntry]] = {}
        self.files: list[str] = []
        self._lock = threading.Lock()

    def add_pack(self, pack_id: str, entries: Iterable[BlobEntry]) -> None:
        listed = list(entries)
        with self._lock:
            self.packs[pack_id] = listed
            for entry in listed:
                self._chunks.setdefault(entry.chunk_id, Location(pack_id, entry))

    def get(self, chunk_id: bytes) -> Location | None:
        return self._chunks.get(chunk_id)

    def __contains__(self, chunk_id: bytes) -> bool:
        return chunk_id in self._chunks

    def __len__(self) -> int:
        return len(self._chunks)


def load_index(store: BlobStore, sealer: Sealer) -> Index:
    """Read every index file, ignoring those another index file supersedes."""
    files = [
        IndexFile.decode(sealer, info.name.removeprefix(INDEX_PREFIX), store.get(info.name))
        for info in store.list(INDEX_PREFIX)
    ]
    superseded = {old for f in files for old in f.supersedes}
    index = Index()
    for index_file in files:
        if index_file.index_id in superseded:
            continue
        index.files.append(index_file.index_id)
        for pack_id, entries in index_file.packs.items():
            index.add_pack(pack_id, entries)
    return index
