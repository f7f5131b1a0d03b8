"""Chunking: zero detection, locality of content-defined cuts, streaming = whole, size bounds."""

from __future__ import annotations

import hashlib
import io
import random
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsvault.core.units import KiB, MiB
from rsvault.vault.chunker import ContentChunker, StreamCutter, fixed_chunks, is_zero

SEED = 0x5EED_1234_ABCD
MIN, AVG, MAX = 256 * KiB, 1 * MiB, 4 * MiB  # the vault's file chunker (config defaults)


def file_chunker(seed: int = SEED) -> ContentChunker:
    return ContentChunker(MIN, AVG, MAX, seed)


@cache
def random_buffer(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def cut(chunker: ContentChunker, data: bytes) -> list[bytes]:
    return [bytes(c) for c in chunker.cut_buffer(data)]


def digests(chunks: list[bytes]) -> set[bytes]:
    return {hashlib.sha256(c).digest() for c in chunks}


# all-zero detection


@pytest.mark.parametrize("size", [0, 1, 4096, 1 * MiB, 16 * MiB, 16 * MiB + 1])
def test_zeros_are_zero(size: int) -> None:
    zeros = bytes(size)
    assert is_zero(zeros)
    assert is_zero(memoryview(zeros))


@pytest.mark.parametrize("size", [1, 4096, 1 * MiB, 16 * MiB + 1])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_nonzero_byte_is_not_zero(size: int, where: str) -> None:
    data = bytearray(size)
    data[{"first": 0, "middle": size // 2, "last": size - 1}[where]] = 0x01
    assert not is_zero(bytes(data))
    assert not is_zero(memoryview(data))


# content-defined chunking


def test_chunks_reassemble_and_respect_the_size_bounds() -> None:
    data = random_buffer(24 * MiB + 12345, 1)
    chunks = cut(file_chunker(), data)
    assert b"".join(chunks) == data
    assert len(chunks) > 5
    for chunk in chunks[:-1]:
        assert MIN <= len(chunk) <= MAX
    assert 0 < len(chunks[-1]) <= MAX


def test_runs_of_zeros_are_cut_at_the_maximum_size() -> None:
    """Zeros have no content-defined cut point: every chunk but the last is MAX long."""
    chunks = cut(file_chunker(), bytes(3 * MAX + 100))
    assert [len(c) for c in chunks] == [MAX, MAX, MAX, 100]
    assert all(is_zero(c) for c in chunks)


def test_cut_stream_agrees_with_cut_buffer() -> None:
    data = random_buffer(12 * MiB, 2)
    chunker = file_chunker()
    assert [bytes(c) for c in chunker.cut_stream(io.BytesIO(data))] == cut(chunker, data)


def test_boundaries_depend_on_the_seed() -> None:
    """Another vault cuts the same file elsewhere, so boundaries do not fingerprint it."""
    data = random_buffer(16 * MiB, 3)
    one, again, two = (cut(file_chunker(s), data) for s in (1, 1, 2))
    assert one == again
    assert [len(c) for c in one] != [len(c) for c in two]
    assert len(digests(one) & digests(two)) <= 1  # at most the tail could coincide


@pytest.mark.parametrize("seed", [0, 1, 2**63 - 1, 2**63, 2**64 - 1])
def test_every_64_bit_seed_is_usable(seed: int) -> None:
    """cdc-seed is 8 bytes from HKDF: half of all vaults have the top bit set."""
    data = random_buffer(6 * MiB, 9)
    chunks = cut(file_chunker(seed), data)
    assert b"".join(chunks) == data
    assert all(MIN <= len(c) <= MAX for c in chunks[:-1])


@settings(max_examples=25, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=2 * MiB),
    inserted=st.binary(min_size=1, max_size=64),
)
def test_an_insertion_moves_only_nearby_boundaries(position: int, inserted: bytes) -> None:
    data = random_buffer(16 * MiB, 4)
    chunker = file_chunker()
    before = cut(chunker, data)
    after = cut(chunker, data[:position] + inserted + data[position:])
    kept = digests(before) & digests(after)
    assert len(kept) >= 0.7 * len(before), (len(kept), len(before))
    assert len(before) - len(kept) <= 3
    # every chunk that starts well after the insertion is found again
    offset = 0
    for chunk in before:
        if offset > position + 2 * MAX:
            assert hashlib.sha256(chunk).digest() in kept
        offset += len(chunk)


# streaming the tree: pieces of any size cut like the whole


SMALL = ContentChunker(1 * KiB, 4 * KiB, 16 * KiB, SEED)  # tree-stream scale, shrunk


def stream_cut(cutter: StreamCutter, data: bytes, sizes: list[int]) -> list[bytes]:
    out: list[bytes] = []
    position, turn = 0, 0
    while position < len(data):
        size = sizes[turn % len(sizes)] if sizes else len(data)
        out.extend(cutter.feed(data[position : position + size]))
        position, turn = position + size, turn + 1
    out.extend(cutter.finish())
    return out


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40 * KiB), max_size=12),
    length=st.integers(min_value=0, max_value=400 * KiB),
    zero_run=st.integers(min_value=0, max_value=80 * KiB),
)
def test_stream_cutter_cuts_like_the_whole_stream(
    sizes: list[int], length: int, zero_run: int
) -> None:
    data = random_buffer(length, 5)
    data = data[: length // 2] + bytes(zero_run) + data[length // 2 :]
    whole = cut(SMALL, data) if data else []
    pieces = stream_cut(StreamCutter(SMALL, flush_at=0), data, sizes)
    assert [len(p) for p in pieces] == [len(w) for w in whole]
    assert pieces == whole


def test_stream_cutter_flushes_before_the_end() -> None:
    """Chunks come out while feeding, not only at finish (memory stays bounded)."""
    cutter = StreamCutter(SMALL, flush_at=0)
    early = list(cutter.feed(random_buffer(100 * KiB, 6)))
    assert early
    rest = list(cutter.finish())
    assert b"".join(early + rest) == random_buffer(100 * KiB, 6)
    assert list(cutter.finish()) == []


def test_stream_cutter_with_the_vault_tree_parameters() -> None:
    avg = 64 * KiB
    chunker = ContentChunker(avg // 4, avg, avg * 4, SEED)
    data = random_buffer(20 * MiB, 7)
    pieces = stream_cut(StreamCutter(chunker), data, [100, 70 * KiB, 3 * MiB, 1])
    assert pieces == cut(chunker, data)


def test_stream_cutter_holds_little_of_a_large_stream() -> None:
    avg = 64 * KiB
    chunker = ContentChunker(avg // 4, avg, avg * 4, SEED)
    cutter = StreamCutter(chunker)
    data = random_buffer(8 * MiB, 9)
    held = []
    for start in range(0, len(data), 16 * KiB):
        assert b"".join(cutter.feed(data[start : start + 16 * KiB])) is not None
        held.append(cutter.buffered)
    assert max(held) < 1 * MiB + 16 * KiB
    assert cutter.buffered > 0
    list(cutter.finish())
    assert cutter.buffered == 0


# fixed-size chunks (disk images)


def test_fixed_chunks_are_at_fixed_offsets() -> None:
    data = random_buffer(10 * KiB + 7, 8)
    chunks = list(fixed_chunks(io.BytesIO(data), 4 * KiB))
    assert [len(c) for c in chunks] == [4 * KiB, 4 * KiB, 2 * KiB + 7]
    assert b"".join(chunks) == data


def test_any_vault_seed_builds_a_chunker() -> None:
    """Half of all vaults have a seed with the top bit set; pyfastcdc rejects those unmasked."""
    from rsvault.vault.chunker import ContentChunker

    for seed in (0, 1, 2**63 - 1, 2**63, 2**64 - 1):
        chunker = ContentChunker(64 * 1024, 256 * 1024, 1024 * 1024, seed)
        assert sum(len(c) for c in chunker.cut_buffer(bytes(range(256)) * 4096)) == 256 * 4096


class _Trickle:
    """A stream that hands out its bytes in short reads of varying size."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = memoryview(data)
        self._sizes = random.Random(seed)

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), len(self._data), self._sizes.randrange(1, 3 * MiB))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


@pytest.mark.parametrize("size", [0, 1, 4 * MiB, 8 * MiB, 8 * MiB + 1, 21 * MiB + 7])
def test_cut_stream_agrees_with_cut_buffer_whatever_the_reads(size: int) -> None:
    data = random_buffer(size, 4)
    chunker = file_chunker()
    streamed = [bytes(c) for c in chunker.cut_stream(_Trickle(data, size))]
    assert streamed == cut(chunker, data)
    # The chunker's buffer is reused: a second stream is cut as if by a fresh chunker.
    again = [bytes(c) for c in chunker.cut_stream(io.BytesIO(data))]
    assert again == streamed


def test_a_cut_abandoned_halfway_loses_and_repeats_nothing() -> None:
    data = random_buffer(300 * KiB, 10)
    cutter = StreamCutter(SMALL, flush_at=0)
    taken: list[bytes] = []
    for start in range(0, len(data), 50 * KiB):
        cut_now = cutter.feed(data[start : start + 50 * KiB])
        taken.append(next(cut_now, b""))  # one chunk, if any; the rest waits for the next cut
        cut_now.close()
    taken.extend(cutter.finish())
    assert b"".join(taken) == data
    assert [len(c) for c in taken if c] == [len(c) for c in cut(SMALL, data)]
