"""Restore of files and folders: verify every chunk, write through a guarded target.

Nothing outside the target is ever written: every name is checked before the first write
(the tree is read once to judge and count, then again to write; see `restoreplan`), and a
file gets its name only once every one of its chunks has been authenticated and hashed (see
`restoreworker`). A file with a bad chunk never appears at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsvault.core.memory import release_free_memory
from rsvault.engine.progress import ProgressCounter, ProgressSink, ignore_progress
from rsvault.engine.restoreplan import chosen_nodes, survey
from rsvault.engine.restorepool import WritePool
from rsvault.engine.restorewriter import ContentWriter, in_process
from rsvault.engine.targetfaults import target_faults
from rsvault.engine.treecodec import record_outline, record_to_node
from rsvault.errors import JobWarning
from rsvault.sources.files.metadata import apply_metadata
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.target import RestoreTarget
from rsvault.vault.index import Index
from rsvault.vault.lease import LeaseKind
from rsvault.vault.repository import Vault


@dataclass(frozen=True)
class FilesRestoreRequest:
    rp_name: str
    target: Path
    paths: Sequence[str] = ()
    workers: int = max(2, os.cpu_count() or 2)


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    links: int = 0
    other: int = 0
    bytes_written: int = 0
    files_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RestoreResult:
    stats: RestoreStats = field(default_factory=RestoreStats)
    warnings: list[JobWarning] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path → why (bad or missing data)


def restore_files(
    vault: Vault, request: FilesRestoreRequest, progress: ProgressSink = ignore_progress
) -> RestoreResult:
    with (
        vault.lease(LeaseKind.SHARED, f"restore {request.rp_name}"),
        WritePool(vault, request.workers) as pool,
    ):
        manifest = vault.read_manifest(request.rp_name)
        if not request.paths:  # the whole point: its size is known, the workers can start
            pool.start(in_process=in_process(manifest.stats.get("bytes_total", 0)))
        index = vault.load_readable_index()  # while they start
        release_free_memory()  # the index files, decoded: megabytes the restore never needs

        def records() -> Iterator[dict[str, Any]]:  # read again for each pass, never held
            return vault.read_tree(manifest, index)

        # every name is judged before anything is written
        planned = survey(map(record_outline, records()), request.paths)
        release_free_memory()  # the tree, read once through
        result = RestoreResult()
        counter = ProgressCounter(progress, "restore")
        counter.files_total, counter.bytes_total = planned.files, planned.size
        with RestoreTarget(request.target) as target:
            target.check_writable()
            nodes = chosen_nodes(map(record_to_node, records()), request.paths, planned.copies)
            with target_faults(request.target):
                _restore_nodes(pool, index, target, nodes, planned.size, counter, result)
        return result


def _restore_nodes(
    pool: WritePool,
    index: Index,
    target: RestoreTarget,
    nodes: Iterable[Node],
    size: int,
    counter: ProgressCounter,
    result: RestoreResult,
) -> None:
    dirs: list[Node] = []
    others: list[Node] = []  # links and special files: made once every file is in place

    def sorted_out() -> Iterator[Node]:
        for node in nodes:
            if node.type is NodeType.DIR:
                if node.path:
                    dirs.append(node)
            elif node.type is not NodeType.FILE:
                others.append(node)
            yield node

    ContentWriter(pool, index, target, counter, result).write(sorted_out(), size)
    for node in others:
        _restore_other(target, node, result)
    for node in sorted(dirs, key=lambda n: n.path.count(b"/"), reverse=True):
        parent = target.prepare_parent(node.path)
        result.warnings += apply_metadata(os.path.basename(node.path), node, dir_fd=parent)
    result.stats.dirs = len(dirs)


def _restore_other(target: RestoreTarget, node: Node, result: RestoreResult) -> None:
    if node.type is NodeType.SYMLINK:
        target.make_symlink(node.path, node.link_target or b"")
        result.stats.links += 1
    elif node.type is NodeType.HARDLINK:
        target.make_hardlink(node.path, node.link_target or b"")
        result.stats.links += 1
        return  # the data and metadata belong to the first name
    else:
        result.warnings += target.make_special(node.path, node) or []
        result.stats.other += 1
    parent = target.prepare_parent(node.path)
    result.warnings += apply_metadata(os.path.basename(node.path), node, dir_fd=parent)
