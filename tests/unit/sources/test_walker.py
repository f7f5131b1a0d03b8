"""The walker over real trees: every entry type, odd names, order, excludes, roots, warnings."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.walker import absolute_path, walk

ODD_NAMES = [
    "naïve résumé.txt",
    "日本語",
    "with space",
    "new\nline",
    "-leading-dash",
    "--",
]


def rel(path: Path | bytes) -> bytes:
    """The Node.path of an absolute path."""
    return os.fsencode(path)[1:]


def split(items: Iterator[Node | JobWarning]) -> tuple[list[Node], list[JobWarning]]:
    all_items = list(items)
    nodes = [i for i in all_items if isinstance(i, Node)]
    warnings = [i for i in all_items if isinstance(i, JobWarning)]
    return nodes, warnings


def by_path(nodes: list[Node]) -> dict[bytes, Node]:
    return {n.path: n for n in nodes}


def build_tree(src: Path) -> None:
    (src / "dir" / "sub" / "deeper").mkdir(parents=True)
    (src / "dir" / "file.txt").write_bytes(b"hello\n")
    (src / "dir" / "sub" / "deeper" / "leaf").write_bytes(b"leaf")
    (src / "empty").write_bytes(b"")
    with (src / "sparse").open("wb") as f:
        f.truncate(8 * 1024 * 1024)
        f.seek(4 * 1024 * 1024)
        f.write(b"x")
    os.symlink("dir/file.txt", src / "link")
    os.symlink("/nonexistent/target", src / "dangling")
    (src / "hard1").write_bytes(b"shared")
    os.link(src / "hard1", src / "hard2")
    os.link(src / "hard1", src / "dir" / "hard3")
    os.mkfifo(src / "fifo")
    for name in ODD_NAMES:
        (src / name).write_bytes(name.encode())
    (src / os.fsdecode(b"caf\xe9")).write_bytes(b"latin-1 name")


@pytest.fixture
def src(base: Path) -> Path:
    root = base / "src"
    root.mkdir()
    build_tree(root)
    return root


def test_ancestors_come_first_once_then_the_tree_in_sorted_depth_first_order(src: Path) -> None:
    nodes, warnings = split(walk([str(src)]))
    assert warnings == []
    paths = [n.path for n in nodes]
    ancestors = [rel(p) for p in reversed(src.parents) if p != Path("/")]
    assert paths[: len(ancestors)] == ancestors
    assert len(paths) == len(set(paths))
    tree = paths[len(ancestors) :]
    # pre-order with sorted siblings == sorting by the list of names
    assert tree == sorted(tree, key=lambda p: p.split(b"/"))
    expected = {rel(src)} | {rel(p) for p in src.rglob("*")}
    assert set(tree) == expected
    assert all(n.type is NodeType.DIR for n in nodes[: len(ancestors) + 1])


def test_entry_types_and_metadata(src: Path) -> None:
    nodes = by_path(split(walk([str(src)]))[0])
    f = nodes[rel(src / "dir/file.txt")]
    st = os.lstat(src / "dir/file.txt")
    assert (f.type, f.size, f.uid, f.gid) == (NodeType.FILE, 6, 0, 0)
    assert f.mode == stat.S_IMODE(st.st_mode)
    assert (f.mtime_ns, f.atime_ns, f.ctime_ns) == (st.st_mtime_ns, st.st_atime_ns, st.st_ctime_ns)
    assert (f.inode, f.device, f.nlink) == (st.st_ino, st.st_dev, 1)
    assert (f.user, f.group) == ("root", "root")
    assert f.chunks == []  # contents are the engine's business
    assert nodes[rel(src / "empty")].size == 0
    assert nodes[rel(src / "sparse")].size == 8 * 1024 * 1024
    d = nodes[rel(src / "dir")]
    assert (d.type, d.size, d.link_target) == (NodeType.DIR, 0, None)
    assert nodes[rel(src / "link")].type is NodeType.SYMLINK
    assert nodes[rel(src / "link")].link_target == b"dir/file.txt"
    assert nodes[rel(src / "link")].size == 0
    assert nodes[rel(src / "dangling")].link_target == b"/nonexistent/target"
    assert nodes[rel(src / "fifo")].type is NodeType.FIFO


def test_hard_links_point_to_the_first_name_in_walk_order(src: Path) -> None:
    nodes = by_path(split(walk([str(src)]))[0])
    first = nodes[rel(src / "dir/hard3")]  # b'dir' sorts before b'hard1'
    assert (first.type, first.link_target, first.nlink) == (NodeType.FILE, None, 3)
    for name in ("hard1", "hard2"):
        node = nodes[rel(src / name)]
        assert node.type is NodeType.HARDLINK
        assert node.link_target == rel(src / "dir/hard3")
        assert (node.inode, node.size) == (first.inode, 6)


def test_odd_names_survive_as_bytes(src: Path) -> None:
    nodes = by_path(split(walk([str(src)]))[0])
    for name in ODD_NAMES:
        assert nodes[rel(src / name)].size == len(name.encode())
    assert rel(src) + b"/caf\xe9" in nodes


def test_device_nodes_record_rdev(base: Path) -> None:
    os.mknod(base / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    node = by_path(split(walk([str(base / "null")]))[0])[rel(base / "null")]
    assert (node.type, node.rdev) == (NodeType.CHAR_DEVICE, os.makedev(1, 3))


@pytest.mark.usefixtures("user_xattrs")
def test_xattrs_are_captured_for_files_and_directories(src: Path) -> None:
    os.setxattr(src / "empty", "user.comment", b"\x00binary\xff")
    os.setxattr(src / "dir", "user.a", b"1")
    nodes = by_path(split(walk([str(src)]))[0])
    assert nodes[rel(src / "empty")].xattrs == {b"user.comment": b"\x00binary\xff"}
    assert nodes[rel(src / "dir")].xattrs == {b"user.a": b"1"}
    assert nodes[rel(src / "link")].xattrs == {}


def test_unsupported_xattrs_are_silent_other_errors_warn(
    src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = os.fsencode(src / "empty")
    real = os.listxattr

    def listxattr(path: bytes, *, follow_symlinks: bool = True) -> list[str]:
        if path == failing:
            raise OSError(errno.EIO, "Input/output error")
        if path.endswith(b"/dir"):
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real(path, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(os, "listxattr", listxattr)
    nodes, warnings = split(walk([str(src)]))
    assert warnings == [
        JobWarning(
            Code.FILE_READ_ERROR,
            str(src / "empty"),
            {"reason": "extended attributes: Input/output error"},
        )
    ]
    assert rel(src / "empty") in by_path(nodes)  # the file itself is still backed up


def test_excludes_by_name_by_absolute_path_and_whole_directories(
    src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (src / "a.tmp").write_bytes(b"")
    (src / "dir" / "b.tmp").write_bytes(b"")
    for user in ("ana", "bob"):
        (src / "home" / user / "cache").mkdir(parents=True)
        (src / "home" / user / "cache" / "blob").write_bytes(b"")
        (src / "home" / user / "keep").write_bytes(b"")
    (src / "dir" / "node_modules" / "pkg").mkdir(parents=True)
    listed: list[bytes] = []
    real = os.scandir

    def scandir(path: bytes) -> object:
        listed.append(path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    excludes = ["*.tmp", f"{src}/home/*/cache", "node_modules"]
    paths = set(by_path(split(walk([str(src)], excludes))[0]))
    assert rel(src / "a.tmp") not in paths
    assert rel(src / "dir/b.tmp") not in paths
    assert rel(src / "home/ana/cache") not in paths
    assert rel(src / "home/ana/cache/blob") not in paths
    assert rel(src / "home/bob/keep") in paths
    assert rel(src / "dir/node_modules") not in paths
    assert os.fsencode(src / "dir/node_modules") not in listed  # not descended
    assert rel(src / "dir/file.txt") in paths


def test_a_named_root_inside_an_excluded_directory_is_still_walked(src: Path) -> None:
    (src / "dir" / "node_modules" / "pkg").mkdir(parents=True)
    (src / "dir" / "node_modules" / "other").mkdir()
    root = src / "dir" / "node_modules" / "pkg"
    paths = [n.path for n in split(walk([str(src), str(root)], ["node_modules"]))[0]]
    assert rel(src / "dir/node_modules") in paths  # the way to the named root
    assert rel(root) in paths
    assert rel(src / "dir/node_modules/other") not in paths


def test_overlapping_and_repeated_roots_yield_each_path_once(src: Path) -> None:
    alone = [n.path for n in split(walk([str(src)]))[0]]
    many = [str(src / "dir" / "sub"), str(src), str(src / "dir/file.txt"), str(src) + "/"]
    assert [n.path for n in split(walk(many))[0]] == alone


def test_separate_roots_share_ancestors_and_the_order_does_not_depend_on_arguments(
    src: Path,
) -> None:
    one, two = str(src / "dir" / "sub"), str(src / "hard1")
    paths = [n.path for n in split(walk([one, two]))[0]]
    assert paths == [n.path for n in split(walk([two, one]))[0]]
    assert len(paths) == len(set(paths))
    assert rel(src) in paths
    assert rel(src / "dir") in paths
    assert rel(src / "dir/file.txt") not in paths  # an ancestor's other entries are not walked
    assert rel(src / "dir/sub/deeper/leaf") in paths
    assert paths == sorted(paths, key=lambda p: p.split(b"/"))


def test_relative_roots_are_made_absolute(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(src)
    relative = [n.path for n in split(walk(["dir"]))[0]]
    assert relative == [n.path for n in split(walk([str(src / "dir")]))[0]]


def test_a_symlink_root_is_not_followed_but_directories_above_a_root_are_resolved(
    src: Path,
) -> None:
    nodes = by_path(split(walk([str(src / "link")]))[0])
    assert nodes[rel(src / "link")].type is NodeType.SYMLINK
    assert rel(src / "dir/file.txt") not in nodes
    os.symlink("dir", src / "dirlink")
    nodes = by_path(split(walk([str(src / "dirlink" / "sub")]))[0])
    assert rel(src / "dir/sub/deeper/leaf") in nodes
    assert not any(b"dirlink" in p for p in nodes)


def test_a_missing_root_raises_before_anything_is_yielded(src: Path) -> None:
    missing = src / "missing"
    with pytest.raises(RsvaultError) as caught:
        walk([str(src), str(missing)])  # not even iterated: validation is eager
    assert caught.value.code is Code.BACKUP_SOURCE_NOT_FOUND
    assert caught.value.params == {"path": str(missing)}
    with pytest.raises(RsvaultError):
        walk([str(src / "dir/file.txt/below")])


def test_the_file_system_root_is_the_empty_path(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes, warnings = split(walk(["/"], ["/*"]))  # everything below '/' excluded
    assert [(n.path, n.type) for n in nodes] == [(b"", NodeType.DIR)]
    assert warnings == []
    assert absolute_path(b"") == b"/"
    assert absolute_path(b"home/ana") == b"/home/ana"


def test_unlistable_directory_warns_and_is_still_yielded(
    src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = os.fsencode(src / "dir")
    real = os.scandir

    def scandir(path: bytes) -> object:
        if path == locked:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    nodes, warnings = split(walk([str(src)]))
    assert warnings == [JobWarning(Code.FILE_ACCESS_DENIED, str(src / "dir"))]
    paths = by_path(nodes)
    assert paths[rel(src / "dir")].type is NodeType.DIR
    assert rel(src / "dir/file.txt") not in paths
    assert rel(src / "sparse") in paths  # the walk went on


def test_really_unreadable_directory_without_dac_capabilities(base: Path) -> None:
    """Runs the walker as root stripped of CAP_DAC_*, so the kernel itself says EACCES."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    locked = base / "src" / "locked"
    locked.mkdir(parents=True)
    (locked / "secret").write_bytes(b"")
    (base / "src" / "open").write_bytes(b"")
    os.chown(locked, 65534, 65534)
    locked.chmod(0o700)
    script = (
        "import json, sys\n"
        "from rsvault.errors import JobWarning\n"
        "from rsvault.sources.files.walker import walk\n"
        "out = [[i.code.value, i.path] if isinstance(i, JobWarning) else i.path.decode()\n"
        "       for i in walk([sys.argv[1]])]\n"
        "print(json.dumps(out))\n"
    )
    command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]
    done = subprocess.run(
        [*command, sys.executable, "-c", script, str(base / "src")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 and "setpriv" in done.stderr:
        pytest.skip(f"cannot drop capabilities here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert ["FileSkippedAccessDenied", str(locked)] in out
    assert out.index(["FileSkippedAccessDenied", str(locked)]) == out.index(str(locked)[1:]) + 1
    assert str(locked / "secret")[1:] not in out
    assert str(base / "src" / "open")[1:] in out


def test_vanished_and_unreadable_entries_become_warnings(
    src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone, broken = os.fsencode(src / "empty"), os.fsencode(src / "sparse")
    real = os.lstat

    def lstat(path: bytes) -> os.stat_result:
        if path == gone:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if path == broken:
            raise OSError(errno.EIO, "Input/output error", path)
        return real(path)

    monkeypatch.setattr(os, "lstat", lstat)
    nodes, warnings = split(walk([str(src)]))
    assert warnings == [
        JobWarning(Code.FILE_VANISHED, str(src / "empty")),
        JobWarning(Code.FILE_READ_ERROR, str(src / "sparse"), {"reason": "Input/output error"}),
    ]
    assert rel(src / "empty") not in by_path(nodes)


def test_warning_paths_keep_undecodable_bytes(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = os.fsencode(src) + b"/caf\xe9"
    real = os.lstat

    def lstat(path: bytes) -> os.stat_result:
        if path == odd:
            raise FileNotFoundError(errno.ENOENT, "gone", path)
        return real(path)

    monkeypatch.setattr(os, "lstat", lstat)
    warnings = split(walk([str(src)]))[1]
    assert [os.fsencode(w.path) for w in warnings] == [odd]


@pytest.fixture
def mounted(base: Path) -> Iterator[Path]:
    point = base / "src" / "mnt"
    point.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        (point / "inside").write_bytes(b"")
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_one_file_system_keeps_the_mount_point_but_not_its_contents(mounted: Path) -> None:
    src = mounted.parent
    crossing = by_path(split(walk([str(src)]))[0])
    assert rel(mounted / "inside") in crossing
    staying = by_path(split(walk([str(src)], one_file_system=True))[0])
    assert staying[rel(mounted)].type is NodeType.DIR
    assert rel(mounted / "inside") not in staying
    named = by_path(split(walk([str(src), str(mounted)], one_file_system=True))[0])
    assert rel(mounted / "inside") in named  # a root named explicitly is walked anyway
