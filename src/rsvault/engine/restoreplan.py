"""Which nodes a restore writes: the selection, with the ancestors that frame it."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rsvault.errors import Code, RsvaultError
from rsvault.sources.files.node import Node, NodeType


def relative(source_path: str) -> bytes:
    """'/home/ana/x' → b'home/ana/x'; '/' → b''."""
    return os.fsencode(os.path.normpath("/" + source_path)).lstrip(b"/")


def _inside(path: bytes, root: bytes) -> bool:
    return root == b"" or path == root or path.startswith(root + b"/")


def select(nodes: list[Node], paths: Sequence[str]) -> list[Node]:
    """The nodes under any of `paths` (all when none), plus their ancestor directories."""
    if not paths:
        return nodes
    roots = [relative(p) for p in paths]
    known = {n.path for n in nodes}
    missing = [p for p, r in zip(paths, roots, strict=True) if r and r not in known]
    if missing:
        raise RsvaultError(Code.RESTORE_PATH_NOT_IN_RP, path=", ".join(missing))
    ancestors = {a for r in roots for a in _ancestors(r)}
    return [n for n in nodes if n.path in ancestors or any(_inside(n.path, r) for r in roots)]


def _ancestors(path: bytes) -> list[bytes]:
    parts = path.split(b"/")
    return [b"/".join(parts[:i]) for i in range(1, len(parts))]


def materialise_hardlinks(selected: list[Node], everything: list[Node]) -> list[Node]:
    """A hard link whose first name is not being restored becomes a copy of that file."""
    chosen = {n.path for n in selected}
    files = {n.path: n for n in everything if n.type is NodeType.FILE}
    out = []
    for node in selected:
        target = node.link_target
        if node.type is NodeType.HARDLINK and target not in chosen and target in files:
            source = files[target]
            node.type, node.chunks, node.size = NodeType.FILE, source.chunks, source.size
            node.link_target = None
        out.append(node)
    return out
