"""The metadata prefetch reads what the walk will read, in its order, and never outlives it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rsvault.sources.files import prefetch as module
from rsvault.sources.files.excludes import ExcludeMatcher
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.prefetch import prefetch, start_prefetch
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


def test_a_prefetch_thread_lists_the_tree_and_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path)
    listed = listed_directories(monkeypatch)
    thread = start_prefetch([os.fsencode(tmp_path)], ["**/cache"])
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert thread.daemon  # never keeps a worker from exiting
    assert os.fsencode(tmp_path / "b" / "deep" / "er") in listed
    assert os.fsencode(tmp_path / "cache") not in listed
