"""Packs and index files: what is written parses back to the same entries; supersedes."""

from __future__ import annotations

import itertools

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsvault.core.ids import random_hex_id
from rsvault.errors import Code, RsvaultError
from rsvault.storage import MemoryStore
from rsvault.vault.crypto import DATA, TREE, Sealer
from rsvault.vault.index import (
    INDEX_PREFIX,
    Index,
    IndexFile,
    load_index,
    open_index_file,
    packs_in,
    superseded_by,
)
from rsvault.vault.keys import VaultKeys, new_master_key
from rsvault.vault.pack import (
    PREAMBLE,
    BlobEntry,
    PackWriter,
    header_length,
    pack_id_from_name,
    pack_name,
    parse_header,
    trailer_size,
)

SEALER = Sealer(VaultKeys.derive(new_master_key()))  # module-wide: hypothesis reuses it

hex_ids = st.binary(min_size=32, max_size=32).map(bytes.hex)
chunk_ids = st.binary(min_size=32, max_size=32)
entries = st.builds(
    BlobEntry,
    kind=st.sampled_from([DATA, TREE]),
    chunk_id=chunk_ids,
    offset=st.integers(0, 2**40),
    length=st.integers(0, 2**32),
    raw_length=st.integers(0, 2**32),
)
chunk_payloads = st.lists(
    st.tuples(st.sampled_from([DATA, TREE]), st.binary(max_size=3000)), min_size=1, max_size=25
)


def header_of(pack_id: str, pack: bytes) -> list[BlobEntry]:
    """Parse a pack from its own bytes, as check and prune do: trailer, then header."""
    size = len(pack)
    length = header_length(pack[max(0, size - trailer_size()) :], pack_id)
    start = size - trailer_size() - length
    return parse_header(SEALER, pack_id, pack[start : start + length])


def build_pack(pack_id: str, payloads: list[tuple[bytes, bytes]]) -> tuple[PackWriter, bytes]:
    store = MemoryStore()
    builder = PackWriter(store, pack_id)
    for kind, plain in payloads:
        chunk_id = SEALER.chunk_id(plain)
        builder.add(kind, chunk_id, SEALER.seal_chunk(kind, chunk_id, plain), len(plain))
    builder.finish(SEALER)
    return builder, store.get(pack_name(pack_id))


@settings(max_examples=40, deadline=None)
@given(payloads=chunk_payloads)
def test_pack_header_parses_back_to_the_builder_entries(
    payloads: list[tuple[bytes, bytes]],
) -> None:
    pack_id = random_hex_id()
    builder, pack = build_pack(pack_id, payloads)
    assert pack.startswith(PREAMBLE)
    assert pack.endswith(b"RSVP")
    parsed = header_of(pack_id, pack)
    assert parsed == builder.entries
    for entry, (kind, plain) in zip(parsed, payloads, strict=True):
        assert entry.kind == kind
        assert entry.raw_length == len(plain)
        blob = pack[entry.offset : entry.offset + entry.length]
        assert SEALER.open_chunk(entry.kind, entry.chunk_id, blob) == plain
    # blobs are laid end to end after the preamble
    offsets = [e.offset for e in parsed]
    assert offsets[0] == len(PREAMBLE)
    assert all(a.offset + a.length == b.offset for a, b in itertools.pairwise(parsed))


def test_pack_header_is_bound_to_its_pack_id() -> None:
    pack_id = random_hex_id()
    _builder, pack = build_pack(pack_id, [(DATA, b"payload" * 100)])
    with pytest.raises(RsvaultError) as caught:
        header_of(random_hex_id(), pack)
    assert caught.value.code is Code.VAULT_DATA_CORRUPT


@pytest.mark.parametrize("damage", ["trailer magic", "too short", "header byte"])
def test_damaged_pack_is_corrupt(damage: str) -> None:
    pack_id = random_hex_id()
    _builder, pack = build_pack(pack_id, [(DATA, b"payload" * 100), (TREE, b"tree")])
    if damage == "trailer magic":
        pack = pack[:-1] + b"X"
    elif damage == "too short":
        pack = pack[:5]
    else:
        broken = bytearray(pack)
        broken[-trailer_size() - 3] ^= 0x40
        pack = bytes(broken)
    with pytest.raises(RsvaultError) as caught:
        header_of(pack_id, pack)
    assert caught.value.code is Code.VAULT_DATA_CORRUPT


