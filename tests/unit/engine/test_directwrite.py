"""Direct writes of restored contents: every byte lands where it belongs, the aligned middles
bypass the page cache, and a file system or a write that refuses them loses nothing."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rsvault.engine.directwrite import ALIGN, MIN_SIZE, DirectWrites

MiB = 1 << 20
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


@pytest.fixture
def writes() -> Iterator[DirectWrites]:
    direct_writes = DirectWrites()
    yield direct_writes
    direct_writes.close()


@pytest.fixture
def new_file(tmp_path: Path) -> Iterator[Callable[[], int]]:
    fds: list[int] = []

    def create() -> int:
        fds.append(os.open(tmp_path / f"f{len(fds)}", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        return fds[-1]

    yield create
    for fd in fds:
        os.close(fd)


def _cut(data: bytes, seed: int) -> list[tuple[int, bytes]]:
    """`data` cut at unaligned places into pieces of a few bytes to 2.5 MiB, shuffled."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(data):
        length = rng.choice([rng.randrange(1, ALIGN), rng.randrange(ALIGN, 5 * MiB // 2)])
        pieces.append((at, data[at : at + length]))
        at += length
    rng.shuffle(pieces)
    return pieces


def _resident_pages(fd: int, size: int) -> int:
    """How many pages of the file's first `size` bytes are in the page cache."""
    pages = -(-size // mmap.PAGESIZE)
    address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
    try:
        vector = (ctypes.c_ubyte * pages)()
        assert _libc.mincore(address, size, vector) == 0, os.strerror(ctypes.get_errno())
        return sum(byte & 1 for byte in vector)
    finally:
        _libc.munmap(address, size)


def _bypasses_page_cache(path: Path) -> bool:
    # tmpfs takes direct writes, but it is the page cache
    kind = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return kind.stdout.strip() not in ("tmpfs", "ramfs")


def test_every_piece_lands_where_it_belongs_and_the_middles_bypass_the_page_cache(
    writes: DirectWrites, new_file: Callable[[], int], tmp_path: Path
) -> None:
    data = random.Random(1).randbytes(6 * MiB + 1234)
    fd = new_file()
    direct = writes.open(fd, len(data))
    assert direct is not None
    assert os.fstat(fd).st_size == len(data)  # sized up front
    pieces = _cut(data, seed=2)
    for offset, piece in pieces:
        writes.write(fd, direct, piece, offset)
    writes.flush()
    os.close(direct)
    if _bypasses_page_cache(tmp_path):  # only partial blocks, at the ends of pieces, are cached
        assert _resident_pages(fd, len(data)) <= 2 * len(pieces) < len(data) // ALIGN // 4
    assert os.pread(fd, len(data) + 1, 0) == data
    assert len(pieces) > 8


def test_partial_blocks_go_through_the_page_cache(
    writes: DirectWrites, new_file: Callable[[], int], tmp_path: Path
) -> None:
    if not _bypasses_page_cache(tmp_path):
        pytest.skip("the temporary folder is in memory")
    data = random.Random(3).randbytes(3 * MiB)
    fd = new_file()
    direct = writes.open(fd, len(data))
    assert direct is not None
    writes.write(fd, direct, data[100 : 2 * MiB + 7], 100)  # partial first and last block
    writes.flush()
    os.close(direct)
    assert _resident_pages(fd, len(data)) == 2  # the two partial blocks, nothing else
    assert os.pread(fd, 2 * MiB + 7, 0) == bytes(100) + data[100 : 2 * MiB + 7]


def test_what_is_never_written_stays_a_hole(
    writes: DirectWrites, new_file: Callable[[], int]
) -> None:
    data = random.Random(4).randbytes(MiB)
    fd = new_file()
    direct = writes.open(fd, 16 * MiB)
    assert direct is not None
    writes.write(fd, direct, data, 5 * MiB + 3)
    writes.flush()
    os.close(direct)
    os.fsync(fd)
    assert os.fstat(fd).st_size == 16 * MiB
    assert os.fstat(fd).st_blocks * 512 < 2 * MiB
    assert os.pread(fd, MiB + 6, 5 * MiB) == bytes(3) + data + bytes(3)


def test_a_small_file_is_written_through_the_page_cache(
    writes: DirectWrites, new_file: Callable[[], int]
) -> None:
    fd = new_file()
    assert writes.open(fd, MIN_SIZE - 1) is None
    assert os.fstat(fd).st_size == 0  # nothing done to it


def test_a_file_system_without_direct_writes_is_asked_once(
    writes: DirectWrites, new_file: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open
    asked = []

    def no_direct(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_DIRECT:
            asked.append(path)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", no_direct)
    assert writes.open(new_file(), MiB) is None
    assert writes.open(new_file(), MiB) is None
    assert len(asked) == 1


def test_a_refused_direct_write_goes_through_the_page_cache(
    writes: DirectWrites, new_file: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random.Random(5).randbytes(4 * MiB + 10)
    fd = new_file()
    direct = writes.open(fd, len(data))
    assert direct is not None
    real_pwrite = os.pwrite
    refused = []

    def refuse_direct(target: int, buffer: bytes | memoryview, offset: int) -> int:
        if target == direct:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(target, buffer, offset)

    monkeypatch.setattr(os, "pwrite", refuse_direct)
    for offset, piece in _cut(data, seed=6):
        writes.write(fd, direct, piece, offset)
    writes.flush()
    os.close(direct)
    assert os.pread(fd, len(data), 0) == data
    assert len(refused) == 1  # and none tried after it


def test_a_failed_direct_write_is_raised_when_flushed(
    writes: DirectWrites, new_file: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    fd = new_file()
    direct = writes.open(fd, 2 * MiB)
    assert direct is not None
    real_pwrite = os.pwrite

    def full(target: int, buffer: bytes | memoryview, offset: int) -> int:
        if target == direct:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(target, buffer, offset)

    monkeypatch.setattr(os, "pwrite", full)
    writes.write(fd, direct, bytes(2 * MiB), 0)
    with pytest.raises(OSError, match="No space left") as caught:
        writes.flush()
    assert caught.value.errno == errno.ENOSPC
    writes.drain()
    os.close(direct)
