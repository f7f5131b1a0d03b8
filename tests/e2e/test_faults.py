"""Faults through the real CLI: wrong passphrase, missing or read-only or full vault folders,
SIGKILL mid-backup, a flipped byte in a pack, concurrent backups, delete during a backup."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.e2e.conftest import (
    Cli,
    TreeBuilder,
    assert_same_tree,
    finish,
    folder_state,
    job_count,
    jobs,
    kill_hard,
    pack_files,
    remount,
    restore_args,
    restored,
    tmpfs,
    write_data_tree,
)

MiB = 1 << 20


def small_tree(root: Path, seed: int = 1) -> Path:
    t = TreeBuilder(root, seed)
    t.file("a.txt", b"alpha\n")
    t.random_file("b.bin", 300_000)
    t.dir("sub")
    t.file("sub/c.txt", b"gamma\n", mode=0o600)
    t.symlink("link", "a.txt")
    return t.finish()


def backup_args(vault: str, *paths: Path, item: str | None = None) -> list[str | Path]:
    args: list[str | Path] = ["backup", "files", "--vault-name", vault]
    for path in paths:
        args += ["--path", path]
    if item is not None:
        args += ["--item-name", item]
    return args


# --------------------------------------------------------------------------------------------
# (a) wrong passphrase


def test_wrong_passphrase_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    source = small_tree(tmp_path / "src")
    location = tmp_path / "vault"
    cli.create_vault("pp", location)
    cli.backup("pp", source)
    (source / "new.txt").write_bytes(b"something new to back up")
    before = folder_state(location)
    jobs = job_count(cli.home)
    assert jobs == job_count(cli.home, "Backup") == 1  # the query does see jobs

    wrong_env = cli.env_with(RSVAULT_PASSPHRASE="not the passphrase at all")
    result = cli.fails(
        "UserErrorPassphraseIncorrect", *backup_args("pp", source), env=wrong_env, rc=12
    )
    assert result.out == ""

    wrong_file = tmp_path / "wrong-passphrase"
    wrong_file.write_text("also not the passphrase\n")
    no_env = cli.env_with(RSVAULT_PASSPHRASE=None)
    args = [*backup_args("pp", source), "--passphrase-file", wrong_file]
    cli.fails("UserErrorPassphraseIncorrect", *args, env=no_env, rc=12)

    assert folder_state(location) == before, "a wrong passphrase changed the vault folder"
    assert job_count(cli.home) == jobs, "a wrong passphrase recorded a job"
    assert len(cli.recovery_points("pp")) == 1


# --------------------------------------------------------------------------------------------
# (b) missing and read-only vault folders


def test_missing_vault_folder(cli: Cli, tmp_path: Path) -> None:
    source = small_tree(tmp_path / "src")
    location = tmp_path / "disk" / "vault"
    cli.create_vault("gone", location)
    cli.backup("gone", source)
    shutil.rmtree(tmp_path / "disk")

    result = cli.fails("UserErrorVaultLocationUnusable", *backup_args("gone", source), rc=1)
    assert str(location) in result.error["message"] + result.error.get("detail", "")
    cli.fails("UserErrorVaultLocationUnusable", "recoverypoint", "list", "--vault-name", "gone")
    cli.fails("UserErrorVaultLocationUnusable", "vault", "check", "--name", "gone")
    assert not location.exists(), "the product recreated a missing vault folder"


def test_read_only_vault_folder(cli: Cli, tmp_path: Path) -> None:
    source = small_tree(tmp_path / "src")
    with tmpfs(tmp_path / "mnt", "32m") as mnt:
        location = mnt / "vault"
        cli.create_vault("ro", location)
        first = cli.backup("ro", source)
        (mnt / "empty").mkdir()
        (source / "new.txt").write_bytes(b"new data for the second backup")
        remount(mnt, "ro")

        result = cli.run(*backup_args("ro", source))
        assert result.rc == 1, result.describe()
        assert result.error_code == "UserErrorVaultLocationUnusable", result.describe()
        assert "read-only" in str(result.error).lower(), result.describe()

        for where in (mnt / "empty", mnt / "new" / "vault"):
            args = ["vault", "create", "--name", f"ro{len(where.parts)}", "--location", where]
            cli.fails("UserErrorVaultLocationUnusable", *args, rc=1)
        assert [v["name"] for v in cli.ok("vault", "list")] == ["ro"]
        assert [p["name"] for p in cli.recovery_points("ro")] == [first["recoveryPoint"]]


# --------------------------------------------------------------------------------------------
# (c) disk full


@pytest.mark.slow
def test_disk_full(cli: Cli, tmp_path: Path) -> None:
    source = write_data_tree(
        tmp_path / "src", seed=3, unique_files=6, unique_size=10 * MiB, duplicates=0
    )
    with tmpfs(tmp_path / "mnt", "24m") as mnt:
        cli.create_vault("full", mnt / "vault")
        result = cli.run(*backup_args("full", source))
        assert result.rc == 1, result.describe()
        assert result.error_code == "UserErrorNotEnoughSpace", result.describe()
        assert cli.recovery_points("full") == []
        failed = jobs(cli.home)[-1]
        assert failed["operation"] == "Backup", failed
        assert failed["status"] == "Failed", failed
        assert failed["error_code"] == "UserErrorNotEnoughSpace", failed

        check = cli.ok("vault", "check", "--name", "full")
        assert check["ok"] is True, check
        assert check["recoveryPoints"] == 0

        # the vault stays usable: reclaim what the failed backup left, then a small backup fits
        cli.ok("vault", "prune", "--name", "full", "--grace-period", "0")
        small = small_tree(tmp_path / "small")
        job = cli.backup("full", small)
        target = tmp_path / "restore"
        cli.restore("full", job["recoveryPoint"], target)
        assert_same_tree(small, restored(target, small))
        assert cli.ok("vault", "check", "--name", "full", "--read-data")["ok"] is True


def test_a_full_disk_under_rsvault_home_is_not_enough_space(tmp_path: Path) -> None:
    """The catalog cannot grow: every command says the disk is full, and where."""
    source = small_tree(tmp_path / "src")
    with tmpfs(tmp_path / "home", "2m") as home:
        cli = Cli.with_home(home / "state")
        cli.create_vault("homefull", tmp_path / "vault")
        with (home / "filler").open("wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(bytes(64 * 1024))
                filler.flush()
        for args in (backup_args("homefull", source), ["vault", "list"]):
            result = cli.run(*args)
            assert result.rc == 1, result.describe()
            assert result.error_code == "UserErrorNotEnoughSpace", result.describe()
            assert str(home / "state") in result.error["message"], result.describe()


def test_a_restore_target_that_fills_up(cli: Cli, tmp_path: Path) -> None:
    """A full target is UserErrorNotEnoughSpace, and no partial file is left behind."""
    # large enough for the restore to run in worker processes, whose refused write must
    # reach the job as it would in this process
    source = write_data_tree(
        tmp_path / "src", seed=4, unique_files=2, unique_size=20 * MiB, duplicates=0
    )
    cli.create_vault("tfull")
    job = cli.backup("tfull", source)
    with tmpfs(tmp_path / "small", "4m") as small:
        result = cli.run(*restore_args("tfull", job["recoveryPoint"], small))
        assert result.rc == 1, result.describe()
        assert result.error_code == "UserErrorNotEnoughSpace", result.describe()
        assert str(small) in result.error["message"]
        left = [p.name for p in small.rglob("*") if p.is_file()]
        assert not [name for name in left if name.startswith(".rsvault-tmp-")], left
    restored_job = jobs(cli.home)[-1]
    assert restored_job["operation"] == "Restore", restored_job
    assert restored_job["error_code"] == "UserErrorNotEnoughSpace", restored_job


# --------------------------------------------------------------------------------------------
# (d) SIGKILL at random points of a backup


def _kill_tree(root: Path, seed: int) -> Path:
    """~150 MiB: 10 random 10 MiB files, 5 copies of some of them, small files."""
    return write_data_tree(
        root, seed=seed, unique_files=10, unique_size=10 * MiB, duplicates=5, small_files=40
    )


def _blobs(folder: Path) -> int:
    """Finished blobs in a vault folder (temporary files of a put in progress not counted)."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("tmp~"))


