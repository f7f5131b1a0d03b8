"""Local-directory specifics: atomicity leftovers, error translation, temp sweeping."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rsvault.storage import FileStore, LocalStore, StoreNotFoundError, StorePermissionError


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
