"""`vault check`: structure always; with read_data, every byte of every pack."""

from __future__ import annotations

from dataclasses import dataclass, field

from rsvault.errors import Code, RsvaultError
from rsvault.vault.manifest import Manifest
from rsvault.vault.pack import (
    BlobEntry,
    pack_id_from_name,
)
from rsvault.vault.references import References, collect_references
from rsvault.vault.repository import Vault

DATA_PREFIX = "data/"


@dataclass
class Problem:
    kind: str  # missing-chunk, missing-pack, bad-pack, bad-chunk, unreadable-manifest, …
    object: str
    detail: str
    recovery_points: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    recovery_points: int = 0
    packs: int = 0
    chunks: int = 0
    bytes_read: int = 0
    reclaimable_packs: int = 0
    read_data: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def affected_recovery_points(self) -> list[str]:
        return sorted({rp for p in self.problems for rp in p.recovery_points})


def check_vault(vault: Vault, *, read_data: bool = False) -> CheckReport:
    report = CheckReport(read_data=read_data)
    index = vault.load_readable_index()
    live = set(vault.load_index().packs)
    manifests = _read_manifests(vault, report)
    refs = collect_references(vault, index, manifests)
    for rp, why in refs.unreadable.items():
        report.problems.append(Problem("unreadable-tree", rp, why, [rp]))
    report.packs, report.chunks = len(index.packs), len(index)
    for chunk_id, rps in refs.by_chunk.items():
        if chunk_id not in index:
            report.problems.append(
                _affecting("missing-chunk", chunk_id, "not in any index", rps, refs)
            )
    stored = {pack_id_from_name(i.name): i.size for i in vault.store.list(DATA_PREFIX)}
    report.reclaimable_packs = len(set(stored) - set(index.packs))
    for pack_id, entries in index.packs.items():
        if pack_id in stored or pack_id in live or _needed(entries, refs):
            _check_pack(vault, pack_id, entries, stored.get(pack_id), refs, report)
    return report


def _needed(entries: list[BlobEntry], refs: References) -> bool:
    return any(e.chunk_id in refs.by_chunk for e in entries)


def _read_manifests(vault: Vault, report: CheckReport) -> list[Manifest]:
    manifests = []
    for name in vault.manifest_names():
        try:
            manifests.append(vault.read_manifest(name))
        except RsvaultError as exc:
            report.problems.append(
                Problem("unreadable-manifest", name, exc.report().message, [name])
            )
    report.recovery_points = len(manifests)
    return manifests


def _check_pack(
    vault: Vault,
    pack_id: str,
    entries: list[BlobEntry],
    size: int | None,
    refs: References,
    report: CheckReport,
) -> None:
    needed = {e.chunk_id for e in entries if e.chunk_id in refs.by_chunk}
    if size is None:
        rps = set().union(*(refs.by_chunk[c] for c in needed)) if needed else set()
        report.problems.append(
            Problem("missing-pack", pack_id, "named by the index, not in the store", sorted(rps))
        )
        return
    try:
        _check_header(vault, pack_id, entries, size)
    except RsvaultError as exc:
        rps = set().union(*(refs.by_chunk[c] for c in needed)) if needed else set()
        report.problems.append(Problem("bad-pack", pack_id, exc.report().message, sorted(rps)))
        return
    if report.read_data:
        _read_pack(vault, pack_id, entries, refs, report)


def _check_header(vault: Vault, pack_id: str, entries: list[BlobEntry], size: int) -> None:
    listed = {(e.chunk_id, e.offset, e.length) for e in vault.pack_header(pack_id, size)}
    if any((e.chunk_id, e.offset, e.length) not in listed for e in entries):
        raise RsvaultError(
            Code.VAULT_DATA_CORRUPT, object=pack_id, reason="header and index disagree"
        )


def _read_pack(
    vault: Vault, pack_id: str, entries: list[BlobEntry], refs: References, report: CheckReport
) -> None:
    data = vault.read_span(pack_id, 0, max(e.offset + e.length for e in entries))
    report.bytes_read += len(data)
    view = memoryview(data)
    for entry in entries:
        try:
            vault.open_blob(entry, view[entry.offset : entry.offset + entry.length])
        except RsvaultError as exc:
            rps = refs.by_chunk.get(entry.chunk_id, set())
            report.problems.append(
                _affecting("bad-chunk", entry.chunk_id, exc.report().message, rps, refs, pack_id)
            )


def _affecting(
    kind: str,
    chunk_id: bytes,
    detail: str,
    rps: set[str],
    refs: References,
    pack_id: str | None = None,
) -> Problem:
    paths = sorted(
        {
            "/" + p.decode("utf-8", "surrogateescape")
            for rp in rps
            for p in refs.paths.get((chunk_id, rp), [])
        }
    )
    where = f" in pack {pack_id}" if pack_id else ""
    return Problem(kind, f"chunk {chunk_id.hex()}{where}", detail, sorted(rps), paths)
