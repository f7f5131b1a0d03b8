"""The files cache reads the parent's tree alongside the walk, never all of it at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rsvault.engine.filecache import FilesCache, walk_order_key
from rsvault.engine.treecodec import node_to_record
from rsvault.errors import Code, RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.walker import walk
from rsvault.vault.index import BlobEntry, Index

KNOWN = b"k" * 32
GONE = b"g" * 32


def file_node(path: bytes, size: int = 5, mtime: int = 1, **more: Any) -> Node:
    node = Node(path, NodeType.FILE, 0o644, 0, 0, mtime, size=size, inode=len(path), **more)
    node.chunks = [(KNOWN, size)]
    return node


def an_index() -> Index:
    index = Index()
    index.add_pack("p" * 64, [BlobEntry(b"D", KNOWN, 0, 10, 5)])
    return index


class Counting:
    """The parent's records, counting how many were pulled."""

    def __init__(self, records: list[dict[str, Any]], fail_after: int | None = None) -> None:
        self.records = records
        self.pulled = 0
        self.fail_after = fail_after

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record in self.records:
            if self.pulled == self.fail_after:
                raise RsvaultError(Code.VAULT_DATA_CORRUPT, object="tree", reason="test")
            self.pulled += 1
            yield record


def test_walk_order_key_sorts_as_the_walk_visits(tmp_path: Path) -> None:
    names = [b"a", b"a b", b"a.b", b"a-", b"a\x01", b"\xff", b"b", b"ab", b"a0"]
    for name in names:
        directory = os.path.join(os.fsencode(tmp_path), name)
        os.mkdir(directory)
        for inner in (b"z", b"a.b", b"a"):
            Path(os.fsdecode(os.path.join(directory, inner))).write_bytes(b"x")
    paths = [n.path for n in walk([str(tmp_path)]) if isinstance(n, Node)]
    keys = [walk_order_key(p) for p in paths]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_unchanged_files_are_found_in_walk_order() -> None:
    parent = [file_node(b"a/f"), file_node(b"a/g"), file_node(b"a.b/h"), file_node(b"b")]
    records = Counting([node_to_record(n) for n in parent])
    cache = FilesCache(iter(records))
    index = an_index()
    assert cache.has_parent
    assert cache.unchanged_chunks(file_node(b"a/f"), index) == [(KNOWN, 5)]
    assert cache.unchanged_chunks(file_node(b"a/g", size=6), index) is None  # changed
    assert cache.unchanged_chunks(file_node(b"a/new"), index) is None  # not in the parent
    assert cache.unchanged_chunks(file_node(b"a.b/h"), index) == [(KNOWN, 5)]
    assert records.pulled == 3  # up to the last file asked about, never the whole tree
    assert cache.unchanged_chunks(file_node(b"c"), index) is None
    assert records.pulled == 4


def test_a_file_asked_twice_is_answered_twice() -> None:
    """The walk asks for a file's xattrs, then the backup for its chunks."""
    node = file_node(b"d/f", xattrs={b"user.a": b"1"})
    cache = FilesCache(iter([node_to_record(node)]))
    assert cache.unchanged_xattrs(file_node(b"d/f")) == {b"user.a": b"1"}
    assert cache.unchanged_chunks(file_node(b"d/f"), an_index()) == [(KNOWN, 5)]


def test_only_files_match_and_pruned_chunks_are_read_again() -> None:
    directory = Node(b"d", NodeType.DIR, 0o755, 0, 0, 1, inode=1)
    pruned = file_node(b"d/p")
    pruned.chunks = [(GONE, 5)]
    cache = FilesCache(iter([node_to_record(directory), node_to_record(pruned)]))
    index = an_index()
    as_file = file_node(b"d", size=0, mtime=1)
    as_file.inode = 1
    assert cache.unchanged_chunks(as_file, index) is None
    assert cache.unchanged_chunks(file_node(b"d/p"), index) is None


def test_an_unreadable_parent_costs_reading_the_rest() -> None:
    parent = [file_node(b"a"), file_node(b"b"), file_node(b"c")]
    cache = FilesCache(iter(Counting([node_to_record(n) for n in parent], fail_after=2)))
    index = an_index()
    assert cache.unchanged_chunks(file_node(b"a"), index) == [(KNOWN, 5)]
    assert cache.unchanged_chunks(file_node(b"b"), index) == [(KNOWN, 5)]
    assert cache.unchanged_chunks(file_node(b"c"), index) is None


def test_no_parent_knows_nothing() -> None:
    cache = FilesCache()
    assert not cache.has_parent
    assert cache.unchanged_xattrs(file_node(b"a")) is None
