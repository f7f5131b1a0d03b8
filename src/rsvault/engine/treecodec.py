"""File-tree nodes as tree-stream records (short keys: a tree of a million files stays small)."""

from __future__ import annotations

from typing import Any

from rsvault.sources.files.node import Node, NodeType
from rsvault.vault.tree import CHUNKS_FIELD, PATH_FIELD

XATTRS_FIELD = "x"
_SIMPLE = {
    "mode": "m",
    "uid": "u",
    "gid": "g",
    "mtime_ns": "mt",
    "atime_ns": "at",
    "ctime_ns": "ct",
    "size": "s",
    "inode": "i",
    "device": "dv",
    "nlink": "n",
    "user": "un",
    "group": "gn",
    "link_target": "l",
    "rdev": "r",
}


def node_to_record(node: Node) -> dict[str, Any]:
    record: dict[str, Any] = {PATH_FIELD: node.path, "t": node.type.value}
    for attribute, key in _SIMPLE.items():
        value = getattr(node, attribute)
        if value not in (None, 0):
            record[key] = value
    if node.xattrs:
        record[XATTRS_FIELD] = [[name, value] for name, value in sorted(node.xattrs.items())]
    if node.chunks:
        record[CHUNKS_FIELD] = [[cid, length] for cid, length in node.chunks]
    return record


def record_to_node(record: dict[str, Any]) -> Node:
    node = Node(
        path=record[PATH_FIELD],
        type=NodeType(record["t"]),
        mode=record.get("m", 0),
        uid=record.get("u", 0),
        gid=record.get("g", 0),
        mtime_ns=record.get("mt", 0),
    )
    for attribute, key in _SIMPLE.items():
        if key in record:
            setattr(node, attribute, record[key])
    node.xattrs = {name: value for name, value in record.get(XATTRS_FIELD, ())}
    node.chunks = [(cid, length) for cid, length in record.get(CHUNKS_FIELD, ())]
    return node


def file_identity(record: dict[str, Any]) -> tuple[int, int, int, int]:
    """(size, mtime_ns, ctime_ns, inode) of a file record: what the files cache compares."""
    return (record.get("s", 0), record.get("mt", 0), record.get("ct", 0), record.get("i", 0))
