"""check and prune on real backups: references, grace, leases, corruption, resurrection."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from rsvault.core.clock import ManualClock
from rsvault.engine.backup import FilesBackupRequest, backup_files
from rsvault.engine.restore import FilesRestoreRequest, RestoreResult, restore_files
from rsvault.errors import Code, RsvaultError
from rsvault.storage import FaultyStore, MemoryStore
from rsvault.vault.check import CheckReport, check_vault
from rsvault.vault.crypto import DATA
from rsvault.vault.index import INDEX_PREFIX
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.lease import Lease, LeaseKind
from rsvault.vault.manifest import MANIFEST_PREFIX, Manifest
from rsvault.vault.pack import pack_id_from_name, pack_name
from rsvault.vault.prune import PRUNE_PREFIX, prune_vault
from rsvault.vault.repository import Vault

NO_GRACE = timedelta(0)
KiB = 1024


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A small tree: text, a CDC-cut file, a duplicate, zeros, a symlink, a subfolder."""
    root = Path(os.path.realpath(tmp_path)) / "src"
    (root / "sub" / "deeper").mkdir(parents=True)
    rng = random.Random(7)
    (root / "notes.txt").write_text("hello vault\n" * 50)
    (root / "big.bin").write_bytes(rng.randbytes(700 * KiB))
    (root / "sub" / "copy-of-big.bin").write_bytes((root / "big.bin").read_bytes())
    (root / "sub" / "zeros.img").write_bytes(bytes(300 * KiB))
    (root / "sub" / "deeper" / "small").write_bytes(rng.randbytes(3000))
    (root / "empty").write_bytes(b"")
    os.symlink("notes.txt", root / "link")
    return root


def backup(vault: Vault, clock: ManualClock, src: Path, item: str = "files") -> str:
    # small steps: a lease held by the test is not refreshed by the (real-time) thread
    clock.advance(1)
    result = backup_files(vault, FilesBackupRequest(item, [str(src)], workers=2))
    clock.advance(1)
    assert result.warnings == []
    return result.manifest.name


def restore(vault: Vault, rp: str, target: Path) -> RestoreResult:
    return restore_files(vault, FilesRestoreRequest(rp, target, workers=2))


def restored(target: Path, src: Path) -> Path:
    return target / src.relative_to("/")


def contents(root: Path) -> dict[str, tuple[str, bytes]]:
    out: dict[str, tuple[str, bytes]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.fsencode(os.readlink(path)))
            elif path.is_dir():
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("file", path.read_bytes())
    return out


def stored_packs(vault: Vault) -> set[str]:
    return {pack_id_from_name(i.name) for i in vault.store.list("data/")}


def packs_of(vault: Vault, rp: str) -> set[str]:
    """The packs holding the chunks (tree and data) that recovery point `rp` references."""
    index = vault.load_index()
    manifest = vault.read_manifest(rp)
    ids = {cid for cid, _n in manifest.tree}
    for record in vault.read_tree(manifest, index):
        ids |= {cid for cid, _n in record.get("c", ()) if cid}
    locations = [index.get(cid) for cid in ids]
    return {loc.pack_id for loc in locations if loc is not None}


def assert_ok(report: CheckReport) -> None:
    assert report.problems == []
    assert report.ok


def assert_nothing_unindexed(vault: Vault) -> None:
    index = vault.load_index()
    assert stored_packs(vault) == set(index.packs)


def write_orphan(vault: Vault) -> tuple[str, bytes]:
    """A pack with its index file deleted: what a backup killed before its index leaves."""
    writer = vault.chunk_writer(vault.load_index())
    try:
        chunk_id, _n = writer.store(DATA, os.urandom(20 * KiB))
        writer.flush()
    finally:
        writer.close()
    (index_id,) = writer.index_files_written
    vault.store.delete(INDEX_PREFIX + index_id)
    (pack_id,) = stored_packs(vault) - set(vault.load_index().packs)
    assert chunk_id is not None
    return pack_id, chunk_id


