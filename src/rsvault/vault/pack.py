"""Packs: many sealed chunks in one blob, with an encrypted header that lists them."""

from __future__ import annotations

import struct
from typing import NamedTuple

import msgpack

from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, BlobUpload
from rsvault.vault.crypto import Sealer

MAGIC = b"RSVP"
PREAMBLE = MAGIC + b"\x01\x00\x00\x00"
_TRAILER = struct.Struct("<I4s")


class BlobEntry(NamedTuple):
    """Where one chunk lives inside a pack. A tuple: an index holds one for every chunk of the
    vault and loading it builds them all, which costs a third of a frozen dataclass's time."""

    kind: bytes
    chunk_id: bytes
    offset: int
    length: int
    raw_length: int

    def as_list(self) -> list[object]:
        return list(self)

    @classmethod
    def from_list(cls, row: list[object]) -> BlobEntry:
        if len(row) != 5:
            raise ValueError("malformed blob entry")
        kind, chunk_id, offset, length, raw = row
        if type(kind) is not bytes or type(chunk_id) is not bytes:
            raise ValueError("malformed blob entry")
        if type(offset) is not int or type(length) is not int or type(raw) is not int:
            raise ValueError("malformed blob entry")
        return cls(kind, chunk_id, offset, length, raw)


def pack_name(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


def pack_id_from_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class PackWriter:
    """A pack written to the store as its chunks arrive, so no pack is ever held in memory.

    The store sees nothing until `finish` commits the whole pack at once. Not thread-safe:
    the caller serialises `add`.
    """

    def __init__(self, store: BlobStore, pack_id: str) -> None:
        self.pack_id = pack_id
        self._store = store
        self._upload: BlobUpload | None = None  # opened by the first chunk
        self.size = len(PREAMBLE)
        self.entries: list[BlobEntry] = []

    def add(
        self, kind: bytes, chunk_id: bytes, sealed: bytes | bytearray | memoryview, raw_length: int
    ) -> BlobEntry:
        if self._upload is None:
            self._upload = self._store.open_upload(pack_name(self.pack_id))
            self._upload.write(PREAMBLE)
        entry = BlobEntry(kind, chunk_id, self.size, len(sealed), raw_length)
        self._upload.write(sealed)
        self.size += len(sealed)
        self.entries.append(entry)
        return entry

    def finish(self, sealer: Sealer) -> None:
        """Append the header and trailer and commit: when this returns, the pack is durable."""
        if self._upload is None:
            return  # no chunk: no pack
        rows = [e.as_list() for e in self.entries]
        header = sealer.seal_meta(_header_context(self.pack_id), msgpack.packb(rows))
        self._upload.write(header + _TRAILER.pack(len(header), MAGIC))
        self._upload.commit()

    def abort(self) -> None:
        if self._upload is not None:
            self._upload.abort()


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
