"""The index: chunk id → (pack, offset, length), kept in memory and stored as index files."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import msgpack

from rsvault.storage import BlobStore
from rsvault.vault.crypto import Sealer
from rsvault.vault.pack import BlobEntry

INDEX_PREFIX = "index/"


class Location(NamedTuple):
    pack_id: str
    entry: BlobEntry


@dataclass
class IndexFile:
    """One stored index file: the packs it names and the index files it replaces."""

    index_id: str
    packs: Mapping[str, list[BlobEntry]] = field(default_factory=dict)
    supersedes: list[str] = field(default_factory=list)

    def encode(self, sealer: Sealer) -> bytes:
        """The sealed file: msgpack of {"v": 1, "packs": [{"id", "blobs"}], "supersedes"},
        packed one pack at a time. With `packs` a view of the index (`Index.packs_named`),
        only one pack's entries are ever made as objects: tens of thousands of them for a
        whole index file would be the largest thing a backup holds at its end."""
        packer = msgpack.Packer()
        body = bytearray(packer.pack_map_header(3))
        body += packer.pack("v") + packer.pack(1)
        body += packer.pack("packs") + packer.pack_array_header(len(self.packs))
        for pid, entries in self.packs.items():
            body += packer.pack({"id": pid, "blobs": [e.as_list() for e in entries]})
        body += packer.pack("supersedes") + packer.pack(self.supersedes)
        return sealer.seal_meta(_context(self.index_id), body)

    @classmethod
    def decode(cls, sealer: Sealer, index_id: str, blob: bytes) -> IndexFile:
        body = open_index_file(sealer, index_id, blob)
        return cls(index_id, dict(packs_in(body)), superseded_by(body))


def open_index_file(sealer: Sealer, index_id: str, blob: bytes) -> bytes:
    """An index file's msgpack body, authenticated (see `IndexFile.encode`)."""
    return sealer.open_meta(_context(index_id), blob, INDEX_PREFIX + index_id)


def superseded_by(body: bytes) -> list[str]:
    """The "supersedes" of an index file's body; its packs are skipped, not decoded."""
    unpacker = _unpacker(body)
    found: list[str] = []
    for _ in range(unpacker.read_map_header()):
        if unpacker.unpack() == "supersedes":
            found = [str(name) for name in unpacker.unpack()]
        else:
            unpacker.skip()
    return found


def packs_in(body: bytes) -> Iterator[tuple[str, list[BlobEntry]]]:
    """The packs an index file's body names, decoded one at a time: a whole file decoded at
    once made an object per entry, and held tens of MiB more than the index it fills."""
    unpacker = _unpacker(body)
    for _ in range(unpacker.read_map_header()):
        if unpacker.unpack() != "packs":
            unpacker.skip()
            continue
        for _ in range(unpacker.read_array_header()):
            pack = unpacker.unpack()
            yield pack["id"], [BlobEntry.from_list(row) for row in pack["blobs"]]


def _unpacker(body: bytes) -> msgpack.Unpacker:
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(body), 1))
    unpacker.feed(body)
    return unpacker


def _context(index_id: str) -> bytes:
    return b"index" + index_id.encode()


# How the index keeps entries: per pack, its chunk ids, kinds and numbers side by side (see
# _PackRows), and one dict from chunk id to (pack number, row) packed into an int. A vault of
# ten million chunks keeps ten million entries in memory; as BlobEntry and Location objects
# each cost about 400 bytes, this way about 170.
_ROW_BITS = 32
_ROW_MASK = (1 << _ROW_BITS) - 1
_NUMBERS = 3  # offset, length, raw length


