"""The CLI end to end: back up a tree full of awkward entries, restore it, compare everything."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import (
    RSVAULT,
    Cli,
    TreeBuilder,
    assert_same_tree,
    restore_args,
    restored,
    snapshot,
)

pytestmark = pytest.mark.xdist_group("e2e-roundtrip")

MiB = 1 << 20
OWNER = (1234, 5678)
SPARSE_SIZE = 48 * MiB
VAULT = "roundtrip"
ITEM = "rich"


def build_rich_tree(root: Path) -> Path:
    t = TreeBuilder(root, seed=7)
    t.file("regular.txt", b"hello rsvault\n" * 100)
    t.file("empty")
    t.sparse(
        "sparse.img",
        SPARSE_SIZE,
        {MiB: b"begin", 40 * MiB + 123: t.rng.randbytes(70_000), SPARSE_SIZE - 4: b"end!"},
    )
    t.random_file("random.bin", 3 * MiB + 12_345)
    t.file("with space.txt", b"spaces")
    t.file("new\nline", b"a newline in the name")
    t.file("-leading-dash", b"looks like an option")
    t.file("ünïcødé 日本語 ✓.txt", "ünïcødé ✓".encode())
    t.file(b"latin1-\xe9\xff.bin", b"a name that is not UTF-8")
    t.file("odd 'quote\" \\back*?[x]", b"shell and glob characters")
    t.dir("sub dir", mode=0o750, owner=OWNER, xattrs={"user.dir": b"on a directory"})
    t.file("sub dir/nested.txt", b"nested", mode=0o640, owner=OWNER)
    t.dir("sub dir/deep")
    t.file("sub dir/deep/deeper.txt", b"deeper\n" * 10)
    t.file("sub dir/deep/junk.tmp", b"temporary")
    t.file("cache.tmp", b"temporary too")
    t.symlink("sub dir/link-up", "../regular.txt", owner=OWNER)
    t.file("setuid-bin", b"#!/bin/sh\necho hi\n", mode=0o4755)
    t.file("setgid-owned", b"group", mode=0o2750, owner=OWNER)
    t.file("secret", b"for my eyes only", mode=0o600)
    t.file("owned", b"someone else's", owner=OWNER)
    t.file("xattr.txt", b"x", xattrs={"user.comment": b"hello", "user.binary": b"\x00\x01\xff"})
    t.dir("private", mode=0o700)
    t.file("private/key", b"k", mode=0o400)
    t.dir("sticky", mode=0o1777)
    t.dir("empty dir")
    t.symlink("link-rel", "regular.txt")
    t.symlink("link-abs", "/etc/hostname")
    t.symlink("link-dangling", "does/not/exist")
    t.symlink("link-dir", "sub dir")
    t.file("hl-a", b"three names, one inode", mode=0o604, owner=OWNER)
    t.hardlink("hl-c", "hl-a")
    t.hardlink("sub dir/hl-b", "hl-a")
    t.file("old", b"1980", mtime_ns=315_532_800_000_000_001)
    t.file("future", b"2100", mtime_ns=4_102_444_800_999_999_999)
    os.mkfifo(t.path("fifo"), 0o620)
    return t.finish()


@dataclass
class Setup:
    cli: Cli
    work: Path
    source: Path
    job: dict[str, Any]
    rp: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """One vault with one backup of the rich tree, shared by this module's tests."""
    work = tmp_path_factory.mktemp("roundtrip")
    source = build_rich_tree(work / "src")
    cli = Cli.with_home(work / "home")
    cli.create_vault(VAULT)
    job = cli.backup(VAULT, source, item=ITEM)
    assert job["warnings"] == [], job
    return Setup(cli, work, source, job, job["recoveryPoint"])


def test_recoverypoint_list_is_an_array_of_named_objects(setup: Setup) -> None:
    points = setup.cli.recovery_points(VAULT)
    assert isinstance(points, list)
    assert points, "no recovery points listed"
    assert all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in points), points
    assert setup.rp in [p["name"] for p in points]
    unknown = setup.cli.run(
        "recoverypoint", "list", "--vault-name", VAULT, "--item-name", "no-such-item", "-o", "json"
    )
    assert unknown.rc == 1
    assert json.loads(unknown.err)["error"]["code"] == "UserErrorProtectedItemNotFound"
    shown = setup.cli.ok("recoverypoint", "show", "--vault-name", VAULT, "--name", setup.rp)
    assert shown["name"] == setup.rp
    assert shown["item"] == ITEM
    assert shown["paths"] == [str(setup.source)]


