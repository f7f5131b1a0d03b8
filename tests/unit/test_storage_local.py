"""Local-directory specifics: atomicity leftovers, error translation, temp sweeping."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rsvault.core.openfiles import OpenFiles
from rsvault.storage import (
    FileStore,
    LocalStore,
    StoreNotFoundError,
    StorePermissionError,
    local,
)


def test_put_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data/aa/x", b"123")
    assert sorted(p.name for p in (tmp_path / "data/aa").iterdir()) == ["x"]


def test_an_upload_writes_beside_the_blob_and_leaves_nothing_when_aborted(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    upload = store.open_upload("data/aa/y")
    upload.write(b"part of a pack")
    [temporary] = (tmp_path / "data/aa").iterdir()
    assert temporary.name.startswith("tmp~y.")
    upload.abort()
    assert list((tmp_path / "data/aa").iterdir()) == []
    upload = store.open_upload("data/aa/y")
    upload.write(b"a whole pack")
    upload.commit()
    assert sorted(p.name for p in (tmp_path / "data/aa").iterdir()) == ["y"]


def test_a_blob_lent_as_a_descriptor_reads_as_the_blob(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data/aa/x", b"a whole pack")
    assert isinstance(store, FileStore)
    fd = store.open_file("data/aa/x")
    try:
        store.put("data/aa/x", b"replaced")  # the descriptor keeps what it was opened on
        assert os.pread(fd, 100, 2) == b"whole pack"
    finally:
        os.close(fd)
    with pytest.raises(StoreNotFoundError):
        store.open_file("data/aa/missing")


def test_a_ranged_read_is_of_its_own_blob_while_other_threads_evict_handles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between taking a cached descriptor and reading it, another thread may close it and
    open another blob under the same number: the read must still be of the first blob."""
    store = LocalStore(tmp_path)
    monkeypatch.setattr(store, "_handles", OpenFiles(1))
    store.put("a", b"A" * 100)
    store.put("b", b"B" * 100)
    real_pread = local.os.pread
    interleaved: list[bytes] = []

    def pread_after_another_read(fd: int, length: int, offset: int) -> bytes:
        if not interleaved:  # as another thread would: evict "a", open "b"
            interleaved.append(b"")
            interleaved[0] = store.get("b", 0, 10)
        return real_pread(fd, length, offset)

    monkeypatch.setattr(local.os, "pread", pread_after_another_read)
    assert store.get("a", 0, 10) == b"A" * 10
    assert interleaved == [b"B" * 10]


def test_temporaries_are_not_listed_and_are_swept(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data/aa/x", b"123")
    leftover = tmp_path / "data/aa/tmp~x.dead"
    leftover.write_bytes(b"half a pack")
    old = datetime.now(UTC) - timedelta(hours=2)
    os.utime(leftover, (old.timestamp(), old.timestamp()))
    assert [i.name for i in store.list("data/")] == ["data/aa/x"]
    assert store.sweep_temporaries(timedelta(hours=1), datetime.now(UTC)) == 1
    assert not leftover.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_root_is_a_permission_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StorePermissionError):
            LocalStore(tmp_path).put("a", b"x")
    finally:
        tmp_path.chmod(0o700)


def test_free_space_is_reported(tmp_path: Path) -> None:
    free = LocalStore(tmp_path).free_space()
    assert free is not None
    assert free > 0