class _PackRows(NamedTuple):
    pack_id: str
    ids: tuple[bytes, ...]
    kinds: bytes  # one byte per entry
    numbers: array[int]  # _NUMBERS per entry

    @classmethod
    def of(cls, pack_id: str, entries: list[BlobEntry]) -> _PackRows:
        if any(len(e.kind) != 1 for e in entries):
            raise ValueError("malformed blob entry")
        kinds = b"".join(e.kind for e in entries)
        try:
            numbers = array("Q", [n for e in entries for n in (e.offset, e.length, e.raw_length)])
        except OverflowError:
            raise ValueError("malformed blob entry") from None
        return cls(pack_id, tuple(e.chunk_id for e in entries), kinds, numbers)

    def entry(self, row: int) -> BlobEntry:
        at, n = row * _NUMBERS, self.numbers
        return BlobEntry(self.kinds[row : row + 1], self.ids[row], n[at], n[at + 1], n[at + 2])

    def entries(self) -> list[BlobEntry]:
        return [self.entry(row) for row in range(len(self.ids))]


class _Packs(Mapping[str, list[BlobEntry]]):
    """The index's packs and their entries, made on demand from the rows."""

    def __init__(
        self, rows: list[_PackRows], numbers: dict[str, int], only: list[str] | None = None
    ) -> None:
        self._rows = rows
        self._numbers = numbers
        self._only = only  # these packs, in this order, or all of them

    def __getitem__(self, pack_id: str) -> list[BlobEntry]:
        if self._only is not None and pack_id not in self._only:
            raise KeyError(pack_id)
        return self._rows[self._numbers[pack_id]].entries()

    def __contains__(self, pack_id: object) -> bool:
        return pack_id in self._numbers and (self._only is None or pack_id in self._only)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._numbers if self._only is None else self._only))

    def __len__(self) -> int:
        return len(self._numbers if self._only is None else self._only)


class Index:
    """The in-memory union of the live index files, safe to extend from several threads."""

    def __init__(self) -> None:
        self._chunks: dict[bytes, int] = {}  # chunk id → pack number << _ROW_BITS | row
        self._rows: list[_PackRows] = []
        self._numbers: dict[str, int] = {}  # pack id → pack number
        self.packs: Mapping[str, list[BlobEntry]] = _Packs(self._rows, self._numbers)
        self.files: list[str] = []
        self._lock = threading.Lock()

    def add_pack(self, pack_id: str, entries: Iterable[BlobEntry]) -> None:
        """Add a pack's entries; a pack already in the index keeps its first listing."""
        rows = _PackRows.of(pack_id, list(entries))
        with self._lock:
            if pack_id in self._numbers:
                return
            number = len(self._rows)
            self._rows.append(rows)  # before the ids: a reader never finds a row missing
            self._numbers[pack_id] = number
            base, setdefault = number << _ROW_BITS, self._chunks.setdefault
            for row, chunk_id in enumerate(rows.ids):
                setdefault(chunk_id, base | row)

    def packs_named(self, pack_ids: Iterable[str]) -> Mapping[str, list[BlobEntry]]:
        """A view of these packs of the index (each must have been added), their entries
        made only when asked for."""
        named = list(pack_ids)
        missing = [p for p in named if p not in self._numbers]
        if missing:
            raise KeyError(missing[0])
        return _Packs(self._rows, self._numbers, named)

    def get(self, chunk_id: bytes) -> Location | None:
        code = self._chunks.get(chunk_id)
        if code is None:
            return None
        rows = self._rows[code >> _ROW_BITS]
        return Location(rows.pack_id, rows.entry(code & _ROW_MASK))

    def __contains__(self, chunk_id: bytes) -> bool:
        return chunk_id in self._chunks

    def __len__(self) -> int:
        return len(self._chunks)


def load_index(store: BlobStore, sealer: Sealer) -> Index:
    """Read every index file, ignoring those another index file supersedes."""
    bodies = {
        info.name.removeprefix(INDEX_PREFIX): open_index_file(
            sealer, info.name.removeprefix(INDEX_PREFIX), store.get(info.name)
        )
        for info in store.list(INDEX_PREFIX)
    }
    superseded = {old for body in bodies.values() for old in superseded_by(body)}
    index = Index()
    for index_id, body in bodies.items():
        if index_id in superseded:
            continue
        index.files.append(index_id)
        for pack_id, entries in packs_in(body):
            index.add_pack(pack_id, entries)
    return index
