"""RestoreTarget: nothing lands outside the root, replacement is atomic, errors are typed."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.target import (
    RestoreTarget,
    commit_unnamed_file,
    create_temp_file,
    create_unnamed_file,
    creation_mode,
)

UNSAFE = [b"../x", b"a/../../x", b"/etc/passwd", b"a//b", b"a/./b", b"", b"a\x00b", b"a/", b"."]


@pytest.fixture
def root(base: Path) -> Path:
    return base / "restore"


@pytest.fixture
def target(root: Path) -> Iterator[RestoreTarget]:
    with RestoreTarget(root) as t:
        yield t


@pytest.fixture
def elsewhere(base: Path) -> Path:
    outside = base / "elsewhere"
    outside.mkdir()
    return outside


def write_file(target: RestoreTarget, rel: bytes, data: bytes) -> None:
    fd, temp = target.open_temp_file(rel)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    target.commit_temp_file(rel, temp)


def unsafe(excinfo: pytest.ExceptionInfo[RsvaultError]) -> bool:
    return excinfo.value.code is Code.RESTORE_UNSAFE_PATH


@pytest.mark.parametrize("rel", UNSAFE)
def test_unsafe_paths_are_refused_by_every_operation(
    target: RestoreTarget, root: Path, rel: bytes
) -> None:
    node = Node(rel, NodeType.FIFO, 0o600, 0, 0, 0)
    operations: list[Callable[[], object]] = [
        lambda: target.check_path(rel),
        lambda: target.prepare_parent(rel),
        lambda: target.make_dir(rel),
        lambda: target.make_symlink(rel, b"x"),
        lambda: target.make_hardlink(rel, b"ok"),
        lambda: target.make_hardlink(b"ok", rel),
        lambda: target.make_special(rel, node),
        lambda: target.open_temp_file(rel),
    ]
    for operation in operations:
        with pytest.raises(RsvaultError) as caught:
            operation()
        assert unsafe(caught)
        assert "\x00" not in str(caught.value.params["path"])
    assert list(root.iterdir()) == []


def test_safe_paths_are_returned_unchanged(target: RestoreTarget) -> None:
    for rel in (b"a", b"a/b/c", b"..a/b..", b"-x/ y /caf\xe9", b".hidden/.x"):
        assert target.check_path(rel) == rel


@pytest.mark.parametrize(
    "rel", [b"link/file", b"link/deeper/file", b"a/link/file"], ids=["top", "deep", "nested"]
)
def test_a_symlink_planted_in_the_target_is_never_followed(
    root: Path, elsewhere: Path, rel: bytes
) -> None:
    (root / "a").mkdir(parents=True)
    os.symlink(elsewhere, root / "link")
    os.symlink(elsewhere, root / "a" / "link")
    node = Node(rel, NodeType.FIFO, 0o600, 0, 0, 0)
    with RestoreTarget(root) as target:
        for operation in (
            lambda: target.open_temp_file(rel),
            lambda: target.make_dir(rel),
            lambda: target.make_symlink(rel, b"/etc/passwd"),
            lambda: target.make_special(rel, node),
            lambda: target.prepare_parent(rel),
        ):
            with pytest.raises(RsvaultError) as caught:
                operation()
            assert unsafe(caught)
            assert caught.value.detail is not None
            assert "symbolic link" in caught.value.detail
    assert list(elsewhere.iterdir()) == []


def test_a_symlink_restored_earlier_is_not_followed_either(
    target: RestoreTarget, elsewhere: Path
) -> None:
    target.make_dir(b"d")
    target.make_symlink(b"d/link", os.fsencode(elsewhere))
    with pytest.raises(RsvaultError) as caught:
        write_file(target, b"d/link/file", b"x")
    assert unsafe(caught)
    assert list(elsewhere.iterdir()) == []


def test_a_symlink_at_the_final_name_is_replaced_not_followed(
    target: RestoreTarget, root: Path, elsewhere: Path
) -> None:
    victim = elsewhere / "victim"
    victim.write_bytes(b"precious")
    for name in ("f", "d", "s", "l"):
        os.symlink(victim, root / name)
    write_file(target, b"f", b"new")
    target.make_dir(b"d")
    target.make_special(b"s", Node(b"s", NodeType.FIFO, 0o600, 0, 0, 0))
    target.make_symlink(b"l", b"elsewhere")
    assert (root / "f").read_bytes() == b"new"
    assert not (root / "f").is_symlink()
    assert (root / "d").is_dir()
    assert not (root / "d").is_symlink()
    assert stat.S_ISFIFO(os.lstat(root / "s").st_mode)
    assert os.readlink(root / "l") == "elsewhere"
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim"]


def test_a_regular_file_where_a_directory_is_needed_is_an_os_error(
    target: RestoreTarget, root: Path
) -> None:
    write_file(target, b"f", b"x")
    with pytest.raises(NotADirectoryError):
        target.open_temp_file(b"f/child")
    assert (root / "f").read_bytes() == b"x"


def test_missing_parents_are_made_private(target: RestoreTarget, root: Path) -> None:
    write_file(target, b"a/b/c/file", b"x")
    assert (root / "a/b/c/file").read_bytes() == b"x"
    for directory in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE(os.lstat(root / directory).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(root / "a/b/c/file").st_mode) == 0o600


def test_commit_replaces_atomically(target: RestoreTarget, root: Path) -> None:
    write_file(target, b"dir/f", b"old")
    old_inode = os.lstat(root / "dir/f").st_ino
    with (root / "dir/f").open("rb") as reader:
        fd, temp = target.open_temp_file(b"dir/f")
        os.write(fd, b"new")
        os.close(fd)
        assert (root / "dir/f").read_bytes() == b"old"  # untouched until the commit
        target.commit_temp_file(b"dir/f", temp)
        assert reader.read() == b"old"  # a reader of the old file is not disturbed
    assert (root / "dir/f").read_bytes() == b"new"
    assert os.lstat(root / "dir/f").st_ino != old_inode
    assert sorted(p.name for p in (root / "dir").iterdir()) == ["f"]


def test_commit_refuses_to_replace_a_directory(target: RestoreTarget, root: Path) -> None:
    target.make_dir(b"d/sub")
    (root / "d/sub/keep").write_bytes(b"")
    fd, temp = target.open_temp_file(b"d/sub")
    os.close(fd)
    with pytest.raises(IsADirectoryError):
        target.commit_temp_file(b"d/sub", temp)
    assert (root / "d/sub/keep").exists()
    assert sorted(p.name for p in (root / "d").iterdir()) == ["sub"]  # temp removed


def unnamed_file(target: RestoreTarget, rel: bytes, data: bytes) -> tuple[int, int, bytes, bytes]:
    """(directory fd, unnamed file fd, temp name, name) with `data` written, not yet named."""
    dir_fd, name, temp = target.reserve_temp_file(rel)
    fd = create_unnamed_file(dir_fd)
    assert fd is not None  # every file system the tests run on can make unnamed files
    os.write(fd, data)
    return dir_fd, fd, temp, name


def test_an_unnamed_file_is_invisible_until_it_is_named(target: RestoreTarget, root: Path) -> None:
    dir_fd, fd, temp, name = unnamed_file(target, b"dir/new", b"contents")
    try:
        assert list((root / "dir").iterdir()) == []
        commit_unnamed_file(dir_fd, fd, temp, name)
    finally:
        os.close(fd)
    assert (root / "dir/new").read_bytes() == b"contents"
    assert sorted(p.name for p in (root / "dir").iterdir()) == ["new"]


def test_an_unnamed_file_never_named_leaves_nothing(target: RestoreTarget, root: Path) -> None:
    _dir_fd, fd, _temp, _name = unnamed_file(target, b"dir/abandoned", b"half of it")
    os.close(fd)  # a bad chunk, or a worker killed halfway
    assert list((root / "dir").iterdir()) == []


def test_naming_an_unnamed_file_replaces_atomically(target: RestoreTarget, root: Path) -> None:
    write_file(target, b"dir/f", b"old")
    with (root / "dir/f").open("rb") as reader:
        dir_fd, fd, temp, name = unnamed_file(target, b"dir/f", b"new")
        try:
            commit_unnamed_file(dir_fd, fd, temp, name)
        finally:
            os.close(fd)
        assert reader.read() == b"old"
    assert (root / "dir/f").read_bytes() == b"new"
    assert sorted(p.name for p in (root / "dir").iterdir()) == ["f"]


def test_naming_an_unnamed_file_refuses_a_directory_and_bad_names(
    target: RestoreTarget, root: Path
) -> None:
    target.make_dir(b"d/sub")
    dir_fd, fd, temp, name = unnamed_file(target, b"d/sub", b"not a directory")
    try:
        with pytest.raises(IsADirectoryError):
            commit_unnamed_file(dir_fd, fd, temp, name)
        for bad in (b"../x", b"a/b", b".", b"", b"x\x00"):
            with pytest.raises(RsvaultError) as caught:
                commit_unnamed_file(dir_fd, fd, temp, bad)
            assert unsafe(caught)
    finally:
        os.close(fd)
    assert sorted(p.name for p in (root / "d").iterdir()) == ["sub"]  # temp removed


def test_discard_and_temp_name_rules(target: RestoreTarget, root: Path) -> None:
    long_name = b"n" * 255
    fd, temp = target.open_temp_file(long_name)
    os.close(fd)
    assert len(temp) <= 255
    assert temp.startswith(b".rsvault-tmp-")
    target.discard_temp_file(long_name, temp)
    target.discard_temp_file(long_name, temp)  # twice is fine
    assert list(root.iterdir()) == []
    for bad in (b"../x", b"victim", b".rsvault-tmp-/../x"):
        with pytest.raises(RsvaultError) as caught:
            target.commit_temp_file(b"x", bad)
        assert unsafe(caught)


def test_hard_links_and_restoring_them_again(target: RestoreTarget, root: Path) -> None:
    for _ in range(2):  # the second round restores over the first
        write_file(target, b"a/first", b"shared")
        target.make_hardlink(b"b/second", b"a/first")
        target.make_hardlink(b"a/third", b"a/first")
    inodes = {os.lstat(root / p).st_ino for p in ("a/first", "b/second", "a/third")}
    assert len(inodes) == 1
    assert os.lstat(root / "a/first").st_nlink == 3
    assert sorted(p.name for p in (root / "a").iterdir()) == ["first", "third"]


def test_special_files(target: RestoreTarget, root: Path) -> None:
    device = Node(b"dev/null", NodeType.CHAR_DEVICE, 0o666, 0, 0, 0, rdev=os.makedev(1, 3))
    assert target.make_special(b"dev/null", device) == []
    st = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(st.st_mode)
    assert st.st_rdev == os.makedev(1, 3)
    assert target.make_special(b"p", Node(b"p", NodeType.FIFO, 0o600, 0, 0, 0)) == []
    assert stat.S_ISFIFO(os.lstat(root / "p").st_mode)
    socket = Node(b"run/sock", NodeType.SOCKET, 0o777, 0, 0, 0)
    warnings = target.make_special(b"run/sock", socket)
    assert [(w.code, w.path) for w in warnings] == [(Code.METADATA_NOT_RESTORED, "/run/sock")]
    assert not (root / "run").exists()
    with pytest.raises(ValueError, match="FILE"):
        target.make_special(b"f", Node(b"f", NodeType.FILE, 0o600, 0, 0, 0))


def test_existing_directories_and_contents_are_kept(root: Path) -> None:
    (root / "d").mkdir(parents=True)
    (root / "d" / "old").write_bytes(b"old")
    (root / "d").chmod(0o755)
    with RestoreTarget(root) as target:
        target.check_writable()
        target.make_dir(b"d")
        write_file(target, b"d/new", b"new")
    assert (root / "d/old").read_bytes() == b"old"
    assert stat.S_IMODE(os.lstat(root / "d").st_mode) == 0o755


def test_a_missing_root_is_created_with_its_parents(base: Path) -> None:
    root = base / "x" / "y" / "restore"
    with RestoreTarget(root) as target:
        target.check_writable()
    assert root.is_dir()
    assert list(root.iterdir()) == []


def test_directory_fds_are_cached_bounded_and_closed(root: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    with RestoreTarget(root) as target:
        for i in range(200):
            write_file(target, b"wide/%d/deep/f" % i, b"")
        assert open_fds() - before <= 64 + 1
        deep = b"/".join([b"d"] * 100)
        write_file(target, deep + b"/f", b"deep")  # deeper than the cache
        target.make_hardlink(b"wide/0/deep/g", deep + b"/f")
        assert open_fds() - before <= 64 + 1
    assert open_fds() == before
    assert (root / "wide/0/deep/g").read_bytes() == b"deep"


@pytest.fixture
def read_only(base: Path) -> Iterator[Path]:
    mount_point = base / "ro"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_read_only_targets_are_not_writable(read_only: Path) -> None:
    with RestoreTarget(read_only) as target, pytest.raises(RsvaultError) as caught:
        target.check_writable()
    assert caught.value.code is Code.RESTORE_TARGET_NOT_WRITABLE
    assert caught.value.params == {"target": str(read_only), "reason": "Read-only file system"}
    with pytest.raises(RsvaultError) as caught:
        RestoreTarget(read_only / "new" / "restore")
    assert caught.value.code is Code.RESTORE_TARGET_NOT_WRITABLE
    assert "Read-only file system" in str(caught.value)


def test_a_root_that_is_a_file_is_not_writable(base: Path) -> None:
    (base / "file").write_bytes(b"")
    with pytest.raises(RsvaultError) as caught:
        RestoreTarget(base / "file")
    assert caught.value.code is Code.RESTORE_TARGET_NOT_WRITABLE


def fail(target: RestoreTarget) -> None:
    """End `target` as a failed restore does."""
    failure = RuntimeError("the restore failed")
    target.__exit__(RuntimeError, failure, None)


def test_temp_files_reserved_together_are_removed_if_the_restore_fails(root: Path) -> None:
    target = RestoreTarget(root)
    fds, reserved = target.reserve_temp_files([b"a/x", b"a/y", b"b/c/z"])
    assert len(fds) == 2
    assert [number for number, _n, _t in reserved] == [0, 0, 1]
    assert [name for _n, name, _t in reserved] == [b"x", b"y", b"z"]
    for number, _name, temp in reserved:
        os.close(create_temp_file(fds[number], temp))
    for fd in fds:
        os.close(fd)  # duplicates: the target's own stay open for the clean-up
    assert len(list(root.rglob(".rsvault-tmp-*"))) == 3
    fail(target)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["a", "b", "b/c"]


def test_temp_files_forgotten_together_are_left_alone(root: Path) -> None:
    target = RestoreTarget(root)
    fds, reserved = target.reserve_temp_files([b"d/kept", b"d/removed"])
    for _number, _name, temp in reserved:
        os.close(create_temp_file(fds[0], temp))
    os.close(fds[0])
    target.forget_temp_files([reserved[0][2]])  # committed or discarded by its writer
    fail(target)
    assert [p.name.endswith("-kept") for p in (root / "d").iterdir()] == [True]


@pytest.mark.parametrize("bad", UNSAFE[:4])
def test_one_unsafe_name_refuses_the_whole_reservation(target: RestoreTarget, bad: bytes) -> None:
    with pytest.raises(RsvaultError) as caught:
        target.reserve_temp_files([b"fine/one", bad, b"fine/two"])
    assert caught.value.code is Code.RESTORE_UNSAFE_PATH
    with pytest.raises(RsvaultError):
        target.forget_temp_files([b"not-a-temp-name"])


@pytest.mark.parametrize(
    ("final", "created"),
    [(0o644, 0o644), (0o755, 0o755), (0o444, 0o644), (0o666, 0o644), (0o4777, 0o755), (0, 0o200)],
)
def test_files_are_created_with_no_more_than_their_final_mode_allows(
    target: RestoreTarget, final: int, created: int
) -> None:
    # never writable by others, never set-id before the contents are verified; the owner
    # can always write (the direct-write descriptor is opened by path)
    assert creation_mode(final) == created
    dir_fd, _name, temp = target.reserve_temp_file(b"dir/f")
    umask = os.umask(0)
    try:
        unnamed = create_unnamed_file(dir_fd, final)
        named = create_temp_file(dir_fd, temp, final)
    finally:
        os.umask(umask)
    assert unnamed is not None
    for fd in (unnamed, named):
        try:
            assert stat.S_IMODE(os.fstat(fd).st_mode) == created
        finally:
            os.close(fd)
