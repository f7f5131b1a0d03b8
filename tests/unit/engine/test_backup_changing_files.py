"""Files that change between the walk and the read are recorded as they were read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import rsvault.engine.backup as backup_module
from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.engine.backup import FilesBackupRequest, backup_files
from rsvault.engine.restore import FilesRestoreRequest, restore_files
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
        paths: Sequence[str], excludes: Sequence[str] = ()
    ) -> Iterator[Node | JobWarning]:
        for entry in walk(paths, excludes):
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
        paths: Sequence[str], excludes: Sequence[str] = ()
    ) -> Iterator[Node | JobWarning]:
        for entry in walk(paths, excludes):
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
