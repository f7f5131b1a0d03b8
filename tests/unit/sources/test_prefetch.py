"""The metadata prefetch reads what the walk will read, in its order, and never outlives it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rsvault.sources.files import prefetch as module
from rsvault.sources.files.excludes import ExcludeMatcher
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.prefetch import metadata_prefetch, prefetch
from rsvault.sources.files.walker import walk


def make_tree(root: Path) -> None:
    for directory in ("b/deep/er", "a", "a.b", "cache/x", "z"):
        (root / directory).mkdir(parents=True)
    for name in ("a/1", "b/deep/er/2", "cache/x/3", "z/4", "top"):
        (root / name).write_bytes(b"x")
    (root / "link-to-b").symlink_to(root / "b")


def listed_directories(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    listed: list[bytes] = []
    real = os.listdir

    def recording(path: bytes) -> list[bytes]:
        listed.append(path)
        return real(path)

    monkeypatch.setattr(module.os, "listdir", recording)
    return listed


def test_directories_are_listed_in_the_walks_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path)
    walked = [
        os.fsencode(os.path.join("/", n.path.decode()))
        for n in walk([str(tmp_path)])
        if isinstance(n, Node) and n.type is NodeType.DIR
    ]
    listed = listed_directories(monkeypatch)  # os.listdir; the walk's own listing came before
    prefetch([os.fsencode(tmp_path)], ExcludeMatcher([]))
    root = os.fsencode(tmp_path)
    assert listed == [d for d in walked if d == root or d.startswith(root + b"/")]
    assert os.fsencode(tmp_path / "link-to-b") not in listed  # symlinks are not followed


def test_excluded_directories_are_not_entered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path)
    listed = listed_directories(monkeypatch)
    prefetch([os.fsencode(tmp_path)], ExcludeMatcher(["**/cache"]))
    assert os.fsencode(tmp_path / "cache") not in listed
    assert os.fsencode(tmp_path / "z") in listed


def test_a_missing_or_unlistable_root_is_left_to_the_walk(tmp_path: Path) -> None:
    prefetch([os.fsencode(tmp_path / "gone"), os.fsencode(tmp_path / "top")], ExcludeMatcher([]))


def test_the_process_is_gone_when_the_backup_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path)
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def recording(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process = real(*args, **kwargs)  # type: ignore[call-overload]
        started.append(process)
        return process

    monkeypatch.setattr(module.subprocess, "Popen", recording)
    with pytest.raises(RuntimeError), metadata_prefetch([str(tmp_path)], ["**/cache"]):
        raise RuntimeError("the backup failed")
    (process,) = started
    assert process.returncode is not None
    assert process.args[-2:] == ["--", str(tmp_path)]  # type: ignore[index]


def test_a_prefetch_that_cannot_start_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(module.subprocess, "Popen", refuse)
    with metadata_prefetch(["/"]):
        ran = True
    assert ran


def test_the_command_line_prefetches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path)
    listed = listed_directories(monkeypatch)
    module.main(["--exclude", "**/cache", "--", str(tmp_path)])
    assert os.fsencode(tmp_path / "b" / "deep" / "er") in listed
    assert os.fsencode(tmp_path / "cache") not in listed
