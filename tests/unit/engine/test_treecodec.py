"""Tree records: a node survives the trip through a record field for field."""

from __future__ import annotations

import dataclasses

import pytest

from rsvault.engine.treecodec import node_to_record, record_outline, record_to_node
from rsvault.sources.files.node import Node, NodeType

EVERY_FIELD = {  # distinct values, none a default: a field read into another one shows
    "path": b"home/ana/notes",
    "type": NodeType.SYMLINK,
    "mode": 0o4751,
    "uid": 1001,
    "gid": 1002,
    "mtime_ns": 1_700_000_000_000_000_003,
    "atime_ns": 1_700_000_000_000_000_004,
    "ctime_ns": 1_700_000_000_000_000_005,
    "size": 6,
    "inode": 7,
    "device": 8,
    "nlink": 9,
    "user": "ana",
    "group": "staff",
    "link_target": b"../target",
    "rdev": 10,
    "xattrs": {b"user.tag": b"blue", b"system.posix_acl_access": b"\x02\x00"},
    "chunks": [(b"\x01" * 32, 11), (None, 12), (b"\x02" * 32, 13)],
}


def test_every_field_of_a_node_comes_back() -> None:
    assert {f.name for f in dataclasses.fields(Node)} == set(EVERY_FIELD)  # a new field: add it
    node = Node(**EVERY_FIELD)  # type: ignore[arg-type]
    assert record_to_node(node_to_record(node)) == node


def test_a_node_of_defaults_comes_back_from_a_short_record() -> None:
    node = Node(b"d", NodeType.DIR, 0o755, 0, 0, 0)
    record = node_to_record(node)
    assert record == {"p": b"d", "t": "d", "m": 0o755, "n": 1}
    assert record_to_node(record) == node


def test_an_unknown_node_type_is_refused() -> None:
    with pytest.raises(ValueError, match="'z'"):
        record_to_node({"p": b"x", "t": "z"})


@pytest.mark.parametrize(
    "node",
    [
        Node(**EVERY_FIELD),  # type: ignore[arg-type]
        Node(b"d", NodeType.DIR, 0o755, 0, 0, 0),
        Node(b"f", NodeType.FILE, 0o644, 0, 0, 0, size=3, chunks=[(b"\x03" * 32, 3)]),
    ],
)
def test_an_outline_says_what_the_whole_node_says(node: Node) -> None:
    outline = record_outline(node_to_record(node))
    assert outline == (node.path, node.type, node.size, node.link_target)
