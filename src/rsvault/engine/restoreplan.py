"""Which nodes a restore writes: the selection, with the ancestors that frame it.

A restore reads the recovery point's tree twice and never holds it: `survey` judges every
name and counts the work before anything is written, then `chosen_nodes` hands the same
nodes, in the same order, to the writers. Both passes see identical records, since every tree
chunk is authenticated and checked against its id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rsvault.errors import Code, RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.target import check_restore_path


def relative(source_path: str) -> bytes:
    """'/home/ana/x' → b'home/ana/x'; '/' → b''."""
    return os.fsencode(os.path.normpath("/" + source_path)).lstrip(b"/")


class Selection:
    """The paths under any of the given ones (all when none), plus their ancestors."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.roots = [relative(p) for p in paths]
        self._ancestors = {a for r in self.roots for a in _ancestors(r)}

    def __contains__(self, path: bytes) -> bool:
        if not self.roots:
            return True
        return path in self._ancestors or any(_inside(path, r) for r in self.roots)


class Entry(Protocol):
    """What the survey reads of a node (a `Node`, or a record's `treecodec.Outline`)."""

    @property
    def path(self) -> bytes: ...
    @property
    def type(self) -> NodeType: ...
    @property
    def size(self) -> int: ...
    @property
    def link_target(self) -> bytes | None: ...


@dataclass
class Survey:
    files: int = 0
    size: int = 0  # of the files
    # First names of hard links restored without them: those links become copies.
    copies: set[bytes] = field(default_factory=set)


def survey(nodes: Iterable[Entry], paths: Sequence[str]) -> Survey:
    """Judge every name the restore would write (RESTORE_UNSAFE_PATH), find every path asked
    for (RESTORE_PATH_NOT_IN_RP), and count the files and bytes to write."""
    selection = Selection(paths)
    if not selection.roots:
        return _survey_everything(nodes)
    found, result = set(), Survey()
    asked = set(selection.roots)
    for node in nodes:
        if node.path in asked:
            found.add(node.path)
        if not node.path or node.path not in selection:  # b"" is "/", the target itself
            continue
        check_restore_path(node.path)
        first_name = node.link_target or b""
        copied = node.type is NodeType.HARDLINK and first_name not in selection
        if copied:
            result.copies.add(first_name)
        if node.type is NodeType.FILE or copied:
            result.files += 1
            result.size += node.size
    missing = [p for p, r in zip(paths, selection.roots, strict=True) if r and r not in found]
    if missing:
        raise RsvaultError(Code.RESTORE_PATH_NOT_IN_RP, path=", ".join(missing))
    return result


def _survey_everything(nodes: Iterable[Entry]) -> Survey:
    """`survey` of a whole recovery point: nothing to find, and every hard link's first name
    is restored too (no copies). The restore waits for this pass, so it stays this lean."""
    files = size = 0
    file_type = NodeType.FILE
    for node in nodes:
        path = node.path
        if not path:  # b"" is "/", the target itself
            continue
        check_restore_path(path)
        if node.type is file_type:
            files += 1
            size += node.size
    return Survey(files, size)


def chosen_nodes(nodes: Iterable[Node], paths: Sequence[str], copies: set[bytes]) -> Iterator[Node]:
    """The selected nodes, in tree order; a hard link whose first name is not restored
    becomes a copy of that file."""
    selection = Selection(paths)
    sources: dict[bytes, Node] = {}  # only the first names in `copies`
    for node in nodes:
        if node.type is NodeType.FILE and node.path in copies:
            sources[node.path] = node
        if not node.path or node.path not in selection:
            continue
        source = sources.get(node.link_target or b"") if node.type is NodeType.HARDLINK else None
        if source is not None:
            node.type, node.chunks, node.size = NodeType.FILE, source.chunks, source.size
            node.link_target = None
        yield node


def _inside(path: bytes, root: bytes) -> bool:
    return root == b"" or path == root or path.startswith(root + b"/")


def _ancestors(path: bytes) -> list[bytes]:
    parts = path.split(b"/")
    return [b"/".join(parts[:i]) for i in range(1, len(parts))]
