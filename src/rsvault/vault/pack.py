"""Packs: many sealed chunks in one blob, with an encrypted header that lists them."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import msgpack

from rsvault.errors import Code, RsvaultError
from rsvault.vault.crypto import Sealer

MAGIC = b"RSVP"
PREAMBLE = MAGIC + b"\x01\x00\x00\x00"
_TRAILER = struct.Struct("<I4s")


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """Where one chunk lives inside a pack."""

    kind: bytes
    chunk_id: bytes
    offset: int
    length: int
    raw_length: int

    def as_list(self) -> list[object]:
        return [self.kind, self.chunk_id, self.offset, self.length, self.raw_length]

    @classmethod
    def from_list(cls, row: list[object]) -> BlobEntry:
        kind, chunk_id, offset, length, raw = row
        if not (isinstance(kind, bytes) and isinstance(chunk_id, bytes)):
            raise ValueError("malformed blob entry")
        if not (isinstance(offset, int) and isinstance(length, int) and isinstance(raw, int)):
            raise ValueError("malformed blob entry")
        return cls(kind, chunk_id, offset, length, raw)


def pack_name(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


def pack_id_from_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class PackBuilder:
    """Accumulates sealed chunks; `finish` returns the complete pack bytes."""

    def __init__(self, pack_id: str) -> None:
        self.pack_id = pack_id
        self._buffer = bytearray(PREAMBLE)
        self.entries: list[BlobEntry] = []

    @property
    def size(self) -> int:
        return len(self._buffer)

    def add(self, kind: bytes, chunk_id: bytes, sealed: bytes, raw_length: int) -> BlobEntry:
        entry = BlobEntry(kind, chunk_id, len(self._buffer), len(sealed), raw_length)
        self._buffer += sealed
        self.entries.append(entry)
        return entry

    def finish(self, sealer: Sealer) -> memoryview:
        """The whole pack; a view of the builder's buffer, so a pack is never held twice."""
        rows = [e.as_list() for e in self.entries]
        header = sealer.seal_meta(_header_context(self.pack_id), msgpack.packb(rows))
        self._buffer += header + _TRAILER.pack(len(header), MAGIC)
        return memoryview(self._buffer)


def _header_context(pack_id: str) -> bytes:
    return b"pack-header" + pack_id.encode()


def trailer_size() -> int:
    return _TRAILER.size


def header_length(tail: bytes, pack_id: str) -> int:
    """Length of the encrypted header, from the last bytes of a pack."""
    if len(tail) < _TRAILER.size:
        raise _bad(pack_id, "too short to be a pack")
    length, magic = _TRAILER.unpack(tail[-_TRAILER.size :])
    if magic != MAGIC:
        raise _bad(pack_id, "trailer magic missing")
    return int(length)


def parse_header(sealer: Sealer, pack_id: str, header: bytes) -> list[BlobEntry]:
    plain = sealer.open_meta(_header_context(pack_id), header, pack_name(pack_id))
    return [BlobEntry.from_list(row) for row in msgpack.unpackb(plain)]


def _bad(pack_id: str, reason: str) -> RsvaultError:
    return RsvaultError(Code.VAULT_DATA_CORRUPT, object=pack_name(pack_id), reason=reason)
