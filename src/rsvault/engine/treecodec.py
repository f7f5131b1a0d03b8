"""File-tree nodes as tree-stream records (short keys: a tree of a million files stays small)."""

from __future__ import annotations

from typing import Any, NamedTuple

from rsvault.sources.files.node import Node, NodeType
from rsvault.vault.tree import CHUNKS_FIELD, PATH_FIELD

XATTRS_FIELD = "x"
_TYPES = {kind.value: kind for kind in NodeType}


def node_to_record(node: Node) -> dict[str, Any]:
    # Field by field rather than a loop over names: a backup runs this for every node it
    # meets, changed or not. The keys keep their order, so an unchanged tree encodes to the
    # same bytes (and tree chunks) as before. Zero numbers and absent strings are left out.
    record: dict[str, Any] = {PATH_FIELD: node.path, "t": node.type.value}
    _put_numbers(record, node)
    _put_names_and_content(record, node)
    return record


def _put_numbers(record: dict[str, Any], node: Node) -> None:
    if node.mode:
        record["m"] = node.mode
    if node.uid:
        record["u"] = node.uid
    if node.gid:
        record["g"] = node.gid
    if node.mtime_ns:
        record["mt"] = node.mtime_ns
    if node.atime_ns:
        record["at"] = node.atime_ns
    if node.ctime_ns:
        record["ct"] = node.ctime_ns
    if node.size:
        record["s"] = node.size
    if node.inode:
        record["i"] = node.inode
    if node.device:
        record["dv"] = node.device
    if node.nlink:
        record["n"] = node.nlink


def _put_names_and_content(record: dict[str, Any], node: Node) -> None:
    if node.user is not None:
        record["un"] = node.user
    if node.group is not None:
        record["gn"] = node.group
    if node.link_target is not None:
        record["l"] = node.link_target
    if node.rdev:
        record["r"] = node.rdev
    if node.xattrs:
        record[XATTRS_FIELD] = [[name, value] for name, value in sorted(node.xattrs.items())]
    if node.chunks:
        record[CHUNKS_FIELD] = [[cid, length] for cid, length in node.chunks]


def record_to_node(record: dict[str, Any]) -> Node:
    # Positional and without loops: a restore turns every record of the tree into a node
    # before it writes anything, so this runs a million times for a million files.
    get = record.get
    kind = record["t"]
    return Node(
        record[PATH_FIELD],
        _TYPES.get(kind) or NodeType(kind),
        get("m", 0),
        get("u", 0),
        get("g", 0),
        get("mt", 0),
        get("at", 0),
        get("ct", 0),
        get("s", 0),
        get("i", 0),
        get("dv", 0),
        get("n", 1),
        get("un"),
        get("gn"),
        get("l"),
        get("r", 0),
        {name: value for name, value in get(XATTRS_FIELD, ())},
        [(cid, length) for cid, length in get(CHUNKS_FIELD, ())],
    )


class Outline(NamedTuple):
    """What judging a restore needs of a record: its name, what it is, and how big."""

    path: bytes
    type: NodeType
    size: int
    link_target: bytes | None


def record_outline(record: dict[str, Any]) -> Outline:
    # A restore reads the tree once to judge every name before it writes anything: without
    # a whole node per record, that pass costs half as much.
    kind = record["t"]
    return Outline(
        record[PATH_FIELD], _TYPES.get(kind) or NodeType(kind), record.get("s", 0), record.get("l")
    )


def file_identity(record: dict[str, Any]) -> tuple[int, int, int, int]:
    """(size, mtime_ns, ctime_ns, inode) of a file record: what the files cache compares."""
    return (record.get("s", 0), record.get("mt", 0), record.get("ct", 0), record.get("i", 0))