def test_pack_names_fan_out_and_back() -> None:
    pack_id = random_hex_id()
    assert pack_name(pack_id) == f"data/{pack_id[:2]}/{pack_id}"
    assert pack_id_from_name(pack_name(pack_id)) == pack_id


@settings(max_examples=50, deadline=None)
@given(
    index_id=hex_ids,
    packs=st.dictionaries(hex_ids, st.lists(entries, max_size=8), max_size=6),
    supersedes=st.lists(hex_ids, max_size=4),
)
def test_index_file_round_trip(
    index_id: str, packs: dict[str, list[BlobEntry]], supersedes: list[str]
) -> None:
    blob = IndexFile(index_id, packs, supersedes).encode(SEALER)
    decoded = IndexFile.decode(SEALER, index_id, blob)
    assert decoded == IndexFile(index_id, packs, supersedes)
    body = open_index_file(SEALER, index_id, blob)  # as the index loads it: a pack at a time
    assert dict(packs_in(body)) == packs
    assert superseded_by(body) == supersedes


@settings(max_examples=30, deadline=None)
@given(
    packs=st.dictionaries(hex_ids, st.lists(entries, max_size=8), max_size=6),
    supersedes=st.lists(hex_ids, max_size=4),
)
def test_index_file_packed_a_pack_at_a_time_is_the_documented_msgpack(
    packs: dict[str, list[BlobEntry]], supersedes: list[str]
) -> None:
    index_id = random_hex_id()
    body = {
        "v": 1,
        "packs": [{"id": p, "blobs": [list(e) for e in rows]} for p, rows in packs.items()],
        "supersedes": supersedes,
    }
    blob = IndexFile(index_id, packs, supersedes).encode(SEALER)
    packed = SEALER.open_meta(b"index" + index_id.encode(), blob, "index")
    assert packed == msgpack.packb(body)


def test_an_index_file_of_some_packs_of_the_index_names_just_those() -> None:
    index = Index()
    packs = {random_hex_id(): [entry(n), entry(n + 50)] for n in range(5)}
    for pack_id, rows in packs.items():
        index.add_pack(pack_id, rows)
    first, second, _, fourth, _ = packs
    chosen = [fourth, second]
    view = index.packs_named(chosen)
    assert list(view) == chosen
    assert len(view) == 2
    assert first not in view
    with pytest.raises(KeyError):
        view[first]
    index_id = random_hex_id()
    decoded = IndexFile.decode(SEALER, index_id, IndexFile(index_id, view).encode(SEALER))
    assert decoded.packs == {p: packs[p] for p in chosen}
    with pytest.raises(KeyError):
        index.packs_named([random_hex_id()])


def test_index_file_is_bound_to_its_name() -> None:
    index_id = random_hex_id()
    blob = IndexFile(index_id, {random_hex_id(): []}).encode(SEALER)
    with pytest.raises(RsvaultError) as caught:
        IndexFile.decode(SEALER, random_hex_id(), blob)
    assert caught.value.code is Code.VAULT_DATA_CORRUPT


def entry(n: int) -> BlobEntry:
    return BlobEntry(DATA, bytes([n]) * 32, 8, 100 + n, 90 + n)


def put_index(store: MemoryStore, index_file: IndexFile) -> None:
    store.put(INDEX_PREFIX + index_file.index_id, index_file.encode(SEALER))


