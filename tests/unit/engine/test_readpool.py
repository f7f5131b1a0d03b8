"""The read pool: real worker processes cut, hash and seal files exactly as the vault would."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import rsvault.engine.readpool as readpool
from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.engine.progress import Progress, ProgressCounter, ignore_progress
from rsvault.engine.readpool import FileResult, ReadPool, worker_setup
from rsvault.engine.readworker import PART_BYTES, Setup
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.storage import FaultyStore, MemoryStore, StoreFullError
from rsvault.vault.crypto import DATA
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.repository import Vault
from rsvault.vault.writer import ChunkRef, ChunkWriter

MiB = 1 << 20


@pytest.fixture
def vault() -> Vault:
    return Vault.create(MemoryStore(), "pass-phrase-1", SYSTEM_CLOCK, kdf=CHEAP_KDF)


def expected_refs(vault: Vault, path: Path) -> list[ChunkRef]:
    """What the vault's own chunker and ids make of the file, in this process."""
    data = path.read_bytes()
    if len(data) < vault.config.cdc_min:
        pieces: list[bytes] = [data] if data else []
    else:
        pieces = [bytes(c) for c in vault.file_chunker().cut_buffer(data)]
    return [(None if not any(p) else vault.sealer.chunk_id(p), len(p)) for p in pieces]


def make_tree(root: Path) -> list[Path]:
    rng = random.Random(5)
    root.mkdir()
    shared = rng.randbytes(3 * MiB)
    files = {
        "empty": b"",
        "tiny": b"hello",
        "small.bin": rng.randbytes(200_000),
        "zeros.img": bytes(5 * MiB),
        "large.bin": rng.randbytes(2 * PART_BYTES + 12345),  # spans several parts
        "copy-a": shared,
        "copy-b": shared,  # the same chunks again: stored once
        "text.log": b"".join(b"line %d of a log\n" % i for i in range(200_000)),
    }
    files.update({f"many/{i:03}": rng.randbytes(rng.randint(1, 5000)) for i in range(150)})
    (root / "many").mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    return sorted(root / name for name in files)


def size_of(path: Path) -> int:
    return path.lstat().st_size if path.exists() else 0


def read_all(pool: ReadPool, paths: list[Path]) -> list[FileResult]:
    futures = [pool.read_later(size_of(p), os.fsencode(p)) for p in paths]
    pool.send_batch()
    return [f.result(timeout=60) for f in futures]


def run_pool(
    vault: Vault, paths: list[Path], workers: int = 2, sink: object = ignore_progress
) -> tuple[list[FileResult], ChunkWriter]:
    writer = vault.chunk_writer(vault.load_index())
    pool = ReadPool(worker_setup(vault), writer, ProgressCounter(sink, "backup"), workers)  # type: ignore[arg-type]
    try:
        results = read_all(pool, paths)
        pool.finish()
        writer.flush()
    except BaseException:
        pool.abort()
        raise
    finally:
        writer.close()
    return results, writer


def test_workers_produce_the_vaults_own_chunks_and_store_each_once(
    vault: Vault, tmp_path: Path
) -> None:
    paths = make_tree(tmp_path / "src")
    results, writer = run_pool(vault, paths)

    assert results == [expected_refs(vault, p) for p in paths]
    index = vault.load_index()
    referenced = {cid for refs in results for cid, _n in refs if cid}  # type: ignore[union-attr]
    assert all(cid in index for cid in referenced)
    assert writer.stats.chunks_new == len(referenced)
    assert writer.stats.chunks_deduplicated > 0  # copy-b, and zeros never count as stored
    for path, refs in zip(paths, results, strict=True):
        assert isinstance(refs, list)
        data = b"".join(
            bytes(n) if cid is None else vault.read_chunk(index, DATA, cid) for cid, n in refs
        )
        assert data == path.read_bytes()


def test_chunks_larger_than_a_part_travel_alone(vault: Vault, tmp_path: Path) -> None:
    vault.config = dataclasses.replace(vault.config, cdc_min=MiB, cdc_avg=4 * MiB, cdc_max=8 * MiB)
    rng = random.Random(8)
    root = tmp_path / "src"
    root.mkdir()
    for name, size in [("a-tiny", 10), ("b-large", 19 * MiB), ("c-small", 5000)]:
        (root / name).write_bytes(rng.randbytes(size))
    (root / "d-large").write_bytes((root / "b-large").read_bytes()[: 9 * MiB] + b"x")
    paths = sorted(root.iterdir())
    results, _writer = run_pool(vault, paths, workers=1)
    assert results == [expected_refs(vault, p) for p in paths]
    sizes = [n for refs in results for _cid, n in refs]  # type: ignore[union-attr]
    assert max(sizes) > PART_BYTES
    index = vault.load_index()
    for path, refs in zip(paths, results, strict=True):
        chunks = [vault.read_chunk(index, DATA, cid) for cid, _n in refs]  # type: ignore[arg-type, union-attr]
        assert b"".join(chunks) == path.read_bytes()


