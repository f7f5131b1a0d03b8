"""The files cache: what the previous recovery point of an item knew about each file.

A file whose size, mtime, ctime and inode are unchanged, and whose chunks are all still in the
index, is not read again. Deriving the cache from the parent recovery point (rather than a
local file) means it can never disagree with the vault, and it survives a lost cache folder.

The parent's tree is never held in memory. Its records are in walk order (see
`sources.files.walker`), and the backup asks about files in walk order too, so the cache reads
the parent's tree alongside the walk, one tree chunk at a time, and compares the two streams
the way a merge join does. A backup of ten million files needs no more memory for its cache
than one of ten. Should the two orders ever disagree (a tree written by another walk), a file
the cache cannot find is simply read again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rsvault.engine.treecodec import XATTRS_FIELD, file_identity
from rsvault.errors import RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.vault.index import Index
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault
from rsvault.vault.tree import CHUNKS_FIELD, PATH_FIELD

_FILE = NodeType.FILE.value


def walk_order_key(path: bytes) -> bytes:
    """A key whose bytewise order is the walk's order of node paths.

    The walk is a pre-order with each directory's names sorted bytewise, which orders paths by
    their components. A separator that sorts below every byte a name can hold (names never
    contain NUL) makes plain bytes comparison agree: b"a/z" before b"a.b", b"a" before both.
    """
    return path.replace(b"/", b"\0")


class FilesCache:
    """Answers, for files met in walk order, whether the parent saw them unchanged."""

    def __init__(self, records: Iterator[dict[str, Any]] | None = None) -> None:
        self.has_parent = records is not None
        self._records: Iterator[dict[str, Any]] = iter(()) if records is None else records
        self._key = b""
        self._record: dict[str, Any] | None = None
        self._asked: Node | None = None
        self._answer: dict[str, Any] | None = None
        self._advance()

    @classmethod
    def from_parent(cls, vault: Vault, parent: Manifest | None, index: Index) -> FilesCache:
        return cls(None if parent is None else vault.read_tree(parent, index))

    def unchanged_xattrs(self, node: Node) -> dict[bytes, bytes] | None:
        """The previous extended attributes if the file is unchanged (see walker.KnownXattrs)."""
        old = self._unchanged(node)
        return None if old is None else {name: value for name, value in old.get(XATTRS_FIELD, ())}

    def unchanged_chunks(self, node: Node, index: Index) -> list[tuple[bytes | None, int]] | None:
        """The previous chunk list if the file is unchanged and its data still stored."""
        old = self._unchanged(node)
        if old is None:
            return None
        chunks = [(cid, length) for cid, length in old.get(CHUNKS_FIELD, ())]
        if any(cid is not None and cid not in index for cid, _n in chunks):
            return None  # pruned or lost since: read the file again
        return chunks

    def _unchanged(self, node: Node) -> dict[str, Any] | None:
        # Asked twice per file in a row (its extended attributes, then its chunks): the
        # second question gets the first answer.
        if node is not self._asked:
            self._asked, self._answer = node, self._judge(node)
        return self._answer

    def _judge(self, node: Node) -> dict[str, Any] | None:
        old = self._find(node.path)
        if old is None or old.get("t") != _FILE:
            return None
        if file_identity(old) != (node.size, node.mtime_ns, node.ctime_ns, node.inode):
            return None
        return old

    def _find(self, path: bytes) -> dict[str, Any] | None:
        key = walk_order_key(path)
        while self._record is not None and self._key < key:
            self._advance()
        return self._record if self._record is not None and self._key == key else None

    def _advance(self) -> None:
        try:
            record = next(self._records, None)
        except RsvaultError:
            record = None  # an unreadable parent costs reading the rest, never a failed backup
        if record is None:
            self._records, self._record = iter(()), None
        else:
            self._record, self._key = record, walk_order_key(record[PATH_FIELD])