def test_load_index_unions_files_and_honours_supersedes() -> None:
    store = MemoryStore()
    pa, pb, pc, pd = (random_hex_id() for _ in range(4))
    old_a = IndexFile(random_hex_id(), {pa: [entry(1)], pb: [entry(2)]})
    old_b = IndexFile(random_hex_id(), {pc: [entry(3)]})
    live = IndexFile(random_hex_id(), {pb: [entry(2)]}, [old_a.index_id, old_b.index_id])
    other = IndexFile(random_hex_id(), {pd: [entry(4), entry(5)]})
    for index_file in (old_a, old_b, live, other):
        put_index(store, index_file)

    index = load_index(store, SEALER)

    assert sorted(index.files) == sorted([live.index_id, other.index_id])
    assert set(index.packs) == {pb, pd}
    assert entry(1).chunk_id not in index  # only in a superseded file
    assert entry(3).chunk_id not in index
    assert len(index) == 3
    location = index.get(entry(5).chunk_id)
    assert location is not None
    assert (location.pack_id, location.entry) == (pd, entry(5))


def test_a_crash_after_the_consolidated_write_changes_nothing() -> None:
    """Prune writes the consolidated file first; before the old ones go, readers agree."""
    store = MemoryStore()
    pa, pb = random_hex_id(), random_hex_id()
    old = [IndexFile(random_hex_id(), {pa: [entry(1)]}), IndexFile(random_hex_id(), {pb: []})]
    for index_file in old:
        put_index(store, index_file)
    before = load_index(store, SEALER)
    put_index(store, IndexFile(random_hex_id(), {pa: [entry(1)]}, [f.index_id for f in old]))
    after = load_index(store, SEALER)
    assert set(after.packs) == {pa}
    assert set(before.packs) == {pa, pb}
    assert after.get(entry(1).chunk_id) == before.get(entry(1).chunk_id)


def test_a_chunk_in_several_packs_resolves_to_one_of_them() -> None:
    store = MemoryStore()
    pa, pb = random_hex_id(), random_hex_id()
    put_index(store, IndexFile(random_hex_id(), {pa: [entry(7)]}))
    put_index(store, IndexFile(random_hex_id(), {pb: [entry(7)]}))
    index = load_index(store, SEALER)
    location = index.get(entry(7).chunk_id)
    assert location is not None
    assert location.pack_id in (pa, pb)
    assert len(index) == 1
    assert set(index.packs) == {pa, pb}


@settings(max_examples=60, deadline=None)
@given(packs=st.lists(st.tuples(hex_ids, st.lists(entries, max_size=12)), max_size=6))
def test_the_index_answers_as_a_plain_mapping_of_its_entries(
    packs: list[tuple[str, list[BlobEntry]]],
) -> None:
    """Entries are kept in compact rows; every answer is still the entry that was added."""
    index = Index()
    expected_packs: dict[str, list[BlobEntry]] = {}
    expected_chunks: dict[bytes, tuple[str, BlobEntry]] = {}
    for pack_id, listed in packs:
        index.add_pack(pack_id, listed)
        if pack_id in expected_packs:
            continue  # a pack listed twice keeps its first listing
        expected_packs[pack_id] = listed
        for e in listed:
            expected_chunks.setdefault(e.chunk_id, (pack_id, e))
    assert dict(index.packs) == expected_packs
    assert len(index) == len(expected_chunks)
    for chunk_id, (pack_id, e) in expected_chunks.items():
        location = index.get(chunk_id)
        assert location is not None
        assert (location.pack_id, location.entry) == (pack_id, e)
        assert type(location.entry) is BlobEntry


@pytest.mark.parametrize(
    "bad",
    [
        BlobEntry(b"DD", b"i" * 32, 0, 1, 1),
        BlobEntry(b"", b"i" * 32, 0, 1, 1),
        [BlobEntry(b"DD", b"i" * 32, 0, 1, 1), BlobEntry(b"", b"j" * 32, 0, 1, 1)],
        BlobEntry(DATA, b"i" * 32, -1, 1, 1),
        BlobEntry(DATA, b"i" * 32, 0, 2**64, 1),
    ],
)
def test_an_entry_the_index_cannot_hold_is_malformed(bad: BlobEntry | list[BlobEntry]) -> None:
    index = Index()
    with pytest.raises(ValueError, match="malformed blob entry"):
        index.add_pack(random_hex_id(), bad if isinstance(bad, list) else [bad])
    assert len(index) == 0
    assert not index.packs