def test_the_first_worker_alone_prefetches_the_metadata(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = make_tree(tmp_path / "src")
    setups: list[Setup] = []
    send = readpool._Worker.send

    def recording(worker: readpool._Worker, header: Any) -> None:
        if header[0] == "setup":
            setups.append(header[1])
        send(worker, header)

    monkeypatch.setattr(readpool._Worker, "send", recording)
    writer = vault.chunk_writer(vault.load_index())
    roots = ([os.fsencode(tmp_path / "src")], ["**/many"])
    pool = ReadPool(worker_setup(vault), writer, ProgressCounter(ignore_progress, "b"), 2, roots)
    try:
        pool.start()  # before any task
        assert [s.prefetch for s in setups] == [roots, None]
        assert read_all(pool, paths) == [expected_refs(vault, p) for p in paths]
        pool.finish()
    finally:
        pool.abort()
        writer.close()


def test_one_worker_is_enough(vault: Vault, tmp_path: Path) -> None:
    paths = make_tree(tmp_path / "src")
    results, _writer = run_pool(vault, paths, workers=1)
    assert results == [expected_refs(vault, p) for p in paths]


def test_files_that_cannot_be_read_are_warnings(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    kept = root / "kept"
    kept.write_bytes(b"still here")
    vanished = root / "vanished"
    swapped = root / "swapped"  # a symlink where the walk saw a file: never followed
    swapped.symlink_to(kept)
    directory = root / "dir"  # a directory where the walk saw a file
    directory.mkdir()
    results, _writer = run_pool(vault, [kept, vanished, swapped, directory])

    assert results[0] == expected_refs(vault, kept)
    codes = [r.code for r in results[1:] if isinstance(r, JobWarning)]
    assert codes == [Code.FILE_VANISHED, Code.FILE_VANISHED, Code.FILE_READ_ERROR]


def test_a_full_store_fails_every_waiting_file_and_finish(vault: Vault, tmp_path: Path) -> None:
    paths = make_tree(tmp_path / "src")
    faulty = FaultyStore(vault.store)
    faulty.fail("write", StoreFullError, prefix="data/", after=3, reason="No space left")
    writer = ChunkWriter(faulty, vault.sealer, vault.load_index(), 1 << 30)
    pool = ReadPool(worker_setup(vault), writer, ProgressCounter(ignore_progress, "b"), 2)
    try:
        futures = [pool.read_later(p.stat().st_size, os.fsencode(p)) for p in paths]
        with pytest.raises(RsvaultError) as caught:
            pool.finish()
        assert caught.value.code is Code.NOT_ENOUGH_SPACE
        assert all(f.done() for f in futures)
    finally:
        pool.abort()
        writer.close()
    assert list(vault.store.list("data/")) == []


def test_a_cancel_from_the_progress_sink_reaches_the_backup(vault: Vault, tmp_path: Path) -> None:
    paths = make_tree(tmp_path / "src")

    def cancelling(event: Progress) -> None:
        if event.bytes_done:
            raise RsvaultError(Code.OPERATION_CANCELLED)

    with pytest.raises(RsvaultError) as caught:
        run_pool(vault, paths, sink=cancelling)
    assert caught.value.code is Code.OPERATION_CANCELLED


def test_a_worker_that_dies_fails_the_backup_instead_of_hanging(
    vault: Vault, tmp_path: Path
) -> None:
    paths = make_tree(tmp_path / "src")
    writer = vault.chunk_writer(vault.load_index())
    pool = ReadPool(worker_setup(vault), writer, ProgressCounter(ignore_progress, "b"), 2)
    try:
        futures = [pool.read_later(p.stat().st_size, os.fsencode(p)) for p in paths[:3]]
        pool.send_batch()
        for pid in worker_pids(pool):
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(RsvaultError) as caught:
            read_all(pool, paths[3:])
        assert caught.value.code is Code.INTERNAL_ERROR
        assert all_settled(futures)
    finally:
        pool.abort()
        writer.close()


def test_abort_leaves_no_worker_behind(vault: Vault, tmp_path: Path) -> None:
    paths = make_tree(tmp_path / "src")
    writer = vault.chunk_writer(vault.load_index())
    pool = ReadPool(worker_setup(vault), writer, ProgressCounter(ignore_progress, "b"), 2)
    for p in paths:
        pool.read_later(p.stat().st_size, os.fsencode(p))
    pool.send_batch()
    pids = worker_pids(pool)
    assert len(pids) == 2
    pool.abort()
    writer.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: not a zombie, not running


def worker_pids(pool: ReadPool) -> list[int]:
    return [w.process.pid for w in pool._workers]


def all_settled(futures: list[Future[FileResult]]) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(f.done() for f in futures):
            return True
        time.sleep(0.05)
    return False


def test_finish_wakes_the_collector_instead_of_waiting_for_its_poll(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workers' sockets close as they exit: that, not a timeout, ends the collector.
    monkeypatch.setattr(readpool, "_POLL_SECONDS", 3600.0)
    paths = make_tree(tmp_path / "src")
    writer = vault.chunk_writer(vault.load_index())
    pool = ReadPool(worker_setup(vault), writer, ProgressCounter(ignore_progress, "b"), 2)
    read_all(pool, paths)
    pids = worker_pids(pool)
    deadline = time.monotonic() + 30
    while pool._unsealed and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # every part stored: the collector is back waiting in select
    failures: list[BaseException] = []

    def finish() -> None:
        try:
            pool.finish()
        except BaseException as exc:
            failures.append(exc)

    finishing = threading.Thread(target=finish, daemon=True)
    finishing.start()
    finishing.join(timeout=60)
    stuck = finishing.is_alive()
    if stuck:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)  # their sockets close: that frees the collector
        finishing.join(timeout=60)
    writer.close()
    assert not stuck
    assert failures == []
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