@pytest.fixture
def held(vault: Vault, clock: ManualClock) -> Iterator[Lease]:
    """A live SHARED lease taken before whatever the test does next (a running backup).
    The ManualClock does not drive its refresh thread: a test that moves the clock far
    calls `pass_time`, which refreshes it as the thread would."""
    lease = vault.lease(LeaseKind.SHARED, "backup still running")
    clock.advance(1)
    yield lease
    lease.release()


def pass_time(clock: ManualClock, seconds: int, *leases: Lease) -> None:
    for _ in range(seconds // 30):
        clock.advance(30)
        for lease in leases:
            lease.refresh()
    clock.advance(seconds % 30)


# check


def test_check_of_a_fresh_backup_is_ok(vault: Vault, clock: ManualClock, src: Path) -> None:
    rp = backup(vault, clock, src)
    report = check_vault(vault)
    assert_ok(report)
    assert (report.recovery_points, report.reclaimable_packs) == (1, 0)
    assert report.packs >= 1
    full = check_vault(vault, read_data=True)
    assert_ok(full)
    assert full.bytes_read > 700 * KiB
    assert packs_of(vault, rp) == stored_packs(vault)


def test_restore_of_a_backup_is_byte_for_byte(
    vault: Vault, clock: ManualClock, src: Path, tmp_path: Path
) -> None:
    rp = backup(vault, clock, src)
    result = restore(vault, rp, tmp_path / "target")
    assert result.failed == {}
    assert contents(restored(tmp_path / "target", src)) == contents(src)


def test_check_names_the_recovery_point_and_file_of_a_bad_chunk(
    vault: Vault, clock: ManualClock, src: Path, tmp_path: Path
) -> None:
    rp = backup(vault, clock, src)
    small = (src / "sub" / "deeper" / "small").read_bytes()
    chunk_id = vault.sealer.chunk_id(small)
    location = vault.load_index().get(chunk_id)
    assert location is not None
    name = pack_name(location.pack_id)
    damaged = bytearray(vault.store.get(name))
    damaged[location.entry.offset + location.entry.length // 2] ^= 0x01
    vault.store.put(name, bytes(damaged))

    assert_ok(check_vault(vault))  # the structure (headers, index) is intact
    report = check_vault(vault, read_data=True)
    (problem,) = report.problems
    assert problem.kind == "bad-chunk"
    assert chunk_id.hex() in problem.object
    assert problem.recovery_points == [rp]
    assert problem.paths == ["/" + str((src / "sub" / "deeper" / "small").relative_to("/"))]
    assert report.affected_recovery_points == [rp]

    # restore writes every other file and refuses the one that did not verify
    result = restore(vault, rp, tmp_path / "target")
    assert list(result.failed) == [str(src / "sub" / "deeper" / "small")]
    out = restored(tmp_path / "target", src)
    assert not (out / "sub" / "deeper" / "small").exists()
    assert (out / "big.bin").read_bytes() == (src / "big.bin").read_bytes()


def test_corrupted_reads_are_a_bad_pack_naming_the_recovery_point(
    store: MemoryStore, clock: ManualClock, src: Path
) -> None:
    faulty = FaultyStore(store)
    vault = Vault.create(faulty, "pass-phrase-1", clock, kdf=CHEAP_KDF)
    rp = backup(vault, clock, src)
    faulty.corrupt_reads("data/")
    report = check_vault(vault, read_data=True)
    kinds = {p.kind for p in report.problems}
    assert "bad-pack" in kinds
    assert kinds <= {"bad-pack", "bad-chunk", "unreadable-tree"}
    assert report.affected_recovery_points == [rp]
    assert all(p.recovery_points == [rp] for p in report.problems)


def test_a_missing_pack_is_reported(vault: Vault, clock: ManualClock, src: Path) -> None:
    rp = backup(vault, clock, src)
    (pack_id,) = stored_packs(vault)
    vault.store.delete(pack_name(pack_id))
    report = check_vault(vault)
    found = {(p.kind, p.object) for p in report.problems}
    assert found == {("missing-pack", pack_id), ("unreadable-tree", rp)}
    assert all(p.recovery_points == [rp] for p in report.problems)


def test_a_truncated_pack_is_reported_and_restore_fails_only_its_files(
    vault: Vault, clock: ManualClock, src: Path, tmp_path: Path
) -> None:
    before = backup(vault, clock, src / "sub" / "deeper", item="deeper")
    (pack_id,) = stored_packs(vault)  # the one cut short below
    rp = backup(vault, clock, src)
    vault.store.put(pack_name(pack_id), vault.store.get(pack_name(pack_id))[:5])

    report = check_vault(vault, read_data=True)
    found = {(p.kind, p.object) for p in report.problems}
    assert found == {("bad-pack", pack_id), ("unreadable-tree", before)}
    bad_pack = next(p for p in report.problems if p.kind == "bad-pack")
    assert bad_pack.recovery_points == sorted([before, rp])

    result = restore(vault, rp, tmp_path / "target")
    assert list(result.failed) == [str(src / "sub" / "deeper" / "small")]
    assert result.stats.files_failed == 1


def test_an_index_file_lost_shows_as_missing_chunks_and_reclaimable_packs(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    rp = backup(vault, clock, src)
    for info in list(vault.store.list(INDEX_PREFIX)):
        vault.store.delete(info.name)
    report = check_vault(vault)
    assert report.reclaimable_packs == len(stored_packs(vault)) == 1
    assert {p.kind for p in report.problems} == {"missing-chunk", "unreadable-tree"}
    assert report.affected_recovery_points == [rp]


def test_an_undecryptable_manifest_is_reported(vault: Vault, clock: ManualClock, src: Path) -> None:
    rp = backup(vault, clock, src)
    other = backup(vault, clock, src)
    vault.store.put(MANIFEST_PREFIX + rp, vault.store.get(MANIFEST_PREFIX + other))
    report = check_vault(vault)
    assert [(p.kind, p.object) for p in report.problems] == [("unreadable-manifest", rp)]


# prune


def test_prune_deletes_what_a_deleted_recovery_point_alone_used(
    vault: Vault, clock: ManualClock, src: Path, tmp_path: Path
) -> None:
    (src / "extra.bin").write_bytes(os.urandom(100 * KiB))
    first = backup(vault, clock, src)
    first_packs = packs_of(vault, first)
    (src / "extra.bin").unlink()
    (src / "big.bin").unlink()
    (src / "sub" / "copy-of-big.bin").unlink()  # rp2 still shares the small files with rp1
    (src / "new.txt").write_text("only in the second")
    second = backup(vault, clock, src)
    vault.delete_manifest(first)

    report = prune_vault(vault, NO_GRACE)

    assert report.packs_deleted == len(first_packs) == 1
    assert report.packs_repacked == 1  # its live chunks were copied out first
    assert report.packs_resurrected == 0
    assert report.bytes_deleted > 0
    assert stored_packs(vault).isdisjoint(first_packs)
    assert stored_packs(vault) == packs_of(vault, second)
    assert_nothing_unindexed(vault)
    assert list(vault.store.list(PRUNE_PREFIX)) == []
    assert_ok(check_vault(vault, read_data=True))
    result = restore(vault, second, tmp_path / "target")
    assert result.failed == {}
    assert contents(restored(tmp_path / "target", src)) == contents(src)


def test_prune_of_an_item_whose_data_nobody_else_shares(
    vault: Vault, clock: ManualClock, src: Path, tmp_path: Path
) -> None:
    keep = backup(vault, clock, src / "sub", item="sub")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "f").write_bytes(os.urandom(50 * KiB))
    gone = backup(vault, clock, tmp_path / "other", item="other")
    gone_packs = packs_of(vault, gone) - packs_of(vault, keep)
    vault.delete_manifest(gone)

    report = prune_vault(vault, NO_GRACE)

    assert report.packs_deleted == len(gone_packs) == 1
    assert report.packs_repacked == 0
    assert stored_packs(vault) == packs_of(vault, keep)
    assert_ok(check_vault(vault, read_data=True))
    assert restore(vault, keep, tmp_path / "target").failed == {}
    assert contents(restored(tmp_path / "target", src / "sub")) == contents(src / "sub")


def test_prune_with_nothing_to_do_changes_no_data(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    backup(vault, clock, src)
    before = stored_packs(vault)
    report = prune_vault(vault, NO_GRACE)
    assert (report.packs_condemned, report.packs_deleted) == (0, 0)
    assert stored_packs(vault) == before
    assert_nothing_unindexed(vault)
    assert_ok(check_vault(vault, read_data=True))


def test_an_orphan_pack_is_reclaimed_without_grace(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    backup(vault, clock, src)
    orphan, _chunk = write_orphan(vault)
    assert check_vault(vault).reclaimable_packs == 1
    clock.advance(1)

    report = prune_vault(vault, NO_GRACE)

    assert (report.packs_condemned, report.packs_deleted) == (1, 1)
    assert orphan not in stored_packs(vault)
    assert_nothing_unindexed(vault)
    assert_ok(check_vault(vault, read_data=True))


def test_an_orphan_pack_waits_for_leases_older_than_the_prune(
    vault: Vault, clock: ManualClock, src: Path, held: Lease
) -> None:
    backup(vault, clock, src)  # shared leases coexist: this backup ran beside the held one
    orphan, _chunk = write_orphan(vault)

    report = prune_vault(vault, NO_GRACE)

    assert (report.packs_condemned, report.packs_deleted) == (1, 0)
    assert report.records_waiting == 1
    assert any("backup still running" in w for w in report.waiting_for)
    assert orphan in stored_packs(vault)
    pass_time(clock, 3600, held)
    assert prune_vault(vault, NO_GRACE).packs_deleted == 0  # still held, however long
    assert orphan in stored_packs(vault)


def test_the_sweep_goes_on_once_the_older_lease_is_gone(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    lease = vault.lease(LeaseKind.SHARED, "backup still running")
    clock.advance(1)
    orphan, _chunk = write_orphan(vault)
    assert prune_vault(vault, NO_GRACE).records_waiting == 1
    lease.release()
    clock.advance(1)

    report = prune_vault(vault, NO_GRACE)

    assert (report.packs_deleted, report.records_waiting) == (1, 0)
    assert orphan not in stored_packs(vault)
    assert list(vault.store.list(PRUNE_PREFIX)) == []


def test_a_lease_taken_at_the_same_instant_as_the_mark_still_counts(
    vault: Vault, clock: ManualClock
) -> None:
    """Equal times cannot prove the lease came after the mark: the sweep must wait."""
    orphan, _chunk = write_orphan(vault)
    with vault.lease(LeaseKind.SHARED, "backup started this very tick"):
        report = prune_vault(vault, NO_GRACE)  # the clock has not moved
    assert report.packs_deleted == 0
    assert orphan in stored_packs(vault)


def test_a_lease_taken_after_the_mark_does_not_block_the_sweep(
    vault: Vault, clock: ManualClock
) -> None:
    orphan, _chunk = write_orphan(vault)
    assert prune_vault(vault, timedelta(minutes=5)).records_waiting == 1
    clock.advance(1)
    with vault.lease(LeaseKind.SHARED, "a backup that saw the new index"):
        clock.advance(300)
        report = prune_vault(vault, timedelta(minutes=5))
    assert report.packs_deleted == 1
    assert orphan not in stored_packs(vault)


def test_the_default_grace_keeps_an_orphan_for_an_hour(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    backup(vault, clock, src)
    orphan, _chunk = write_orphan(vault)

    first = prune_vault(vault)
    assert (first.packs_condemned, first.packs_deleted, first.records_waiting) == (1, 0, 1)
    clock.advance(3599)
    assert prune_vault(vault).packs_deleted == 0
    assert orphan in stored_packs(vault)
    clock.advance(2)
    assert prune_vault(vault).packs_deleted == 1
    assert orphan not in stored_packs(vault)
    assert_ok(check_vault(vault, read_data=True))


def test_prune_refuses_when_a_tree_cannot_be_read(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    rp = backup(vault, clock, src)
    for info in list(vault.store.list(INDEX_PREFIX)):
        vault.store.delete(info.name)  # every pack is now an orphan, and the tree unreadable
    before = stored_packs(vault)
    with pytest.raises(RsvaultError) as caught:
        prune_vault(vault, NO_GRACE)
    assert caught.value.code is Code.VAULT_CHECK_FAILED
    assert rp in str(caught.value.params["problems"])
    assert stored_packs(vault) == before


def condemn_first_backup(vault: Vault, clock: ManualClock, src: Path) -> tuple[Manifest, set[str]]:
    """Back up, delete the recovery point, and prune while another backup holds its lease."""
    first = backup(vault, clock, src)
    manifest = vault.read_manifest(first)
    packs = packs_of(vault, first)
    vault.delete_manifest(first)
    report = prune_vault(vault, NO_GRACE)
    assert report.packs_condemned == len(packs)
    assert report.records_waiting == 1
    assert packs <= stored_packs(vault)
    assert packs.isdisjoint(vault.load_index().packs)
    return manifest, packs


def test_prune_resurrects_a_condemned_pack_a_backup_deduplicated_against(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    running = vault.lease(LeaseKind.SHARED, "backup still running")
    clock.advance(1)
    old, packs = condemn_first_backup(vault, clock, src)
    # The running backup had read the old index: it found big.bin's chunks there, so it
    # references them without storing them again, in a tree of its own.
    big = (src / "big.bin").read_bytes()
    chunks = [(vault.sealer.chunk_id(c), len(c)) for c in vault.file_chunker().cut_buffer(big)]
    assert all(cid not in vault.load_index() for cid, _n in chunks)
    writer = vault.chunk_writer(vault.load_index())
    try:
        record = {"p": b"restored/big.bin", "t": "f", "m": 0o644, "s": len(big), "c": chunks}
        tree = [(cid, n) for cid, n in vault.write_tree(writer, [record]) if cid]
        writer.flush()
    finally:
        writer.close()
    vault.write_manifest(dataclasses.replace(old, name=old.name + "0", tree=tree), running)
    running.release()
    clock.advance(1)

    report = prune_vault(vault, NO_GRACE)

    assert report.packs_resurrected == len(packs) == 1
    assert report.packs_deleted == 0
    assert packs <= stored_packs(vault)
    assert packs <= set(vault.load_index().packs)
    assert list(vault.store.list(PRUNE_PREFIX)) == []
    assert_ok(check_vault(vault, read_data=True))
    index = vault.load_index()
    assert b"".join(vault.read_chunk(index, DATA, cid) for cid, _n in chunks) == big


def test_prune_resurrects_a_pack_holding_the_tree_of_an_unchanged_rebackup(
    vault: Vault, clock: ManualClock, src: Path, tmp_path: Path
) -> None:
    """A backup of an unchanged tree deduplicates everything, its tree stream included."""
    running = vault.lease(LeaseKind.SHARED, "backup still running")
    clock.advance(1)
    old, packs = condemn_first_backup(vault, clock, src)
    again = dataclasses.replace(old, name=old.name + "0")
    vault.write_manifest(again, running)
    # a prune in this window neither fails nor deletes anything
    waiting = prune_vault(vault, NO_GRACE)
    assert (waiting.packs_deleted, waiting.records_waiting) == (0, 1)
    running.release()
    clock.advance(1)
    # before any sweep revives the pack, the new recovery point already restores and checks
    assert_ok(check_vault(vault, read_data=True))
    early = restore(vault, again.name, tmp_path / "early")
    assert early.failed == {}
    assert contents(restored(tmp_path / "early", src)) == contents(src)

    report = prune_vault(vault, NO_GRACE)

    assert report.packs_resurrected == len(packs)
    assert report.packs_deleted == 0
    assert_ok(check_vault(vault, read_data=True))
    result = restore(vault, again.name, tmp_path / "target")
    assert result.failed == {}
    assert contents(restored(tmp_path / "target", src)) == contents(src)


def test_a_condemned_pack_nobody_referenced_is_deleted_after_the_backup_ends(
    vault: Vault, clock: ManualClock, src: Path
) -> None:
    running = vault.lease(LeaseKind.SHARED, "backup still running")
    clock.advance(1)
    _old, packs = condemn_first_backup(vault, clock, src)
    running.release()
    clock.advance(1)

    report = prune_vault(vault, NO_GRACE)

    assert (report.packs_deleted, report.packs_resurrected) == (len(packs), 0)
    assert stored_packs(vault) == set()
    assert_ok(check_vault(vault, read_data=True))
