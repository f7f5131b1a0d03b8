"""Which chunks each recovery point depends on: the input of check and prune."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rsvault.errors import RsvaultError
from rsvault.vault.index import Index
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault
from rsvault.vault.tree import PATH_FIELD, chunk_refs


@dataclass
class References:
    """chunk id → the recovery points (and file paths) that need it."""

    by_chunk: dict[bytes, set[str]] = field(default_factory=lambda: defaultdict(set))
    paths: dict[tuple[bytes, str], list[bytes]] = field(default_factory=lambda: defaultdict(list))
    unreadable: dict[str, str] = field(default_factory=dict)  # rp name → why

    def add(self, chunk_id: bytes, rp: str, path: bytes | None = None) -> None:
        self.by_chunk[chunk_id].add(rp)
        if path is not None:
            self.paths[(chunk_id, rp)].append(path)


def collect_references(vault: Vault, index: Index, manifests: list[Manifest]) -> References:
    """Read every tree stream once. A tree that cannot be read is noted, not fatal."""
    refs = References()
    for manifest in manifests:
        for tree_chunk, _length in manifest.tree:
            if tree_chunk:
                refs.add(tree_chunk, manifest.name)
        try:
            for record in vault.read_tree(manifest, index):
                path = record.get(PATH_FIELD)
                for cid, _n in chunk_refs(record):
                    if cid:
                        refs.add(cid, manifest.name, path if isinstance(path, bytes) else None)
        except RsvaultError as exc:
            refs.unreadable[manifest.name] = exc.report().message
    return refs
