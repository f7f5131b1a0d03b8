"""Sealed chunks and metadata: round trips, and every kind of tampering is VaultDataCorrupt."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, MemoryStore
from rsvault.vault.crypto import DATA, NONCE, RAW, TAG, TREE, ZSTD, Sealer
from rsvault.vault.keys import VaultKeys, new_master_key
from rsvault.vault.repository import Vault

COMPRESSIBLE = b"the same sentence again and again. " * 4000
INCOMPRESSIBLE = os.urandom(64 * 1024)


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(VaultKeys.derive(new_master_key()))


def assert_corrupt(open_it: Callable[[], object]) -> None:
    with pytest.raises(RsvaultError) as caught:
        open_it()
    assert caught.value.code is Code.VAULT_DATA_CORRUPT


def body_flag(sealer: Sealer, kind: bytes, chunk_id: bytes, sealed: bytes) -> int:
    """The first byte of the decrypted body: 0x01 zstd, 0x00 raw."""
    aead = sealer._data  # the test peeks at the format, it does not rely on the API for it
    return aead.decrypt(sealed[:NONCE], sealed[NONCE:], kind + chunk_id)[0]


@pytest.mark.parametrize("kind", [DATA, TREE])
def test_compressible_chunk_round_trips_and_shrinks(sealer: Sealer, kind: bytes) -> None:
    chunk_id = sealer.chunk_id(COMPRESSIBLE)
    sealed = sealer.seal_chunk(kind, chunk_id, COMPRESSIBLE)
    assert len(sealed) < len(COMPRESSIBLE) // 10
    assert body_flag(sealer, kind, chunk_id, sealed) == ZSTD
    assert sealer.open_chunk(kind, chunk_id, sealed) == COMPRESSIBLE


def test_incompressible_chunk_is_stored_raw(sealer: Sealer) -> None:
    chunk_id = sealer.chunk_id(INCOMPRESSIBLE)
    sealed = sealer.seal_chunk(DATA, chunk_id, INCOMPRESSIBLE)
    assert len(sealed) == NONCE + 1 + len(INCOMPRESSIBLE) + TAG
    assert body_flag(sealer, DATA, chunk_id, sealed) == RAW
    assert sealer.open_chunk(DATA, chunk_id, memoryview(sealed)) == INCOMPRESSIBLE


def test_empty_chunk_round_trips(sealer: Sealer) -> None:
    chunk_id = sealer.chunk_id(b"")
    assert sealer.open_chunk(DATA, chunk_id, sealer.seal_chunk(DATA, chunk_id, b"")) == b""


def test_sealing_twice_gives_different_bytes(sealer: Sealer) -> None:
    chunk_id = sealer.chunk_id(INCOMPRESSIBLE)
    assert sealer.seal_chunk(DATA, chunk_id, INCOMPRESSIBLE) != sealer.seal_chunk(
        DATA, chunk_id, INCOMPRESSIBLE
    )


@pytest.mark.parametrize("plaintext", [b"short and raw 0123456789", b"z" * 300])
def test_flipping_any_byte_is_detected(sealer: Sealer, plaintext: bytes) -> None:
    chunk_id = sealer.chunk_id(plaintext)
    sealed = sealer.seal_chunk(DATA, chunk_id, plaintext)
    for position in range(len(sealed)):
        for mask in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[position] ^= mask
            assert_corrupt(lambda t=bytes(tampered): sealer.open_chunk(DATA, chunk_id, t))


@pytest.mark.parametrize("cut", [0, 1, NONCE, NONCE + TAG - 1, -1])
def test_truncated_chunk_is_detected(sealer: Sealer, cut: int) -> None:
    chunk_id = sealer.chunk_id(COMPRESSIBLE)
    sealed = sealer.seal_chunk(DATA, chunk_id, COMPRESSIBLE)
    assert_corrupt(lambda: sealer.open_chunk(DATA, chunk_id, sealed[:cut]))


def test_chunk_opened_under_another_id_is_detected(sealer: Sealer) -> None:
    chunk_id = sealer.chunk_id(COMPRESSIBLE)
    other_id = sealer.chunk_id(INCOMPRESSIBLE)
    sealed = sealer.seal_chunk(DATA, chunk_id, COMPRESSIBLE)
    assert_corrupt(lambda: sealer.open_chunk(DATA, other_id, sealed))


def test_chunk_opened_as_another_type_is_detected(sealer: Sealer) -> None:
    chunk_id = sealer.chunk_id(COMPRESSIBLE)
    sealed = sealer.seal_chunk(DATA, chunk_id, COMPRESSIBLE)
    assert_corrupt(lambda: sealer.open_chunk(TREE, chunk_id, sealed))


def test_content_that_does_not_hash_to_its_id_is_detected(sealer: Sealer) -> None:
    """Authentic bytes sealed under a wrong id (a buggy writer): the hash check catches it."""
    wrong_id = sealer.chunk_id(b"something else")
    sealed = sealer.seal_chunk(DATA, wrong_id, COMPRESSIBLE)
    with pytest.raises(RsvaultError) as caught:
        sealer.open_chunk(DATA, wrong_id, sealed)
    assert caught.value.code is Code.VAULT_DATA_CORRUPT
    assert "does not match" in str(caught.value.params["reason"])


def test_chunk_from_another_vault_does_not_open(sealer: Sealer) -> None:
    other = Sealer(VaultKeys.derive(new_master_key()))
    chunk_id = other.chunk_id(COMPRESSIBLE)
    sealed = other.seal_chunk(DATA, chunk_id, COMPRESSIBLE)
    assert_corrupt(lambda: sealer.open_chunk(DATA, chunk_id, sealed))


def test_chunk_ids_are_keyed_per_vault(make_vault: Callable[[BlobStore], Vault]) -> None:
    one, two = make_vault(MemoryStore()), make_vault(MemoryStore())
    assert one.sealer.chunk_id(COMPRESSIBLE) == one.sealer.chunk_id(bytearray(COMPRESSIBLE))
    assert one.sealer.chunk_id(COMPRESSIBLE) != two.sealer.chunk_id(COMPRESSIBLE)
    assert len(one.sealer.chunk_id(COMPRESSIBLE)) == 32
    assert one.sealer.cdc_seed != two.sealer.cdc_seed


def test_chunk_id_is_a_keyed_hash_not_a_plain_one(sealer: Sealer) -> None:
    import hashlib

    import blake3

    plain = blake3.blake3(COMPRESSIBLE).digest()
    assert sealer.chunk_id(COMPRESSIBLE) not in (plain, hashlib.sha256(COMPRESSIBLE).digest())


def test_meta_round_trip_and_context_binding(sealer: Sealer) -> None:
    payload = b"index body " * 1000
    sealed = sealer.seal_meta(b"index" + b"a" * 64, payload)
    assert sealer.open_meta(b"index" + b"a" * 64, sealed, "index/a") == payload
    assert_corrupt(lambda: sealer.open_meta(b"index" + b"b" * 64, sealed, "index/b"))
    tampered = bytearray(sealed)
    tampered[-1] ^= 0x01
    assert_corrupt(lambda: sealer.open_meta(b"index" + b"a" * 64, bytes(tampered), "index/a"))


def test_meta_and_data_keys_differ(sealer: Sealer) -> None:
    """A chunk blob cannot be passed off as metadata, or the other way round."""
    chunk_id = sealer.chunk_id(COMPRESSIBLE)
    sealed = sealer.seal_chunk(DATA, chunk_id, COMPRESSIBLE)
    assert_corrupt(lambda: sealer.open_meta(DATA + chunk_id, sealed, "x"))
    meta = sealer.seal_meta(DATA + chunk_id, COMPRESSIBLE)
    assert_corrupt(lambda: sealer.open_chunk(DATA, chunk_id, meta))
