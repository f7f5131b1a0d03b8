"""Cutting byte streams into chunks: content-defined for files, fixed-size for disk images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from pyfastcdc import FastCDC

_ZEROS = bytes(16 * 1024 * 1024)
# Streams are read in blocks of this size, after the chunk carried over from the last block.
# (pyfastcdc's own stream chunker zero-fills an 8 MiB buffer for every stream, under the GIL:
# for thousands of files that cost more than cutting them.)
_READ_BLOCK = 1024 * 1024
_SEED_MASK = (1 << 63) - 1


def is_zero(data: bytes | memoryview) -> bool:
    """True for an all-zero chunk, which is recorded but never stored."""
    n = len(data)
    if n <= len(_ZEROS):
        return data == memoryview(_ZEROS)[:n]
    return bytes(data).count(0) == n


class ReadsInto(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class ContentChunker:
    """FastCDC 2020 with a per-vault seed, so boundaries do not fingerprint known files."""

    def __init__(self, min_size: int, avg_size: int, max_size: int, seed: int) -> None:
        # pyfastcdc's Cython FastCDC computes `seed << 1` as a Python int and stores it in a
        # uint64, so a seed with its top bit set (half of all vaults) raises OverflowError.
        # Use 63 bits: seeds below 2**63, the only ones that ever worked, are unchanged.
        seed &= _SEED_MASK
        self._cdc = FastCDC(avg_size, min_size=min_size, max_size=max_size, seed=seed or 1)
        self.min_size = min_size
        self.max_size = max_size
        self._buffer: memoryview | None = None

    def cut_stream(self, stream: ReadsInto) -> Iterator[memoryview]:
        """Chunks of `stream`, as views of one buffer this chunker reuses: a view is valid
        only until the next chunk is asked for, so copy what must outlive it. The stream is
        read in blocks and the unfinished last chunk of each is moved to the front of the
        buffer for the next, so the cut points are those of the whole stream."""
        buffer = self._stream_buffer()
        carry = 0
        while True:
            end = _fill(stream, buffer, carry)
            if end == 0:
                return
            chunks = [c.data for c in self._cdc.cut_buf(buffer[:end])]
            if end < len(buffer):  # end of stream: the last chunk is final
                yield from chunks
                return
            last = chunks.pop()
            yield from chunks
            carry = len(last)
            buffer[:carry] = last  # a memmove within the buffer, overlapping or not

    def _stream_buffer(self) -> memoryview:
        # One buffer for the chunker's life: a block per stream would be a fresh mapping for
        # every large file, zero-filled by the kernel, and two would be alive at each switch.
        if self._buffer is None:
            self._buffer = memoryview(bytearray(self.max_size + _READ_BLOCK))
        return self._buffer

    @property
    def holds_buffer(self) -> bool:
        return self._buffer is not None

    def drop_buffer(self) -> None:
        """Let the stream buffer go (an idle worker's memory); the next stream makes another.
        Views of it handed out before stay valid: they keep it alive."""
        self._buffer = None

    def cut_buffer(self, data: bytes | bytearray | memoryview) -> Iterator[memoryview]:
        for chunk in self._cdc.cut_buf(data):
            yield chunk.data


class StreamCutter:
    """Content-defined chunks of a stream that arrives in pieces (a tree being serialised).

    The last chunk of each buffer is carried into the next one, so the cut points are exactly
    those of cutting the whole stream at once, whatever the sizes of the pieces. The buffer
    is cut once it holds `flush_at` bytes (at least two largest chunks, so every cut yields
    one), and each chunk is copied out only when asked for: a backup's tree costs about
    `flush_at` plus one chunk of memory, however large it is.
    """

    def __init__(self, chunker: ContentChunker, flush_at: int = 1024 * 1024) -> None:
        self._chunker = chunker
        self._buffer = bytearray()
        self._flush_at = max(flush_at, 2 * chunker.max_size)

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        if len(self._buffer) >= self._flush_at:
            yield from self._cut(final=False)

    def finish(self) -> Iterator[bytes]:
        yield from self._cut(final=True)

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet cut into chunks."""
        return len(self._buffer)

    def _cut(self, *, final: bool) -> Iterator[bytes]:
        lengths = [len(c) for c in self._chunker.cut_buffer(self._buffer)]
        if not final and lengths:
            lengths.pop()  # it may end only because the buffer does: cut it again later
        start = 0
        try:
            for length in lengths:
                chunk = bytes(memoryview(self._buffer)[start : start + length])
                start += length  # handed over: a caller that stops now has it
                yield chunk
        finally:  # a caller that stops early gets the rest from the next cut, not twice
            del self._buffer[:start]


def _fill(stream: ReadsInto, view: memoryview, start: int) -> int:
    """Read into `view[start:]` until it is full or the stream ends; the filled length."""
    end = start
    while end < len(view):
        got = stream.readinto(view[end:])
        if not got:
            break
        end += got
    return end


def fixed_chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Fixed-size chunks at fixed offsets (disk images: a dirty extent maps to its chunks)."""
    while block := stream.read(size):
        yield block
