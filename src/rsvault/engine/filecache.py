"""The files cache: what the previous recovery point of an item knew about each file.

A file whose size, mtime, ctime and inode are unchanged, and whose chunks are all still in the
index, is not read again. Deriving the cache from the parent recovery point (rather than a
local file) means it can never disagree with the vault, and it survives a lost cache folder.
"""

from __future__ import annotations

from rsvault.engine.treecodec import record_to_node
from rsvault.errors import RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.vault.index import Index
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault


class FilesCache:
    def __init__(self, entries: dict[bytes, Node] | None = None) -> None:
        self._entries = entries or {}

    @classmethod
    def from_parent(cls, vault: Vault, parent: Manifest | None, index: Index) -> FilesCache:
        if parent is None:
            return cls()
        entries = {}
        try:
            for record in vault.read_tree(parent, index):
                node = record_to_node(record)
                if node.type is NodeType.FILE:
                    entries[node.path] = node
        except RsvaultError:
            return cls()  # an unreadable parent costs a full read, never a failed backup
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def unchanged_chunks(self, node: Node, index: Index) -> list[tuple[bytes | None, int]] | None:
        """The previous chunk list if the file is unchanged and its data still stored."""
        old = self._entries.get(node.path)
        if old is None or (old.size, old.mtime_ns, old.ctime_ns, old.inode) != (
            node.size,
            node.mtime_ns,
            node.ctime_ns,
            node.inode,
        ):
            return None
        if any(cid is not None and cid not in index for cid, _n in old.chunks):
            return None  # pruned or lost since: read the file again
        return old.chunks