@dataclass
class _Watch:
    """What a running backup has done so far, as seen in the vault folder."""

    location: Path
    proc: subprocess.Popen[bytes]
    packs_before: int
    indexes_before: int

    def leased(self) -> bool:
        return self.proc.pid in _lease_pids(self.location / "locks")

    def new_packs(self) -> int:
        return _blobs(self.location / "data") - self.packs_before

    def new_indexes(self) -> int:
        return _blobs(self.location / "index") - self.indexes_before

    def until(self, condition: Callable[[], bool], timeout: float = 120) -> bool:
        """Poll for `condition`; False if the backup ended first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.002)
        return True


@pytest.mark.slow
def test_sigkill_during_backup(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(20261121)
    source = _kill_tree(tmp_path / "src", seed=100)
    location = tmp_path / "vault"
    cli.create_vault("kills", location)
    cli.backup("kills", source)
    packs = _blobs(location / "data")  # how many packs a full backup of this tree writes
    assert packs >= 5, packs

    # Each kill comes a random (seeded) moment after the backup reaches a phase; the phases
    # are observed in the vault folder, so they do not depend on how loaded the machine is.
    phases: list[tuple[str, Callable[[_Watch], bool], float]] = [
        ("early: lease taken, no pack yet", _Watch.leased, 0.05),
        ("mid-transfer: 2 packs written", lambda w: w.new_packs() >= 2, 0.05),
        ("last pack being written", lambda w: w.new_packs() >= packs - 1, 0.02),
        ("index written, manifest next", lambda w: w.new_indexes() >= 1, 0.002),
    ]
    outcomes = []
    for number, (phase, reached, spread) in enumerate(phases):
        _kill_tree(source, seed=number)  # new contents: the killed backup has data to send
        proc = cli.popen(*backup_args("kills", source, item="server"))
        watch = _Watch(location, proc, _blobs(location / "data"), _blobs(location / "index"))
        on_time = watch.until(lambda: reached(watch))  # noqa: B023
        delay = rng.uniform(0, spread)
        time.sleep(delay)
        killed = kill_hard(proc)
        outcomes.append((phase, round(delay, 3), on_time, killed.rc, watch.new_packs()))

        check = cli.ok("vault", "check", "--name", "kills")
        assert check["ok"] is True, (outcomes, check)
        job = cli.backup("kills", source, item="server")
        target = tmp_path / f"restore-{number}"
        cli.restore("kills", job["recoveryPoint"], target)
        assert_same_tree(source, restored(target, source))
        shutil.rmtree(target)

    context = f"kills (phase, delay, phase reached, rc, new packs): {outcomes}"
    landed = [o for o in outcomes if o[2] and o[3] == -signal.SIGKILL]
    assert len(landed) >= 3, context

    pruned = cli.ok("vault", "prune", "--name", "kills", "--grace-period", "0")
    assert pruned["packsDeleted"] > 0 or pruned["temporariesRemoved"] > 0, (context, pruned)
    print(context, pruned)  # shown with -s, or when a later assertion fails
    assert pruned["recordsWaiting"] == 0, pruned
    check = cli.ok("vault", "check", "--name", "kills", "--read-data")
    assert check["ok"] is True, check
    assert check["reclaimablePacks"] == 0, check
    assert not list(location.rglob("tmp~*")), "temporary files survived prune"
    # the newest recovery point still restores after prune
    last = cli.recovery_points("kills", item="server")[-1]["name"]
    target = tmp_path / "restore-after-prune"
    cli.restore("kills", last, target)
    assert_same_tree(source, restored(target, source))


# --------------------------------------------------------------------------------------------
# (e) a flipped byte in a pack


def test_flipped_byte_is_found_and_never_restored(cli: Cli, tmp_path: Path) -> None:
    t = TreeBuilder(tmp_path / "src", seed=5)
    t.random_file("shared.bin", 6 * MiB)  # dominates the first pack: its middle is in here
    t.file("first.txt", b"only in the first backup\n")
    source = t.finish()
    location = tmp_path / "vault"
    cli.create_vault("flip", location)
    rp1 = cli.backup("flip", source)["recoveryPoint"]
    (source / "second.txt").write_bytes(b"added for the second backup\n")
    job2 = cli.backup("flip", source)
    rp2 = job2["recoveryPoint"]
    assert job2["stats"]["files_unchanged"] == 2, job2["stats"]  # shared.bin is shared

    pack = max(pack_files(location), key=lambda p: p.stat().st_size)
    middle = pack.stat().st_size // 2
    with open(pack, "r+b") as handle:
        handle.seek(middle)
        byte = handle.read(1)
        handle.seek(middle)
        handle.write(bytes([byte[0] ^ 0x40]))

    result = cli.run("vault", "check", "--name", "flip", "--read-data")
    assert result.rc == 1, result.describe()
    assert result.error_code == "VaultCheckFailed", result.describe()
    view = result.out
    assert isinstance(view, dict), result.describe()
    assert view["ok"] is False
    assert sorted(view["affectedRecoveryPoints"]) == sorted([rp1, rp2]), view
    bad = [p for p in view["problems"] if p["kind"] == "bad-chunk"]
    assert bad, view["problems"]
    assert any(sorted(p["recovery_points"]) == sorted([rp1, rp2]) for p in bad), bad
    assert any(str(source / "shared.bin") in p["paths"] for p in bad), bad

    # the structure check alone does not read data: it still passes
    assert cli.ok("vault", "check", "--name", "flip")["ok"] is True

    target = tmp_path / "restore"
    result = cli.run(*restore_args("flip", rp2, target))
    assert result.rc == 1, result.describe()
    assert result.error_code == "VaultDataCorrupt", result.describe()
    copy = restored(target, source)
    assert not (copy / "shared.bin").exists(), "a file with a bad chunk was written"
    assert (copy / "first.txt").read_bytes() == (source / "first.txt").read_bytes()
    assert (copy / "second.txt").read_bytes() == (source / "second.txt").read_bytes()
    leftovers = [p.name for p in copy.iterdir() if p.name not in ("first.txt", "second.txt")]
    assert leftovers == [], "temporary files were left in the target"

    only = tmp_path / "restore-only"
    args = restore_args("flip", rp1, only, [source / "shared.bin"])
    cli.fails("VaultDataCorrupt", *args, rc=1)
    assert not restored(only, source / "shared.bin").exists()
    assert list(restored(only, source).iterdir()) == []


# --------------------------------------------------------------------------------------------
# (f) two backups into one vault at once


def _lease_pids(locks: Path) -> set[int]:
    pids = set()
    for lease in locks.glob("*"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            pids.add(int(json.loads(lease.read_bytes())["pid"]))
    return pids


def _run_together(procs: list[subprocess.Popen[bytes]], locks: Path) -> int:
    """Wait for `procs`; the first to take its lease waits (SIGSTOP) until the other has one
    too, so the backups really overlap however the two processes' start-ups race.
    Returns the most leases seen held at once."""
    ours = {proc.pid for proc in procs}
    paused: int | None = None
    most = 0
    try:
        while any(proc.poll() is None for proc in procs):
            held = _lease_pids(locks) & ours
            most = max(most, len(held))
            finished = any(proc.poll() is not None for proc in procs)
            if paused is None and most == 1 and len(held) == 1 and not finished:
                paused = held.pop()
                os.kill(paused, signal.SIGSTOP)
            elif paused is not None and (len(held) == 2 or finished):
                os.kill(paused, signal.SIGCONT)
                paused = None
            time.sleep(0.005)
    finally:
        if paused is not None:
            os.kill(paused, signal.SIGCONT)
    return most


@pytest.mark.slow
def test_two_backups_at_once(cli: Cli, tmp_path: Path) -> None:
    common = random.Random(9).randbytes(8 * MiB)  # both race to store the same chunks
    sources = []
    for name, seed in (("one", 1), ("two", 2)):
        t = TreeBuilder(tmp_path / name, seed)
        t.file("common.bin", common)
        for number in range(3):
            t.random_file(f"own-{number}.bin", 4 * MiB)
        t.file("small.txt", name.encode())
        sources.append(t.finish())
    cli.create_vault("twice", tmp_path / "vault")

    # Two items (one operation per item at a time is the rule; two items may overlap).
    procs = [cli.popen(*backup_args("twice", source, item=source.name)) for source in sources]
    try:
        overlap = _run_together(procs, tmp_path / "vault" / "locks")
    finally:
        results = [finish(proc) for proc in procs]
    for result in results:
        assert result.rc == 0, result.describe()
        assert result.out["status"] == "Completed", result.out
    assert overlap == 2, "the two backups did not hold the vault at the same time"
    points = {r.out["recoveryPoint"] for r in results}
    assert len(points) == 2
    assert {p["name"] for p in cli.recovery_points("twice")} == points

    for number, (source, result) in enumerate(zip(sources, results, strict=True)):
        target = tmp_path / f"restore-{number}"
        cli.restore("twice", result.out["recoveryPoint"], target)
        assert_same_tree(source, restored(target, source))
        other = sources[1 - number]
        assert not restored(target, other).exists()
    assert cli.ok("vault", "check", "--name", "twice", "--read-data")["ok"] is True


# --------------------------------------------------------------------------------------------
# (g) deleting a vault while a backup holds it


@contextlib.contextmanager
def stopped(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP a running backup, so it holds its lease for as long as the test needs."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def _wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the backup ended before the test could catch it"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.slow
def test_delete_while_backup_runs(cli: Cli, tmp_path: Path) -> None:
    source = write_data_tree(
        tmp_path / "src", seed=8, unique_files=6, unique_size=10 * MiB, duplicates=2
    )
    location = tmp_path / "vault"
    cli.create_vault("busy", location)
    locks = location / "locks"

    proc = cli.popen(*backup_args("busy", source))
    try:
        # mid-backup: it holds its lease and has started writing packs
        _wait_for(lambda: any(locks.glob("*")) and any((location / "data").rglob("*")), proc)
        with stopped(proc):
            assert proc.poll() is None
            for extra in ([], ["--delete-backup-data"]):
                args = ["vault", "delete", "--name", "busy", "--yes", *extra]
                result = cli.fails("UserErrorVaultLocked", *args, rc=11)
                assert "backup" in result.error["message"], result.error  # names the holder
            assert (location / "config").exists()
            assert [v["name"] for v in cli.ok("vault", "list")] == ["busy"]
        done = finish(proc)
    except BaseException:
        kill_hard(proc)
        raise
    assert done.rc == 0, done.describe()
    target = tmp_path / "restore"
    cli.restore("busy", done.out["recoveryPoint"], target)
    assert_same_tree(source, restored(target, source))

    # once the backup is done: a vault with data is kept unless the data goes too
    cli.fails("UserErrorVaultNotEmpty", "vault", "delete", "--name", "busy", "--yes", rc=1)
    cli.ok("vault", "delete", "--name", "busy", "--yes", "--delete-backup-data")
    assert not location.exists()
    assert cli.ok("vault", "list") == []