def test_restore_everything_is_identical(setup: Setup) -> None:
    target = setup.work / "restore-all"
    job = setup.cli.restore(VAULT, setup.rp, target)
    assert job["status"] == "Completed", job
    assert job["warnings"] == [], job
    copy = restored(target, setup.source)
    tree = assert_same_tree(setup.source, copy)
    # the comparison really covered what it claims to
    kinds = [e.type for e in tree.entries.values()]
    assert {"file", "dir", "symlink", "fifo"} <= set(kinds)
    assert sum(1 for e in tree.entries.values() if e.hardlink_group == b"hl-a") == 3
    assert tree.entries[b"setuid-bin"].mode == 0o4755
    assert tree.entries[b"owned"].uid == OWNER[0]
    assert tree.entries[b"xattr.txt"].xattrs
    assert b"latin1-\xe9\xff.bin" in tree.entries
    st = (copy / "sparse.img").stat()
    assert st.st_size == SPARSE_SIZE
    # holes stay holes: only the three chunks (at most 4 MiB each) around the data are written
    assert st.st_blocks * 512 <= 3 * 4 * MiB + MiB, "the sparse file was restored dense"


def test_unchanged_second_backup_reads_nothing(setup: Setup) -> None:
    job = setup.cli.backup(VAULT, setup.source, item=ITEM)
    stats = job["stats"]
    assert stats["files"] == setup.job["stats"]["files"] > 0, stats
    assert stats["files_unchanged"] == stats["files"], stats
    assert stats["bytes_read"] == 0, stats
    assert stats["bytes_new"] < 64 * 1024, stats  # at most a new tree stream
    assert job["recoveryPoint"] != setup.rp
    names = [p["name"] for p in setup.cli.recovery_points(VAULT, item=ITEM)]
    assert {setup.rp, job["recoveryPoint"]} <= set(names)
    # the incremental recovery point is complete on its own
    target = setup.work / "restore-second"
    setup.cli.restore(VAULT, job["recoveryPoint"], target)
    assert_same_tree(setup.source, restored(target, setup.source))


def test_backup_on_a_terminal_draws_a_progress_bar(setup: Setup) -> None:
    """stderr on a terminal gets a bar; stdout, still a pipe, gets only the job's JSON."""
    args = ["backup", "files", "--vault-name", VAULT, "--path", str(setup.source)]
    argv = [RSVAULT, *args, "--item-name", "on-a-terminal", "--output", "json"]
    terminal, child_end = pty.openpty()
    proc = subprocess.Popen(argv, env=setup.cli.env, stdout=subprocess.PIPE, stderr=child_end)
    os.close(child_end)
    drawn = _read_until_closed(terminal)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, drawn
    assert json.loads(out)["status"] == "Completed"
    assert b"backup" in drawn, drawn  # the bar's title
    assert b"files" in drawn, drawn  # and its count of files
    assert b"\x1b[" in drawn, drawn  # drawn with terminal control codes, then erased


def _read_until_closed(terminal: int) -> bytes:
    chunks = []
    try:
        while data := os.read(terminal, 65536):
            chunks.append(data)
    except OSError:
        pass  # EIO: the last process holding the terminal's other end has exited
    finally:
        os.close(terminal)
    return b"".join(chunks)


def test_partial_restore_only_writes_that_subtree(setup: Setup) -> None:
    target = setup.work / "restore-part"
    wanted = setup.source / "sub dir"
    setup.cli.restore(VAULT, setup.rp, target, [wanted])
    copy = restored(target, setup.source)
    assert sorted(os.listdir(copy)) == ["sub dir"]
    assert_same_tree(wanted, copy / "sub dir")
    # a hard link whose first name was not selected comes back as a copy of the file
    assert (copy / "sub dir" / "hl-b").read_bytes() == b"three names, one inode"
    # only the ancestors of the source, the subtree and nothing else
    everything = snapshot(target).names()
    outside = [
        n
        for n in everything
        if not (n.startswith(os.fsencode(wanted.relative_to("/"))) or n in _ancestors(wanted))
    ]
    assert outside == [], outside


def _ancestors(path: Path) -> set[bytes]:
    parts = path.relative_to("/").parts
    return {b""} | {os.fsencode(os.path.join(*parts[:i])) for i in range(1, len(parts))}


