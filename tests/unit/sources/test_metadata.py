"""apply_metadata: a round trip through describe, the order of the steps, and no following."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from rsvault.errors import Code
from rsvault.sources.files.describe import describe, read_xattrs
from rsvault.sources.files.metadata import apply_metadata
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.owners import OwnerNames

MTIME_NS = 1_600_000_000_123_456_789
ATIME_NS = 1_500_000_000_987_654_321


def snapshot(path: Path) -> Node:
    absolute = os.fsencode(path)
    node = describe(absolute, os.lstat(absolute), OwnerNames())
    node.xattrs = read_xattrs(absolute)
    return node


def acl_xattr(named_uid: int) -> bytes:
    """A POSIX access ACL in the kernel's xattr format: owner rw, user named_uid r, group r,
    mask r, other none. (Version 2, then (tag, perm, id) entries.)"""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 4, named_uid), (0x04, 4, undefined)]
    entries += [(0x10, 4, undefined), (0x20, 0, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


@pytest.fixture
def source(base: Path) -> Path:
    path = base / "source"
    path.write_bytes(b"data")
    os.chown(path, 1234, 5678)
    path.chmod(0o4751)  # after chown, which would clear set-uid
    os.utime(path, ns=(ATIME_NS, MTIME_NS))
    return path


@pytest.mark.usefixtures("user_xattrs")
def test_round_trip_onto_a_new_file(base: Path, source: Path) -> None:
    os.setxattr(source, "user.note", b"\x00\xffbinary")
    node = snapshot(source)
    (base / "restored").mkdir()
    restored = base / "restored" / "file"
    restored.write_bytes(b"data")
    fd = os.open(base / "restored", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert apply_metadata(b"file", node, dir_fd=fd) == []
    finally:
        os.close(fd)
    st = os.lstat(restored)
    assert stat.S_IMODE(st.st_mode) == 0o4751  # set-uid survives the chown
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert (st.st_mtime_ns, st.st_atime_ns) == (MTIME_NS, ATIME_NS)
    assert read_xattrs(os.fsencode(restored)) == {b"user.note": b"\x00\xffbinary"}


def test_without_dir_fd_and_setgid_directory(base: Path) -> None:
    source = base / "srcdir"
    source.mkdir()
    os.chown(source, 0, 5678)
    source.chmod(0o2770)
    node = snapshot(source)
    target = base / "newdir"
    target.mkdir()
    assert apply_metadata(os.fsencode(target), node) == []
    st = os.lstat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o2770, 5678)


def test_posix_acl_survives_the_later_chmod(base: Path, source: Path) -> None:
    acl = acl_xattr(4321)
    try:
        os.setxattr(source, "system.posix_acl_access", acl)
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs on {base}: {exc.strerror}")
    source.chmod(0o640)  # group bits are the ACL mask (r)
    node = snapshot(source)
    assert node.xattrs[b"system.posix_acl_access"] == acl
    target = base / "target"
    target.write_bytes(b"")
    assert apply_metadata(os.fsencode(target), node) == []
    assert os.getxattr(target, "system.posix_acl_access") == acl
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o640


def test_symlink_gets_owner_and_times_but_its_target_is_untouched(base: Path) -> None:
    victim = base / "victim"
    victim.write_bytes(b"")
    victim.chmod(0o600)
    before = os.lstat(victim)
    link = base / "link"
    os.symlink("victim", link)
    node = Node(b"x/link", NodeType.SYMLINK, 0o777, 1234, 5678, MTIME_NS, atime_ns=ATIME_NS)
    assert apply_metadata(os.fsencode(link), node) == []
    st = os.lstat(link)
    assert (st.st_uid, st.st_gid, st.st_mtime_ns) == (1234, 5678, MTIME_NS)
    after = os.lstat(victim)
    assert (after.st_uid, after.st_mode, after.st_mtime_ns) == (
        before.st_uid,
        before.st_mode,
        before.st_mtime_ns,
    )


def test_a_symlink_swapped_in_for_a_file_is_not_followed(base: Path) -> None:
    victim = base / "victim"
    victim.write_bytes(b"")
    victim.chmod(0o600)
    before = os.lstat(victim)
    os.symlink("victim", base / "swapped")
    node = Node(b"etc/shadow", NodeType.FILE, 0o4777, 1234, 5678, MTIME_NS)
    warnings = apply_metadata(os.fsencode(base / "swapped"), node)
    assert [(w.code, w.path, w.params["what"]) for w in warnings] == [
        (Code.METADATA_NOT_RESTORED, "/etc/shadow", "mode")
    ]
    after = os.lstat(victim)
    assert (after.st_mode, after.st_uid, after.st_mtime_ns) == (
        before.st_mode,
        before.st_uid,
        before.st_mtime_ns,
    )


def test_failures_are_warnings_not_exceptions(base: Path) -> None:
    node = Node(b"caf\xe9", NodeType.FILE, 0o644, 1, 1, MTIME_NS, xattrs={b"bogus.ns": b"1"})
    warnings = apply_metadata(os.fsencode(base / "missing"), node)
    assert [w.params["what"] for w in warnings] == ["owner", "xattr bogus.ns", "mode", "times"]
    assert {w.code for w in warnings} == {Code.METADATA_NOT_RESTORED}
    assert {os.fsencode(w.path) for w in warnings} == {b"/caf\xe9"}
    assert "could not set its owner" in warnings[0].message()


def test_unknown_xattr_namespace_is_one_warning(base: Path) -> None:
    target = base / "f"
    target.write_bytes(b"")
    node = Node(b"f", NodeType.FILE, 0o600, 0, 0, MTIME_NS, xattrs={b"bogus.ns": b"1"})
    warnings = apply_metadata(os.fsencode(target), node)
    assert [w.params["what"] for w in warnings] == ["xattr bogus.ns"]
    assert os.lstat(target).st_mtime_ns == MTIME_NS


def test_owner_is_left_alone_unless_asked(base: Path) -> None:
    target = base / "f"
    target.write_bytes(b"")
    node = Node(b"f", NodeType.FILE, 0o640, 1234, 5678, MTIME_NS)
    assert apply_metadata(os.fsencode(target), node, restore_owner=False) == []
    st = os.lstat(target)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o640)


def new_file(base: Path, mode: int) -> Path:
    path = base / "f"
    path.write_bytes(b"")
    path.chmod(mode)
    return path


def apply_through_descriptor(path: Path, node: Node) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        assert apply_metadata(fd, node) == []
    finally:
        os.close(fd)


def test_a_descriptor_with_owner_and_mode_already_right_gets_only_its_times(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = new_file(base, 0o644)
    changed: list[str] = []
    monkeypatch.setattr(os, "chown", lambda *a, **k: changed.append("owner"))
    monkeypatch.setattr(os, "chmod", lambda *a, **k: changed.append("mode"))
    apply_through_descriptor(path, Node(b"f", NodeType.FILE, 0o100644, 0, 0, MTIME_NS, ATIME_NS))
    assert changed == []
    assert os.lstat(path).st_mtime_ns == MTIME_NS


def test_a_descriptor_keeps_its_set_uid_bit_through_a_needed_chown(base: Path) -> None:
    # chown clears set-id bits even as root: the mode, equal before it, is set again after
    path = new_file(base, 0o4755)
    node = Node(b"f", NodeType.FILE, 0o104755, 1234, 5678, MTIME_NS, ATIME_NS)
    apply_through_descriptor(path, node)
    st = os.lstat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o4755)


def test_a_descriptor_with_another_mode_is_changed(base: Path) -> None:
    path = new_file(base, 0o600)
    apply_through_descriptor(path, Node(b"f", NodeType.FILE, 0o100444, 0, 0, MTIME_NS, ATIME_NS))
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o444
