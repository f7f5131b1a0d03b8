"""A vault on a store: create, open with a passphrase, keys, manifests, chunk reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rsvault.core.clock import Clock
from rsvault.core.ids import random_hex_id
from rsvault.errors import Code, RsvaultError
from rsvault.storage import BlobStore, FileStore, StoreNotFoundError
from rsvault.vault import keys as keyslots
from rsvault.vault.chunker import ContentChunker, StreamCutter
from rsvault.vault.condemned import read_records, with_condemned
from rsvault.vault.config import CONFIG_NAME, VaultConfig
from rsvault.vault.crypto import TREE, Sealer
from rsvault.vault.index import Index, load_index
from rsvault.vault.keys import KdfParams, VaultKeys
from rsvault.vault.lease import Lease, LeaseKind
from rsvault.vault.manifest import MANIFEST_PREFIX, Manifest
from rsvault.vault.pack import (
    BlobEntry,
    header_length,
    pack_name,
    parse_header,
    trailer_size,
)
from rsvault.vault.storeerrors import translated
from rsvault.vault.tree import decode_records, record_encoder
from rsvault.vault.writer import ChunkRef, ChunkWriter

KEYS_PREFIX = "keys/"


@dataclass(frozen=True)
class KeySlotInfo:
    slot_id: str
    label: str
    created: str


class Vault:
    """An open vault: its config, its keys (in memory only) and its store."""

    def __init__(self, store: BlobStore, config: VaultConfig, master: bytes, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._master = master
        keys = VaultKeys.derive(master)
        self._keys = keys
        self.sealer = Sealer(keys, config.compression_level)
        self._disk_sealer = Sealer(keys, config.disk_compression_level)

    # lifecycle

    @classmethod
    def create(
        cls, store: BlobStore, passphrase: str, clock: Clock, kdf: KdfParams | None = None
    ) -> Vault:
        keyslots.check_passphrase_strength(passphrase)
        with translated(store):
            if _exists(store, CONFIG_NAME):
                raise RsvaultError(Code.VAULT_ALREADY_EXISTS, name=store.location)
            config = VaultConfig(random_hex_id(), clock.now().isoformat())
            vault = cls(store, config, keyslots.new_master_key(), clock)
            vault.add_passphrase(passphrase, kdf=kdf, label="created with the vault")
            store.put(CONFIG_NAME, config.encode())  # last: a vault exists once config does
        return vault

    @classmethod
    def open(cls, store: BlobStore, passphrase: str, clock: Clock) -> Vault:
        config = read_config(store)
        with translated(store):
            for info in store.list(KEYS_PREFIX):
                master = keyslots.unwrap_master_key(
                    store.get(info.name), passphrase, config.vault_id
                )
                if master is not None:
                    return cls(store, config, master, clock)
        raise RsvaultError(Code.PASSPHRASE_INCORRECT, name=store.location)

    # passphrases

    def add_passphrase(
        self, passphrase: str, *, kdf: KdfParams | None = None, label: str = ""
    ) -> str:
        keyslots.check_passphrase_strength(passphrase)
        slot_id = random_hex_id()[:16]
        blob = keyslots.wrap_master_key(
            self._master,
            passphrase,
            self.config.vault_id,
            kdf or KdfParams(),
            self.clock.now().isoformat(),
            label,
        )
        with translated(self.store):
            self.store.put(KEYS_PREFIX + slot_id, blob)
        return slot_id

    def key_slots(self) -> list[KeySlotInfo]:
        with translated(self.store):
            infos = list(self.store.list(KEYS_PREFIX))
            return [
                KeySlotInfo(
                    i.name.removeprefix(KEYS_PREFIX), *keyslots.slot_label(self.store.get(i.name))
                )
                for i in infos
            ]

    def remove_key_slot(self, slot_id: str) -> None:
        slots = {s.slot_id for s in self.key_slots()}
        if slot_id not in slots:
            raise RsvaultError(Code.KEY_SLOT_NOT_FOUND, slot=slot_id)
        if len(slots) == 1:
            raise RsvaultError(Code.KEY_SLOT_LAST)
        with translated(self.store):
            self.store.delete(KEYS_PREFIX + slot_id)

    def slot_for(self, passphrase: str) -> str | None:
        """The slot this passphrase opens, if any."""
        with translated(self.store):
            for info in self.store.list(KEYS_PREFIX):
                blob = self.store.get(info.name)
                if keyslots.unwrap_master_key(blob, passphrase, self.config.vault_id):
                    return info.name.removeprefix(KEYS_PREFIX)
        return None

    # leases, index, writing

    def lease(self, kind: LeaseKind, purpose: str) -> Lease:
        with translated(self.store):
            return Lease(self.store, self.clock, kind, purpose).acquire()

    def load_index(self) -> Index:
        """The index to deduplicate against: live packs only."""
        with translated(self.store):
            return load_index(self.store, self.sealer)

    def load_readable_index(self) -> Index:
        """The index to read through: live packs plus condemned packs not yet swept."""
        return self.readable(self.load_index())

    def readable(self, index: Index) -> Index:
        """`index` plus the condemned packs not yet swept (still in the store)."""
        with translated(self.store):
            return with_condemned(index, read_records(self.store, self.sealer))

    def chunk_writer(self, index: Index) -> ChunkWriter:
        return ChunkWriter(self.store, self.sealer, index, self.config.pack_target)

    def disk_chunk_writer(self, index: Index) -> ChunkWriter:
        """A writer for disk images: the same format, a faster compression level."""
        return ChunkWriter(self.store, self._disk_sealer, index, self.config.pack_target)

    def subkeys(self) -> VaultKeys:
        """The derived keys (never the master key), for worker processes that cut and seal
        chunks on this vault's behalf."""
        return self._keys

    def file_chunker(self) -> ContentChunker:
        c = self.config
        return ContentChunker(c.cdc_min, c.cdc_avg, c.cdc_max, self.sealer.cdc_seed)

    def write_tree(
        self, writer: ChunkWriter, records: Iterable[dict[str, object]]
    ) -> list[ChunkRef]:
        avg = self.config.tree_cdc_avg
        cutter = StreamCutter(ContentChunker(avg // 4, avg, avg * 4, self.sealer.cdc_seed))
        encode = record_encoder()
        refs: list[ChunkRef] = []
        for record in records:
            refs.extend(writer.store(TREE, piece) for piece in cutter.feed(encode(record)))
        refs.extend(writer.store(TREE, piece) for piece in cutter.finish())
        return refs

    # manifests

    def write_manifest(self, manifest: Manifest, lease: Lease) -> None:
        lease.ensure_held()  # a manifest written after losing the lease could point at pruned data
        with translated(self.store):
            self.store.put(MANIFEST_PREFIX + manifest.name, manifest.encode(self.sealer))

    def manifest_names(self) -> list[str]:
        with translated(self.store):
            return sorted(
                i.name.removeprefix(MANIFEST_PREFIX) for i in self.store.list(MANIFEST_PREFIX)
            )

    def read_manifest(self, name: str) -> Manifest:
        try:
            with translated(self.store):
                blob = self.store.get(MANIFEST_PREFIX + name)
        except RsvaultError as exc:
            if exc.code is Code.STORE_OBJECT_MISSING:
                raise RsvaultError(Code.RECOVERY_POINT_NOT_FOUND, name=name) from exc
            raise
        return Manifest.decode(self.sealer, name, blob)

    def delete_manifest(self, name: str) -> None:
        with translated(self.store):
            self.store.delete(MANIFEST_PREFIX + name)

    def read_tree(self, manifest: Manifest, index: Index) -> Iterator[dict[str, Any]]:
        pieces = (self.read_chunk(index, TREE, cid) for cid, _n in manifest.tree if cid)
        return decode_records(pieces)

    # reading

    def read_chunk(self, index: Index, kind: bytes, chunk_id: bytes) -> bytes | memoryview:
        location = index.get(chunk_id)
        if location is None:
            raise RsvaultError(
                Code.VAULT_DATA_CORRUPT, object=f"chunk {chunk_id.hex()}", reason="not in the index"
            )
        entry = location.entry
        with translated(self.store):
            blob = self.store.get(pack_name(location.pack_id), entry.offset, entry.length)
        return self.sealer.open_chunk(kind, chunk_id, blob)

    def read_span(self, pack_id: str, start: int, end: int) -> bytes:
        with translated(self.store):
            return self.store.get(pack_name(pack_id), start, end - start)

    @property
    def lends_pack_files(self) -> bool:
        """Whether the store keeps packs as local files, for `open_pack` (else `read_span`)."""
        return isinstance(self.store, FileStore)

    def open_pack(self, pack_id: str) -> int:
        """A read-only descriptor on the pack's file, for the caller to close; only where
        `lends_pack_files`."""
        if not isinstance(self.store, FileStore):
            raise TypeError(f"{type(self.store).__name__} does not keep packs as files")
        with translated(self.store):
            return self.store.open_file(pack_name(pack_id))

    def pack_header(self, pack_id: str, size: int) -> list[BlobEntry]:
        """The entries a pack lists in its own encrypted header (read from its tail)."""
        tail = self.read_span(pack_id, max(0, size - trailer_size()), size)
        start = size - trailer_size() - header_length(tail, pack_id)
        return parse_header(
            self.sealer, pack_id, self.read_span(pack_id, start, size - trailer_size())
        )

    def open_blob(self, entry: BlobEntry, blob: bytes | memoryview) -> bytes | memoryview:
        return self.sealer.open_chunk(entry.kind, entry.chunk_id, blob)


def read_config(store: BlobStore) -> VaultConfig:
    with translated(store):
        try:
            raw = store.get(CONFIG_NAME)
        except StoreNotFoundError as exc:
            raise RsvaultError(
                Code.VAULT_LOCATION_UNUSABLE,
                location=store.location,
                reason="no rsvault vault here (config missing)",
            ) from exc
    return VaultConfig.decode(raw)


def _exists(store: BlobStore, name: str) -> bool:
    try:
        store.stat(name)
    except StoreNotFoundError:
        return False
    return True
