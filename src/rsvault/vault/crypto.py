"""Sealing chunks and metadata objects: compress, then authenticated encryption.

Chunk blob:  nonce(12) ‖ AES-256-GCM(data key, body, ad = type ‖ id),
             body = 0x01 ‖ zstd(plaintext) when smaller, else 0x00 ‖ plaintext.
Meta object: nonce(12) ‖ AES-256-GCM(meta key, zstd(payload), ad = context).
"""

from __future__ import annotations

import os
import threading

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rsvault.errors import Code, RsvaultError
from rsvault.vault.keys import VaultKeys

NONCE = 12
TAG = 16
RAW, ZSTD = 0x00, 0x01
DATA, TREE = b"D", b"T"

# zstd contexts are not thread-safe; one per thread keeps the pipeline lock-free.
_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    key = f"c{level}"
    found: zstandard.ZstdCompressor | None = getattr(_local, key, None)
    if found is None:
        found = zstandard.ZstdCompressor(level=level)
        setattr(_local, key, found)
    return found


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = getattr(_local, "d", None)
    if found is None:
        found = zstandard.ZstdDecompressor()
        _local.d = found
    return found


class Sealer:
    """Everything that needs the vault's keys to turn plaintext into stored bytes and back."""

    def __init__(self, keys: VaultKeys, compression_level: int = 3) -> None:
        self._id_key = keys.chunk_id
        self._data = AESGCM(keys.data)
        self._meta = AESGCM(keys.meta)
        self._level = compression_level
        self.cdc_seed = keys.cdc_seed

    def chunk_id(self, plaintext: bytes | memoryview) -> bytes:
        # blake3 releases the GIL on large inputs, so hashing runs in parallel threads
        return blake3.blake3(plaintext, key=self._id_key, max_threads=1).digest()

    def seal_chunk(self, kind: bytes, chunk_id: bytes, plaintext: bytes | memoryview) -> bytearray:
        packed = _compressor(self._level).compress(plaintext)
        body = bytes([ZSTD]) + packed if len(packed) < len(plaintext) else bytes([RAW]) + plaintext
        del packed  # a chunk-sized buffer: let it go before the next one is made
        # Encrypted straight behind the nonce: prepending the nonce afterwards would copy the
        # whole blob once more, and a chunk can be 4 MiB.
        nonce = os.urandom(NONCE)
        sealed = bytearray(NONCE + len(body) + TAG)
        sealed[:NONCE] = nonce
        self._data.encrypt_into(nonce, body, kind + chunk_id, memoryview(sealed)[NONCE:])
        return sealed

    def open_chunk(
        self, kind: bytes, chunk_id: bytes, blob: bytes | memoryview
    ) -> bytes | memoryview:
        """Authenticate, decompress and check the hash; any failure is VaultDataCorrupt."""
        try:
            body = self._data.decrypt(blob[:NONCE], blob[NONCE:], kind + chunk_id)
            # A view past the flag byte: `body[1:]` would copy the chunk once more (4 MiB at most)
            rest = memoryview(body)[1:]
            plain = _decompressor().decompress(rest) if body[0] == ZSTD else rest
        except (InvalidTag, zstandard.ZstdError, IndexError, ValueError) as exc:
            raise _corrupt(chunk_id, "authentication or decompression failed") from exc
        if self.chunk_id(plain) != chunk_id:
            raise _corrupt(chunk_id, "content does not match its id")
        return plain

    def seal_meta(self, context: bytes, payload: bytes | bytearray) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._meta.encrypt(
            nonce, _compressor(self._level).compress(payload), context
        )

    def open_meta(self, context: bytes, blob: bytes, name: str) -> bytes:
        try:
            packed = self._meta.decrypt(blob[:NONCE], blob[NONCE:], context)
            return _decompressor().decompress(packed)
        except (InvalidTag, zstandard.ZstdError, ValueError) as exc:
            raise RsvaultError(
                Code.VAULT_DATA_CORRUPT, object=name, reason="authentication failed"
            ) from exc


def _corrupt(chunk_id: bytes, reason: str) -> RsvaultError:
    return RsvaultError(Code.VAULT_DATA_CORRUPT, object=f"chunk {chunk_id.hex()}", reason=reason)
