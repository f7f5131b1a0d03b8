"""Reading ext4 through debugfs, and extracting from it into a RestoreTarget.

The parsing tests use crafted debugfs output; the others build a small ext4 image with
`mkfs.ext4 -d` (no root, no mount) and skip where e2fsprogs is missing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.sources.diskimage.extfs import ExtFs, FsEntry, debugfs_problem, parse_listings
from rsvault.sources.diskimage.extract import ExtractResult, extract_tree, guest_path
from rsvault.sources.diskimage.volumes import Volume
from rsvault.sources.files.target import RestoreTarget

LISTING = (
    b"/2/040755/0/0/./1024/\n"
    b"/2/040755/0/0/../1024/\n"
    b"/12/040700/1000/1000/data//\n"
    b"/13/100644/0/0/hello.txt/6/\n"
    b"/12/040700/1000/1000/./1024/\n"
    b"/2/040755/0/0/../1024/\n"
    b"/14/120777/0/0/link/4/\n"
)


def test_listings_are_keyed_by_each_directory_own_dot_entry() -> None:
    found = parse_listings(LISTING)
    assert [e.name for e in found[2]] == [b"data", b"hello.txt"]
    assert found[12] == [FsEntry(14, 0o120777, 0, 0, b"link", 4)]
    assert found[2][0].size == 0  # an empty size field
    assert [e.kind for e in found[2] + found[12]] == ["dir", "file", "symlink"]


def test_entries_before_any_dot_entry_are_ignored() -> None:
    assert parse_listings(b"/13/100644/0/0/stray/6/\n") == {}


def test_debugfs_problems_skip_the_banner() -> None:
    assert debugfs_problem(b"debugfs 1.47.0 (5-Feb-2023)\n") is None
    assert debugfs_problem(b"debugfs 1.47.0\ncatastrophic mode - not reading inode\n") is None
    assert debugfs_problem(b"debugfs 1.47\nBad magic number\n\nx: y\n") == "Bad magic number; x: y"


@pytest.mark.parametrize("path", ["relative", "/a/../b", "/a/./b", "/..", "/a\0b"])
def test_guest_paths_that_could_climb_are_refused(path: str) -> None:
    with pytest.raises(RsvaultError) as caught:
        guest_path(path)
    assert caught.value.code is Code.RESTORE_UNSAFE_PATH


def test_guest_paths_become_relative() -> None:
    assert guest_path("/") == b""
    assert guest_path("//etc//hosts/") == b"etc/hosts"


needs_e2fsprogs = pytest.mark.skipif(
    shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None,
    reason="e2fsprogs (mkfs.ext4, debugfs) is not installed",
)


@pytest.fixture
def ext4(base: Path) -> ExtFs:
    tree = base / "tree"
    (tree / "etc" / "sub").mkdir(parents=True)
    (tree / "etc" / "hosts").write_bytes(b"127.0.0.1 localhost\n")
    (tree / "etc" / "sub" / "big").write_bytes(os.urandom(70_000))
    (tree / "etc" / "run").write_bytes(b"#!/bin/sh\n")
    (tree / "etc" / "run").chmod(0o4755)
    (tree / "etc" / "link").symlink_to("/etc/shadow")
    image = base / "fs.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "4M"], check=True)
    return ExtFs(image, Volume("vda", 0, 0, image.stat().st_size, "ext4"))


@needs_e2fsprogs
def test_lookup_and_walk(ext4: ExtFs) -> None:
    assert ext4.lookup(b"etc/hosts").size == 20
    walked = [rel for rel, _ in ext4.walk(ext4.lookup(b"etc"), b"etc")]
    assert walked[0] == b"etc"
    assert set(walked[1:]) == {b"etc/sub", b"etc/hosts", b"etc/run", b"etc/link", b"etc/sub/big"}
    with pytest.raises(RsvaultError) as caught:
        ext4.lookup(b"etc/missing")
    assert caught.value.code is Code.RESTORE_PATH_NOT_IN_RP


@needs_e2fsprogs
def test_extract_copies_skips_and_never_overwrites(ext4: ExtFs, base: Path) -> None:
    root = base / "out"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_bytes(b"mine")
    result = ExtractResult()
    with RestoreTarget(root) as target:
        extract_tree(ext4, b"etc", target, result, lambda: None)
    assert (root / "etc" / "hosts").read_bytes() == b"mine"
    assert len((root / "etc" / "sub" / "big").read_bytes()) == 70_000
    assert stat.S_IMODE((root / "etc" / "run").stat().st_mode) == 0o755  # no set-id bits
    assert not (root / "etc" / "link").exists()
    assert (result.files, result.dirs) == (2, 1)
    skipped = {s["path"]: s["reason"] for s in result.skipped}
    assert set(skipped) == {"/etc/hosts", "/etc/link"}
    assert "nothing is overwritten" in skipped["/etc/hosts"]
    assert [p.name for p in root.iterdir()] == ["etc"]  # no staging folder left behind


@needs_e2fsprogs
def test_a_volume_that_is_not_ext_is_not_supported(base: Path) -> None:
    image = base / "zeros.raw"
    image.write_bytes(bytes(1 << 20))
    with pytest.raises(RsvaultError) as caught:
        ExtFs(image, Volume("vdb1", 1, 0, 1 << 20, None)).lookup(b"etc")
    assert caught.value.code is Code.FILESYSTEM_NOT_SUPPORTED
