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


def test_a_records_keys_keep_their_order_so_unchanged_trees_encode_the_same() -> None:
    # Tree chunks of an unchanged tree deduplicate against the previous backup's only if
    # its records come out byte for byte as they did: the key order is part of the format.
    record = node_to_record(Node(**EVERY_FIELD))  # type: ignore[arg-type]
    keys = ["p", "t", "m", "u", "g", "mt", "at", "ct", "s", "i", "dv", "n", "un", "gn", "l", "r"]
    assert list(record) == [*keys, "x", "c"]
    assert record["x"] == [[b"system.posix_acl_access", b"\x02\x00"], [b"user.tag", b"blue"]]
    assert record["c"] == [[b"\x01" * 32, 11], [None, 12], [b"\x02" * 32, 13]]


def test_empty_names_are_kept_apart_from_absent_ones() -> None:
    node = Node(b"f", NodeType.FILE, 0o600, 0, 0, 0, user="", group=None)
    assert node_to_record(node) == {"p": b"f", "t": "f", "m": 0o600, "n": 1, "un": ""}