def test_exclude_leaves_matching_files_out(setup: Setup) -> None:
    job = setup.cli.backup(VAULT, setup.source, excludes=["*.tmp"], item="rich-no-tmp")
    assert job["stats"]["files"] == setup.job["stats"]["files"] - 2, job["stats"]
    target = setup.work / "restore-no-tmp"
    setup.cli.restore(VAULT, job["recoveryPoint"], target)
    copy = restored(target, setup.source)
    tmp = sorted(n for n in snapshot(copy).names() if n.endswith(b".tmp"))
    assert tmp == []
    assert_same_tree(setup.source, copy, ignore=lambda rel: rel.endswith(b".tmp"))
    assert (setup.source / "cache.tmp").exists()  # excluded from the backup, not deleted


@pytest.mark.parametrize(
    "args",
    [
        ["backup", "files", "--vault-name", "nope", "--path", "/etc/hostname"],
        ["recoverypoint", "list", "--vault-name", "nope"],
        ["restore", "files", "--vault-name", "nope", "--rp-name", "x", "--target", "/tmp/x"],
        ["vault", "check", "--name", "nope"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_unknown_vault_exits_10(cli: Cli, args: list[str]) -> None:
    result = cli.fails("UserErrorVaultNotFound", *args, rc=10)
    assert result.out == "", "errors go to stderr, not stdout"
    assert result.error["message"], result.error


def test_errors_in_table_output_go_to_stderr(cli: Cli) -> None:
    table = cli.run("recoverypoint", "list", "--vault-name", "nope", output=None)
    assert table.rc == 10
    assert table.out == ""
    assert "UserErrorVaultNotFound" in table.err


def test_unknown_recovery_point(setup: Setup) -> None:
    target = setup.work / "restore-unknown-rp"
    result = setup.cli.fails(
        "UserErrorRecoveryPointNotFound",
        *restore_args(VAULT, "20990101T000000Z-deadbeef", target),
        rc=1,
    )
    assert result.out == ""
    assert not target.exists()
    setup.cli.fails(
        "UserErrorRecoveryPointNotFound",
        "recoverypoint",
        "show",
        "--vault-name",
        VAULT,
        "--name",
        "20990101T000000Z-deadbeef",
        rc=1,
    )


def test_restore_path_not_in_recovery_point(setup: Setup) -> None:
    target = setup.work / "restore-missing-path"
    missing = setup.source / "no such file"
    setup.cli.fails(
        "UserErrorRestorePathNotInRecoveryPoint",
        *restore_args(VAULT, setup.rp, target, [missing]),
        rc=1,
    )
    assert not target.exists() or not any(target.iterdir())


def test_tree_comparer_notices_every_kind_of_difference(tmp_path: Path) -> None:
    """The comparison the tests above rely on is not vacuous."""
    t = TreeBuilder(tmp_path / "a")
    t.file("f", b"data", owner=OWNER, xattrs={"user.k": b"v"})
    t.hardlink("g", "f")
    t.symlink("l", "f")
    t.file("h", b"other")
    original = t.finish()
    copy = tmp_path / "b"
    subprocess.run(["cp", "-a", original, copy], check=True)
    assert_same_tree(original, copy)

    def differs(change: Callable[[Path], object]) -> None:
        subprocess.run(["rm", "-rf", copy], check=True)
        subprocess.run(["cp", "-a", original, copy], check=True)
        change(copy)
        os.utime(copy, ns=(0, (original.lstat()).st_mtime_ns))
        with pytest.raises(AssertionError):
            assert_same_tree(original, copy)

    def same_time(path: Path, edit: Callable[[Path], object]) -> None:
        st = path.lstat()
        edit(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    differs(lambda c: same_time(c / "h", lambda p: p.write_bytes(b"OTHER")))
    differs(lambda c: os.chmod(c / "h", 0o600))
    differs(lambda c: os.chown(c / "h", 1, 1))
    differs(lambda c: os.utime(c / "h", ns=(0, 1)))
    differs(lambda c: os.setxattr(c / "h", "user.new", b"x"))

    def unlink_hardlink(path: Path) -> None:
        path.unlink()
        shutil.copy2(path.parent / "f", path)  # same bytes, mode, times and xattrs
        os.chown(path, *OWNER)

    differs(lambda c: same_time(c / "g", unlink_hardlink))
    differs(lambda c: same_time(c / "l", lambda p: (p.unlink(), p.symlink_to("h"))))
    differs(lambda c: (c / "extra").write_bytes(b""))
    differs(lambda c: (c / "h").unlink())
