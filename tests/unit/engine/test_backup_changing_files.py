"""Files that change between the walk and the read are recorded as they were read."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import rsvault.engine.backup as backup_module
from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.engine.backup import FilesBackupRequest, backup_files
from rsvault.engine.restore import FilesRestoreRequest, restore_files
from rsvault.engine.treecodec import record_to_node
from rsvault.errors import Code, JobWarning
from rsvault.sources.files.node import Node
from rsvault.sources.files.walker import walk
from rsvault.storage import MemoryStore
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.repository import Vault


def _vault() -> Vault:
    return Vault.create(MemoryStore(), "pass-phrase-1", SYSTEM_CLOCK, kdf=CHEAP_KDF)


def test_a_file_that_grew_after_the_walk_restores_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    grown = source / "log.txt"
    grown.write_bytes(b"x" * 300_000)

    def stale_walk(
        paths: Sequence[str], excludes: Sequence[str] = (), **options: Any
    ) -> Iterator[Node | JobWarning]:
        for entry in walk(paths, excludes, **options):
            if isinstance(entry, Node) and entry.path.endswith(b"log.txt"):
                entry.size = 10  # what stat said before the writer appended
            yield entry

    monkeypatch.setattr(backup_module, "walk", stale_walk)
    vault = _vault()
    result = backup_files(vault, FilesBackupRequest("item", [str(source)]))
    assert result.stats.bytes_total == 300_000

    target = tmp_path / "target"
    restore_files(vault, FilesRestoreRequest(result.manifest.name, target))
    assert (target / grown.relative_to("/")).read_bytes() == b"x" * 300_000


def test_a_file_that_vanished_is_a_warning_and_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "kept.txt").write_text("kept")
    gone = source / "gone.txt"
    gone.write_text("gone")

    def vanishing_walk(
        paths: Sequence[str], excludes: Sequence[str] = (), **options: Any
    ) -> Iterator[Node | JobWarning]:
        for entry in walk(paths, excludes, **options):
            if isinstance(entry, Node) and entry.path.endswith(b"gone.txt"):
                gone.unlink()  # deleted between the walk and the read
            yield entry

    monkeypatch.setattr(backup_module, "walk", vanishing_walk)
    vault = _vault()
    result = backup_files(vault, FilesBackupRequest("item", [str(source)]))
    assert [w.code for w in result.warnings] == [Code.FILE_VANISHED]
    assert result.stats.files == 1

    target = tmp_path / "target"
    restore_files(vault, FilesRestoreRequest(result.manifest.name, target))
    restored = target / source.relative_to("/")
    assert sorted(p.name for p in restored.iterdir()) == ["kept.txt"]


def _xattrs_in_point(vault: Vault, name: str, path: Path) -> dict[bytes, bytes]:
    records = vault.read_tree(vault.read_manifest(name), vault.load_readable_index())
    wanted = bytes(path)[1:]
    return next(record_to_node(r) for r in records if r["p"] == wanted).xattrs


def test_extended_attributes_of_unchanged_files_are_taken_from_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing attributes is a third of an unchanged walk's time; a file whose ctime is the
    same has the same attributes (setting one changes the ctime), so they are not listed."""
    source = tmp_path / "src"
    source.mkdir()
    tagged = source / "tagged.txt"
    tagged.write_text("data")
    try:
        os.setxattr(tagged, "user.colour", b"blue")
    except OSError as exc:
        pytest.skip(f"no user xattrs here: {exc}")
    vault = _vault()
    request = FilesBackupRequest("item", [str(source)])
    first = backup_files(vault, request).manifest.name

    listed: list[bytes] = []
    real_listxattr = os.listxattr

    def counting_listxattr(path: bytes, *, follow_symlinks: bool = True) -> list[str]:
        listed.append(path)
        return real_listxattr(path, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(os, "listxattr", counting_listxattr)
    second = backup_files(vault, request).manifest.name
    assert bytes(tagged) not in listed  # the directories were listed, the file was not
    assert bytes(source) in listed
    assert _xattrs_in_point(vault, second, tagged) == {b"user.colour": b"blue"}

    os.setxattr(tagged, "user.colour", b"red")  # same size and mtime, a new ctime
    third = backup_files(vault, request).manifest.name
    assert bytes(tagged) in listed
    assert _xattrs_in_point(vault, third, tagged) == {b"user.colour": b"red"}
    assert _xattrs_in_point(vault, first, tagged) == {b"user.colour": b"blue"}
