"""Key slots: create/open, wrong and weak passphrases, several slots, change without rewrite."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from rsvault.core.clock import ManualClock
from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, MemoryStore
from rsvault.vault.config import CONFIG_NAME
from rsvault.vault.crypto import DATA
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.repository import KEYS_PREFIX, Vault

PASSPHRASE = "pass-phrase-1"
OTHER = "another-passphrase-2"

Blobs = Callable[..., dict[str, bytes]]


def open_vault(store: BlobStore, passphrase: str, clock: ManualClock) -> Vault:
    return Vault.open(store, passphrase, clock)


def write_some_data(vault: Vault) -> list[tuple[bytes | None, int]]:
    writer = vault.chunk_writer(vault.load_index())
    try:
        refs = [writer.store(DATA, f"chunk {i} ".encode() * 500) for i in range(5)]
        writer.flush()
    finally:
        writer.close()
    return refs


def test_create_then_open_with_the_right_passphrase(
    vault: Vault, store: MemoryStore, clock: ManualClock
) -> None:
    refs = write_some_data(vault)
    reopened = open_vault(store, PASSPHRASE, clock)
    assert reopened.config == vault.config
    index = reopened.load_index()
    for i, (chunk_id, _n) in enumerate(refs):
        assert chunk_id is not None
        assert reopened.read_chunk(index, DATA, chunk_id) == f"chunk {i} ".encode() * 500
    assert [s.label for s in reopened.key_slots()] == ["created with the vault"]


def test_wrong_passphrase_is_refused_and_writes_nothing(
    vault: Vault, store: MemoryStore, clock: ManualClock, blobs: Blobs
) -> None:
    write_some_data(vault)
    before = blobs(store)
    with pytest.raises(RsvaultError) as caught:
        open_vault(store, "not-the-passphrase", clock)
    assert caught.value.code is Code.PASSPHRASE_INCORRECT
    assert blobs(store) == before


@pytest.mark.parametrize("weak", ["", "short", "1234567"])
def test_too_short_passphrase_is_refused_at_create(clock: ManualClock, weak: str) -> None:
    store = MemoryStore()
    with pytest.raises(RsvaultError) as caught:
        Vault.create(store, weak, clock, kdf=CHEAP_KDF)
    assert caught.value.code is Code.PASSPHRASE_TOO_WEAK
    assert list(store.list()) == []


def test_eight_characters_is_enough(clock: ManualClock) -> None:
    Vault.create(MemoryStore(), "12345678", clock, kdf=CHEAP_KDF)


def test_too_short_passphrase_is_refused_when_added(vault: Vault, blobs: Blobs) -> None:
    before = blobs(vault.store)
    with pytest.raises(RsvaultError) as caught:
        vault.add_passphrase("tiny", kdf=CHEAP_KDF)
    assert caught.value.code is Code.PASSPHRASE_TOO_WEAK
    assert blobs(vault.store) == before


def test_second_passphrase_opens_the_same_vault(
    vault: Vault, store: MemoryStore, clock: ManualClock
) -> None:
    refs = write_some_data(vault)
    slot = vault.add_passphrase(OTHER, kdf=CHEAP_KDF, label="second")
    assert len(vault.key_slots()) == 2
    assert vault.slot_for(OTHER) == slot
    assert vault.slot_for(PASSPHRASE) not in (None, slot)
    for passphrase in (PASSPHRASE, OTHER):
        opened = open_vault(store, passphrase, clock)
        chunk_id = refs[0][0]
        assert chunk_id is not None
        assert opened.read_chunk(opened.load_index(), DATA, chunk_id) == b"chunk 0 " * 500


def test_change_passphrase_adds_then_removes_and_rewrites_no_data(
    vault: Vault, store: MemoryStore, clock: ManualClock, blobs: Blobs
) -> None:
    refs = write_some_data(vault)
    data_before = {p: blobs(store, p) for p in ("data/", "index/", "manifests/", CONFIG_NAME)}
    assert data_before["data/"]

    old = vault.slot_for(PASSPHRASE)
    assert old is not None
    new = vault.add_passphrase(OTHER, kdf=CHEAP_KDF, label="changed passphrase")
    vault.remove_key_slot(old)

    assert [s.slot_id for s in vault.key_slots()] == [new]
    with pytest.raises(RsvaultError) as caught:
        open_vault(store, PASSPHRASE, clock)
    assert caught.value.code is Code.PASSPHRASE_INCORRECT
    assert {p: blobs(store, p) for p in data_before} == data_before
    opened = open_vault(store, OTHER, clock)
    index = opened.load_index()
    for i, (chunk_id, _n) in enumerate(refs):
        assert chunk_id is not None
        assert opened.read_chunk(index, DATA, chunk_id) == f"chunk {i} ".encode() * 500


def test_removing_the_last_slot_is_refused(vault: Vault, blobs: Blobs) -> None:
    (only,) = vault.key_slots()
    before = blobs(vault.store)
    with pytest.raises(RsvaultError) as caught:
        vault.remove_key_slot(only.slot_id)
    assert caught.value.code is Code.KEY_SLOT_LAST
    assert blobs(vault.store) == before


def test_removing_down_to_one_slot_then_refusing_the_last(vault: Vault) -> None:
    second = vault.add_passphrase(OTHER, kdf=CHEAP_KDF)
    first = next(s.slot_id for s in vault.key_slots() if s.slot_id != second)
    vault.remove_key_slot(first)
    with pytest.raises(RsvaultError) as caught:
        vault.remove_key_slot(second)
    assert caught.value.code is Code.KEY_SLOT_LAST


def test_removing_an_unknown_slot(vault: Vault) -> None:
    vault.add_passphrase(OTHER, kdf=CHEAP_KDF)
    with pytest.raises(RsvaultError) as caught:
        vault.remove_key_slot("0123456789abcdef")
    assert caught.value.code is Code.KEY_SLOT_NOT_FOUND
    assert len(vault.key_slots()) == 2


def test_opening_a_store_without_config(clock: ManualClock) -> None:
    store = MemoryStore()
    store.put("data/ab/abcd", b"something else lives here")
    with pytest.raises(RsvaultError) as caught:
        open_vault(store, PASSPHRASE, clock)
    assert caught.value.code is Code.VAULT_LOCATION_UNUSABLE


def test_config_of_an_unknown_version_is_refused(
    vault: Vault, store: MemoryStore, clock: ManualClock
) -> None:
    fields = json.loads(store.get(CONFIG_NAME))
    fields["version"] = 99
    store.put(CONFIG_NAME, json.dumps(fields).encode())
    with pytest.raises(RsvaultError) as caught:
        open_vault(store, PASSPHRASE, clock)
    assert caught.value.code is Code.VAULT_FORMAT_UNSUPPORTED
    assert caught.value.params["version"] == 99


def test_config_that_is_not_json_is_corrupt(store: MemoryStore, clock: ManualClock) -> None:
    store.put(CONFIG_NAME, b"\x00not json")
    with pytest.raises(RsvaultError) as caught:
        open_vault(store, PASSPHRASE, clock)
    assert caught.value.code is Code.VAULT_DATA_CORRUPT


def test_creating_twice_is_refused_and_writes_nothing(
    vault: Vault, store: MemoryStore, clock: ManualClock, blobs: Blobs
) -> None:
    before = blobs(store)
    with pytest.raises(RsvaultError) as caught:
        Vault.create(store, OTHER, clock, kdf=CHEAP_KDF)
    assert caught.value.code is Code.VAULT_ALREADY_EXISTS
    assert blobs(store) == before
    assert open_vault(store, PASSPHRASE, clock).config.vault_id == vault.config.vault_id


def test_a_slot_from_another_vault_does_not_open_this_one(
    vault: Vault, store: MemoryStore, clock: ManualClock
) -> None:
    """The slot's associated data binds it to its vault id: copying it across fails."""
    elsewhere = MemoryStore()
    Vault.create(elsewhere, OTHER, clock, kdf=CHEAP_KDF)
    (foreign,) = list(elsewhere.list(KEYS_PREFIX))
    store.put(foreign.name, elsewhere.get(foreign.name))
    with pytest.raises(RsvaultError) as caught:
        open_vault(store, OTHER, clock)
    assert caught.value.code is Code.PASSPHRASE_INCORRECT


def test_slot_holds_no_plain_master_key_and_records_its_kdf(vault: Vault) -> None:
    (info,) = list(vault.store.list(KEYS_PREFIX))
    slot = json.loads(vault.store.get(info.name))
    assert slot["kdf"] == "argon2id"
    assert (slot["time_cost"], slot["memory_kib"], slot["parallelism"]) == (1, 8, 1)
    assert len(bytes.fromhex(slot["wrapped"])) == 32 + 16  # key + GCM tag
    assert len(bytes.fromhex(slot["salt"])) == 16
