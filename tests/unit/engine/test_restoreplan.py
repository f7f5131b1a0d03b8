"""The restore plan streams the tree: one pass to judge and count, one to write."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rsvault.engine.restoreplan import chosen_nodes, survey
from rsvault.errors import Code, RsvaultError
from rsvault.sources.files.node import Node, NodeType


def directory(path: bytes) -> Node:
    return Node(path, NodeType.DIR, 0o755, 0, 0, 1)


def file(path: bytes, size: int = 10) -> Node:
    node = Node(path, NodeType.FILE, 0o644, 0, 0, 1, size=size)
    node.chunks = [(path.ljust(32, b"-"), size)]
    return node


def link(path: bytes, first_name: bytes, size: int = 10) -> Node:
    return Node(path, NodeType.HARDLINK, 0o644, 0, 0, 1, size=size, link_target=first_name)


def tree() -> list[Node]:
    return [
        directory(b""),
        directory(b"a"),
        file(b"a/one", 5),
        directory(b"b"),
        file(b"b/two", 7),
        link(b"b/two-again", b"b/two", 7),
        directory(b"c"),
        link(b"c/one-again", b"a/one", 5),
    ]


def paths(nodes: Iterator[Node]) -> list[bytes]:
    return [n.path for n in nodes]


def test_a_whole_restore_counts_files_not_links() -> None:
    planned = survey(tree(), [])
    assert (planned.files, planned.size, planned.copies) == (2, 12, set())
    chosen = list(chosen_nodes(tree(), [], planned.copies))
    assert paths(iter(chosen)) == [n.path for n in tree()[1:]]  # "/" is the target itself
    assert [n.type for n in chosen if n.path.endswith(b"again")] == [NodeType.HARDLINK] * 2


def test_a_whole_restore_is_surveyed_as_a_selection_of_the_root_would_be() -> None:
    nodes = [*tree(), file(b"d/three", 9), link(b"d/three-again", b"d/three", 9)]
    assert survey(nodes, []) == survey(nodes, ["/"])


def test_a_link_whose_first_name_stays_behind_becomes_a_copy() -> None:
    planned = survey(tree(), ["/c"])
    assert (planned.files, planned.size, planned.copies) == (1, 5, {b"a/one"})
    chosen = list(chosen_nodes(tree(), ["/c"], planned.copies))
    assert paths(iter(chosen)) == [b"c", b"c/one-again"]
    copy = chosen[1]
    assert (copy.type, copy.size, copy.chunks, copy.link_target) == (
        NodeType.FILE,
        5,
        file(b"a/one", 5).chunks,
        None,
    )


def test_ancestors_frame_a_selection() -> None:
    planned = survey(tree(), ["/b/two"])
    assert (planned.files, planned.size) == (1, 7)
    assert paths(chosen_nodes(tree(), ["/b/two"], planned.copies)) == [b"b", b"b/two"]


def test_a_path_not_in_the_recovery_point_is_refused() -> None:
    with pytest.raises(RsvaultError) as caught:
        survey(tree(), ["/a", "/nowhere"])
    assert caught.value.code is Code.RESTORE_PATH_NOT_IN_RP
    assert "/nowhere" in str(caught.value.params)


@pytest.mark.parametrize("bad", [b"../escape", b"a/../../x", b"a//b", b"/abs"])
def test_an_unsafe_name_anywhere_is_refused_before_anything_is_written(bad: bytes) -> None:
    nodes = [*tree(), file(bad)]
    with pytest.raises(RsvaultError) as caught:
        survey(nodes, [])
    assert caught.value.code is Code.RESTORE_UNSAFE_PATH


def test_the_write_pass_reads_the_tree_as_it_goes() -> None:
    pulled: list[bytes] = []

    def streamed() -> Iterator[Node]:
        for node in tree():
            pulled.append(node.path)
            yield node

    chosen = chosen_nodes(streamed(), [], set())
    assert next(chosen).path == b"a"
    assert pulled == [b"", b"a"]
