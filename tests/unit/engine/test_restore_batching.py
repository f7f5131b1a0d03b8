"""Restore work is cut in batches and messages: in order, within limits, small at the end."""

from __future__ import annotations

import random

import rsvault.engine.restorewriter as restorewriter
from rsvault.engine.restorepool import (
    MESSAGE_BYTES,
    MESSAGE_SPANS,
    SPAN_MAX,
    Placement,
    SpanJob,
    _ends,
    _messages,
)
from rsvault.sources.files.node import Node, NodeType
from rsvault.vault.pack import BlobEntry

KiB = 1024
MiB = 1024 * KiB


def jobs(lengths: list[int]) -> list[SpanJob]:
    return [SpanJob(f"pack{n}", 0, length, []) for n, length in enumerate(lengths)]


def test_many_short_spans_share_messages_without_passing_either_limit() -> None:
    rng = random.Random(5)
    given = jobs([rng.randint(1, 300 * KiB) for _ in range(2000)] + [SPAN_MAX, 3, SPAN_MAX])
    messages = _messages(given)
    assert [job for message in messages for job in message] == given  # all, in order
    assert len(messages) < len(given) / 10
    for message in messages:
        assert len(message) <= MESSAGE_SPANS
        size = sum(job.end - job.start for job in message)
        assert size <= MESSAGE_BYTES or len(message) == 1


def test_a_span_longer_than_a_message_goes_alone() -> None:
    messages = _messages(jobs([10, MESSAGE_BYTES + 1, 10]))
    assert [len(m) for m in messages] == [1, 1, 1]


def test_a_file_is_finished_after_the_message_with_its_last_chunk() -> None:
    def span(pack: str, *targets: int) -> SpanJob:
        entries = [Placement(BlobEntry(b"d", bytes(32), 0, 10, 10), [(t, 0)]) for t in targets]
        return SpanJob(pack, 0, MESSAGE_BYTES, entries)  # a message each

    # target 0 is a given descriptor; files are targets 1, 2, 3 (numbers 0, 1, 2)
    messages = _messages([span("a", 0, 1, 2), span("b", 1)])
    assert len(messages) == 2
    assert _ends(messages, first_file=1, files=3) == [[2], [1], [0]]


def test_batches_shrink_towards_the_end_and_keep_every_file_in_order() -> None:
    nodes = [Node(b"d/%04d" % n, NodeType.FILE, 0o644, 0, 0, 0, size=MiB) for n in range(2000)]
    made: list[bytes] = []
    batches = list(restorewriter._batches(iter(nodes), made.append, 2000 * MiB))
    assert [node for batch in batches for node in batch] == nodes
    sizes = [sum(node.size for node in batch) for batch in batches]
    assert max(sizes) <= restorewriter.BATCH_BYTES
    assert sizes[-1] <= restorewriter.BATCH_BYTES_LAST  # the last ones are small
    assert sizes[: len(sizes) // 2] == sorted(sizes[: len(sizes) // 2], reverse=True)
    assert made == []  # no directories among the nodes


def test_a_file_larger_than_a_batch_still_goes_in_one() -> None:
    huge = Node(b"huge", NodeType.FILE, 0o644, 0, 0, 0, size=1 << 40)
    assert list(restorewriter._batches(iter([huge]), lambda _path: None, huge.size)) == [[huge]]
