"""The files cache: what the previous recovery point of an item knew about each file.

A file whose size, mtime, ctime and inode are unchanged, and whose chunks are all still in the
index, is not read again. Deriving the cache from the parent recovery point (rather than a
local file) means it can never disagree with the vault, and it survives a lost cache folder.
"""

from __future__ import annotations

from typing import Any

from rsvault.engine.treecodec import XATTRS_FIELD, file_identity
from rsvault.errors import RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.vault.index import Index
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault
from rsvault.vault.tree import CHUNKS_FIELD, PATH_FIELD

# (size, mtime_ns, ctime_ns, inode) → chunk list and extended attributes as stored; tuples,
# not Nodes: a cache of a million files must not cost a million objects with a dozen fields.
_Entry = tuple[tuple[int, int, int, int], list[Any], list[Any]]


class FilesCache:
    def __init__(self, entries: dict[bytes, _Entry] | None = None) -> None:
        self._entries = entries or {}

    @classmethod
    def from_parent(cls, vault: Vault, parent: Manifest | None, index: Index) -> FilesCache:
        if parent is None:
            return cls()
        entries: dict[bytes, _Entry] = {}
        try:
            for record in vault.read_tree(parent, index):
                if record.get("t") == NodeType.FILE.value:
                    entries[record[PATH_FIELD]] = (
                        file_identity(record),
                        record.get(CHUNKS_FIELD) or [],
                        record.get(XATTRS_FIELD) or [],
                    )
        except RsvaultError:
            return cls()  # an unreadable parent costs a full read, never a failed backup
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def _unchanged(self, node: Node) -> _Entry | None:
        old = self._entries.get(node.path)
        if old is None or old[0] != (node.size, node.mtime_ns, node.ctime_ns, node.inode):
            return None
        return old

    def unchanged_xattrs(self, node: Node) -> dict[bytes, bytes] | None:
        """The previous extended attributes if the file is unchanged (see walker.KnownXattrs)."""
        old = self._unchanged(node)
        return None if old is None else {name: value for name, value in old[2]}

    def unchanged_chunks(self, node: Node, index: Index) -> list[tuple[bytes | None, int]] | None:
        """The previous chunk list if the file is unchanged and its data still stored."""
        old = self._unchanged(node)
        if old is None:
            return None
        chunks = [(cid, length) for cid, length in old[1]]
        if any(cid is not None and cid not in index for cid, _n in chunks):
            return None  # pruned or lost since: read the file again
        return chunks
