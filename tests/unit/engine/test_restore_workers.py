"""Restore workers: real worker processes (and the in-process path of small restores) create,
verify, write and finish files exactly as the restore promises."""

from __future__ import annotations

import os
import random
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import rsvault.engine.restorepool as restorepool
import rsvault.engine.restoreworker as restoreworker
import rsvault.engine.restorewriter as restorewriter
from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.engine.backup import FilesBackupRequest, backup_files
from rsvault.engine.progress import Progress
from rsvault.engine.restore import FilesRestoreRequest, RestoreResult, restore_files
from rsvault.errors import Code, RsvaultError
from rsvault.sources.files.target import create_temp_file
from rsvault.storage import BlobStore, FaultyStore, LocalStore, MemoryStore, StoreError
from rsvault.vault.index import Location
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.pack import pack_name
from rsvault.vault.repository import Vault

MiB = 1 << 20


@pytest.fixture(params=["processes", "in-process"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    threshold = 0 if request.param == "processes" else 1 << 40
    monkeypatch.setattr(restorewriter, "IN_PROCESS_BYTES", threshold)
    return str(request.param)


@pytest.fixture
def store() -> FaultyStore:
    return FaultyStore(MemoryStore())


@pytest.fixture(params=["bytes-sent", "pack-file-lent"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A store the parent reads spans from, and one whose pack files workers read."""
    if request.param == "bytes-sent":
        return FaultyStore(MemoryStore())
    return LocalStore(tmp_path / "vault")


def raw(store: BlobStore) -> BlobStore:
    """The store underneath any fault injection, to damage packs behind the vault's back."""
    return store.inner if isinstance(store, FaultyStore) else store


def make_tree(root: Path) -> dict[str, bytes]:
    """More directories than one batch may name, more files than one batch holds, files of
    several spans, copies, holes, empty files and odd modes."""
    rng = random.Random(11)
    shared = rng.randbytes(3 * MiB)
    files = {
        "empty": b"",
        "zeros.img": bytes(6 * MiB),
        "tail-zeros.img": rng.randbytes(5000) + bytes(12 * MiB),  # ends in a hole
        "large.bin": rng.randbytes(9 * MiB + 4321),
        "copy-a": shared,
        "copy-b": shared,
        "text.log": b"".join(b"line %d of a log\n" % i for i in range(100_000)),
    }
    for d in range(restorewriter.BATCH_DIRS + 30):
        for f in range(2):
            files[f"dirs/{d:03}/{f}.dat"] = rng.randbytes(rng.randint(1, 3000))
    files.update({f"flat/{i:03}": rng.randbytes(rng.randint(1, 900)) for i in range(300)})
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "text.log").chmod(0o640)
    (root / "large.bin").chmod(0o4755)
    os.utime(root / "copy-b", ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    return files


def backed_up(vault: Vault, source: Path) -> str:
    result = backup_files(vault, FilesBackupRequest("item", [str(source)]))
    return result.manifest.name


def restore(vault: Vault, rp: str, target: Path, **kwargs: object) -> RestoreResult:
    return restore_files(vault, FilesRestoreRequest(rp, target), **kwargs)  # type: ignore[arg-type]


def new_vault(store: BlobStore) -> Vault:
    return Vault.create(store, "pass-phrase-1", SYSTEM_CLOCK, kdf=CHEAP_KDF)


def leftovers(target: Path) -> list[str]:
    return [p.name for p in target.rglob(".rsvault-tmp-*")]


def restore_workers() -> list[int]:
    """This process's restore workers still running or not yet reaped."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid"))
        if int(ppid) == os.getpid() and b"restoreworker" in cmdline:
            found.append(int(entry.name))
    return found


def in_worker_processes(
    monkeypatch: pytest.MonkeyPatch, store: FaultyStore, tmp_path: Path
) -> tuple[Vault, str]:
    """A vault holding a backup of `make_tree`, restored through worker processes."""
    monkeypatch.setattr(restorewriter, "IN_PROCESS_BYTES", 0)
    source = tmp_path / "src"
    make_tree(source)
    vault = new_vault(store)
    return vault, backed_up(vault, source)


def test_every_file_comes_back_with_its_metadata(
    mode: str, any_store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    files = make_tree(source)
    vault = new_vault(any_store)
    rp = backed_up(vault, source)
    if isinstance(any_store, LocalStore):  # the workers read the pack files themselves
        monkeypatch.setattr(vault, "read_span", _not_expected)
    target = tmp_path / "target"
    result = restore(vault, rp, target)

    assert result.failed == {}
    assert result.stats.files == len(files)
    copy = target / source.relative_to("/")
    assert (copy / "copy-b").stat().st_atime_ns == 1_600_000_000_123_456_789  # before a read
    for name, data in files.items():
        assert (copy / name).read_bytes() == data, name
        want, got = (source / name).stat(), (copy / name).stat()
        assert stat.S_IMODE(got.st_mode) == stat.S_IMODE(want.st_mode), name
        assert got.st_mtime_ns == want.st_mtime_ns, name
    zeros = (copy / "zeros.img").stat()
    assert zeros.st_blocks * 512 < zeros.st_size  # a hole, never written
    assert leftovers(target) == []
    assert restore_workers() == []


def test_where_unnamed_files_cannot_be_made_files_go_through_temp_names(
    store: FaultyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restorewriter, "IN_PROCESS_BYTES", 1 << 40)  # this process's thread
    monkeypatch.setattr(restoreworker, "create_unnamed_file", lambda dir_fd, mode: None)
    named: list[bytes] = []

    def create_named(dir_fd: int, temp: bytes, mode: int) -> int:
        named.append(temp)
        return create_temp_file(dir_fd, temp, mode)

    monkeypatch.setattr(restoreworker, "create_temp_file", create_named)
    source = tmp_path / "src"
    files = make_tree(source)
    vault = new_vault(store)
    target = tmp_path / "target"
    result = restore(vault, backed_up(vault, source), target)

    assert result.failed == {}
    assert len(named) == len(files)
    copy = target / source.relative_to("/")
    for name, data in files.items():
        assert (copy / name).read_bytes() == data, name
    assert leftovers(target) == []


def test_workers_started_early_are_stopped_when_the_restore_fails_before_writing(
    monkeypatch: pytest.MonkeyPatch, store: FaultyStore, tmp_path: Path
) -> None:
    vault, rp = in_worker_processes(monkeypatch, store, tmp_path)
    started: list[bool] = []
    start = restorepool.WritePool.start

    def recorded(pool: restorepool.WritePool, *, in_process: bool = False) -> None:
        started.append(in_process)
        start(pool, in_process=in_process)

    monkeypatch.setattr(restorepool.WritePool, "start", recorded)
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"not a directory")
    with pytest.raises(RsvaultError) as caught:
        restore(vault, rp, blocked / "target")
    assert caught.value.code is Code.RESTORE_TARGET_NOT_WRITABLE
    assert started == [False]  # worker processes, started before the tree was read
    assert restore_workers() == []


def _not_expected(*args: object) -> bytes:
    raise AssertionError("the parent read a span a worker could have read")


def test_a_chunk_that_does_not_verify_fails_only_the_files_it_is_in(
    mode: str, any_store: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    files = make_tree(source)
    vault = new_vault(any_store)
    rp = backed_up(vault, source)
    location = first_chunk_of(vault, source / "large.bin")
    name = pack_name(location.pack_id)
    sealed = bytearray(raw(any_store).get(name))
    sealed[location.entry.offset + location.entry.length // 2] ^= 0x01
    raw(any_store).put(name, bytes(sealed))

    target = tmp_path / "target"
    result = restore(vault, rp, target)
    copy = target / source.relative_to("/")
    assert "/" + str(source.relative_to("/") / "large.bin") in result.failed
    assert not (copy / "large.bin").exists()
    assert (copy / "text.log").read_bytes() == files["text.log"]
    assert leftovers(target) == []


def first_chunk_of(vault: Vault, path: Path) -> Location:
    first = next(iter(vault.file_chunker().cut_buffer(path.read_bytes())))
    location = vault.load_index().get(vault.sealer.chunk_id(bytes(first)))
    assert location is not None
    return location


def _store_refuses(store: BlobStore, name: str) -> str:
    assert isinstance(store, FaultyStore)
    store.fail("get", StoreError, prefix=name, reason="sector not found")
    return "sector not found"


def _pack_file_gone(store: BlobStore, name: str) -> str:
    assert isinstance(store, LocalStore)
    (store.root / name).unlink()
    return name.rsplit("/", 1)[-1]  # the missing object is named


def _pack_file_cut_short(store: BlobStore, name: str) -> str:
    assert isinstance(store, LocalStore)
    os.truncate(store.root / name, 5 * MiB)  # a worker reads less than it asked for
    return "failed verification"


def still_readable(store: BlobStore, location: Location) -> bool:
    entry = location.entry
    try:
        return (
            len(store.get(pack_name(location.pack_id), entry.offset, entry.length)) == entry.length
        )
    except StoreError:
        return False


@pytest.mark.parametrize(
    ("store_kind", "damage"),
    [
        ("bytes-sent", _store_refuses),
        ("pack-file-lent", _pack_file_gone),
        ("pack-file-lent", _pack_file_cut_short),
    ],
    ids=["store-refuses", "pack-file-gone", "pack-file-cut-short"],
)
def test_a_pack_that_cannot_be_read_fails_its_files_with_the_reason(
    mode: str,
    store_kind: str,
    damage: Callable[[BlobStore, str], str],
    tmp_path: Path,
) -> None:
    store: BlobStore = FaultyStore(MemoryStore())
    if store_kind == "pack-file-lent":
        store = LocalStore(tmp_path / "vault")
    source = tmp_path / "src"
    source.mkdir()
    big = random.Random(3).randbytes(40 * MiB)  # fills packs of its own; the tree comes last
    (source / "big.bin").write_bytes(big)
    (source / "small.txt").write_bytes(b"still here")
    vault = new_vault(store)
    rp = backed_up(vault, source)
    pack = first_chunk_of(vault, source / "big.bin").pack_id
    reason = damage(store, pack_name(pack))

    target = tmp_path / "target"
    result = restore(vault, rp, target)
    copy = target / source.relative_to("/")
    assert reason in result.failed["/" + str(source.relative_to("/") / "big.bin")]
    assert not (copy / "big.bin").exists()
    # the backup reads files in parallel, so the small file may have landed in that pack too
    if still_readable(store, first_chunk_of(vault, source / "small.txt")):
        assert (copy / "small.txt").read_bytes() == b"still here"
    else:
        assert not (copy / "small.txt").exists()
    assert leftovers(target) == []


def _kill_the_workers(event: Progress) -> None:
    if event.bytes_done:
        for pid in restore_workers():
            os.kill(pid, signal.SIGKILL)


def _cancel(event: Progress) -> None:
    if event.bytes_done:
        raise RsvaultError(Code.OPERATION_CANCELLED)


@pytest.mark.parametrize(
    ("interrupt", "code"),
    [(_kill_the_workers, Code.INTERNAL_ERROR), (_cancel, Code.OPERATION_CANCELLED)],
    ids=["worker-killed", "cancelled"],
)
def test_an_interrupted_restore_fails_and_leaves_neither_files_nor_workers(
    monkeypatch: pytest.MonkeyPatch,
    store: FaultyStore,
    tmp_path: Path,
    interrupt: Callable[[Progress], None],
    code: Code,
) -> None:
    """A SIGKILLed worker is an internal error, a cancel is a cancel; after either, no
    unfinished file stays in the target and no worker process is left."""
    vault, rp = in_worker_processes(monkeypatch, store, tmp_path)
    target = tmp_path / "target"
    with pytest.raises(RsvaultError) as caught:
        restore(vault, rp, target, progress=interrupt)
    assert caught.value.code is code
    assert leftovers(target) == []
    assert restore_workers() == []


def test_a_pool_of_threads_writes_verified_chunks_without_worker_processes(
    any_store: BlobStore, tmp_path: Path
) -> None:
    """How a disk restore runs: every chunk at its offset, by threads of this process."""
    vault = new_vault(any_store)
    rng = random.Random(5)
    chunks = [rng.randbytes(rng.randint(1, 2 * MiB)) for _ in range(24)]
    writer = vault.disk_chunk_writer(vault.load_index())
    refs = [writer.store(b"D", chunk) for chunk in chunks]
    writer.flush()
    writer.close()
    index = vault.load_readable_index()
    target = tmp_path / "disk.img"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        with restorepool.WritePool(vault, 2, threads=True) as pool:
            plan, offset = restorepool.SpanPlan(), 0
            for (chunk_id, length), chunk in zip(refs, chunks, strict=True):
                location = index.get(chunk_id) if chunk_id is not None else None
                assert location is not None
                assert length == len(chunk)
                plan.add(location, 0, offset)
                offset += length
            outcomes = pool.submit(plan.batch([], [], [os.dup(fd)]))
            assert restore_workers() == []  # the workers are threads
            while pool.outstanding:
                outcomes += pool.wait()
    finally:
        os.close(fd)
    for outcome in outcomes:
        assert outcome.failed == []
        written += outcome.written
    assert written == sum(map(len, chunks))
    assert target.read_bytes() == b"".join(chunks)
