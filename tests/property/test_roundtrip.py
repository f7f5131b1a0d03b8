"""restore(backup(tree)) == tree, for generated trees of files, folders and links."""

from __future__ import annotations

import os
import random
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.engine.backup import FilesBackupRequest, backup_files
from rsvault.engine.restore import FilesRestoreRequest, restore_files
from rsvault.storage import MemoryStore
from rsvault.vault.keys import CHEAP_KDF
from rsvault.vault.repository import Vault

KiB = 1024
MAX_FILE = 300 * KiB


@dataclass
class FileSpec:
    seed: int
    size: int
    pattern: str  # random, zeros, zero-run, text, dup
    mode: int
    mtime_ns: int


@dataclass
class LinkSpec:
    target: str
    mtime_ns: int


@dataclass
class DirSpec:
    children: dict[str, FileSpec | LinkSpec | DirSpec]
    mode: int
    mtime_ns: int


@dataclass
class HardLinkSpec:
    file: int  # index into the files created, modulo their number
    folder: int  # index into the folders, modulo their number
    name: str


@dataclass
class Built:
    files: list[Path] = field(default_factory=list)
    dirs: list[tuple[Path, DirSpec]] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)


names = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))
times = st.integers(min_value=1, max_value=4_000_000_000 * 10**9)
file_modes = st.sampled_from([0o644, 0o600, 0o755, 0o400, 0o640, 0o000, 0o4755, 0o2750, 0o1644])
dir_modes = st.sampled_from([0o755, 0o700, 0o750, 0o711, 0o1777, 0o2775, 0o555])
sizes = st.one_of(
    st.just(0),
    st.integers(min_value=1, max_value=MAX_FILE),
    st.sampled_from([1, 256 * KiB, 256 * KiB + 1, MAX_FILE]),
)
files = st.builds(
    FileSpec,
    seed=st.integers(0, 2**32),
    size=sizes,
    pattern=st.sampled_from(["random", "zeros", "zero-run", "text", "dup"]),
    mode=file_modes,
    mtime_ns=times,
)
links = st.builds(
    LinkSpec,
    target=st.one_of(names, names.map(lambda n: "../" + n), st.just("/nonexistent/x")),
    mtime_ns=times,
)


def folders(
    children: st.SearchStrategy[dict[str, FileSpec | LinkSpec | DirSpec]],
) -> st.SearchStrategy[DirSpec]:
    return st.builds(DirSpec, children=children, mode=dir_modes, mtime_ns=times)


subfolders = folders(
    st.recursive(
        st.dictionaries(names, st.one_of(files, files, links), max_size=4),
        lambda inner: st.dictionaries(names, st.one_of(files, folders(inner)), max_size=4),
        max_leaves=10,
    )
)
trees = folders(st.dictionaries(names, st.one_of(files, links, subfolders), min_size=3, max_size=8))

hard_links = st.lists(
    st.builds(HardLinkSpec, file=st.integers(0, 999), folder=st.integers(0, 999), name=names),
    max_size=4,
)


def content(spec: FileSpec, earlier: list[bytes]) -> bytes:
    rng = random.Random(spec.seed)
    if spec.pattern == "zeros":
        return bytes(spec.size)
    if spec.pattern == "dup" and earlier:
        return earlier[spec.seed % len(earlier)]
    if spec.pattern == "text":
        words = [b"vault", b"pack", b"chunk", b"\n", b"index ", b"tree"]
        out = bytearray()
        while len(out) < spec.size:
            out += rng.choice(words)
        return bytes(out[: spec.size])
    data = bytearray(rng.randbytes(spec.size))
    if spec.pattern == "zero-run" and spec.size > 2:
        start = rng.randrange(spec.size // 2)
        data[start : start + spec.size // 2] = bytes(len(data[start : start + spec.size // 2]))
    return bytes(data)


def build(root: Path, tree: DirSpec, hard: list[HardLinkSpec]) -> None:
    built = Built()
    root.mkdir()
    _create(root, tree, built)
    for link in hard:
        if not built.files:
            break
        source = built.files[link.file % len(built.files)]
        folder = built.dirs[link.folder % len(built.dirs)][0]
        if not os.path.lexists(folder / link.name):
            os.link(source, folder / link.name)
    # metadata last, deepest folders last of all: every creation above touched mtimes
    for folder, spec in sorted(built.dirs, key=lambda d: len(d[0].parts), reverse=True):
        os.chmod(folder, spec.mode)
        os.utime(folder, ns=(spec.mtime_ns, spec.mtime_ns))


def _create(folder: Path, spec: DirSpec, built: Built) -> None:
    built.dirs.append((folder, spec))
    for name, child in spec.children.items():
        path = folder / name
        if isinstance(child, DirSpec):
            path.mkdir()
            _create(path, child, built)
        elif isinstance(child, LinkSpec):
            os.symlink(child.target, path)
            os.utime(path, ns=(child.mtime_ns, child.mtime_ns), follow_symlinks=False)
        else:
            data = content(child, built.contents)
            path.write_bytes(data)
            os.chmod(path, child.mode)
            os.utime(path, ns=(child.mtime_ns, child.mtime_ns))
            built.files.append(path)
            built.contents.append(data)


def describe_tree(root: Path) -> tuple[dict[str, tuple[object, ...]], set[frozenset[str]]]:
    """Every entry under root (root included) and the groups of names sharing an inode."""
    entries: dict[str, tuple[object, ...]] = {}
    inodes: dict[tuple[int, int], set[str]] = defaultdict(set)
    for directory, dirs, file_names in os.walk(root):
        for name in [".", *dirs, *file_names]:
            path = Path(directory) / name if name != "." else Path(directory)
            rel = os.fsencode(os.path.relpath(path, root)).decode("utf-8", "surrogateescape")
            st_ = os.lstat(path)
            kind = stat.S_IFMT(st_.st_mode)
            if stat.S_ISLNK(st_.st_mode):
                payload: object = os.readlink(path)
                mode = None  # Linux symlinks have no mode of their own
            elif stat.S_ISREG(st_.st_mode):
                payload = path.read_bytes()
                mode = stat.S_IMODE(st_.st_mode)
                inodes[(st_.st_dev, st_.st_ino)].add(rel)
            else:
                payload = None
                mode = stat.S_IMODE(st_.st_mode)
            entries[rel] = (kind, mode, st_.st_mtime_ns, payload)
    return entries, {frozenset(group) for group in inodes.values()}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=trees, hard=hard_links)
def test_restore_of_a_backup_is_the_tree(
    tree: DirSpec,
    hard: list[HardLinkSpec],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = Path(os.path.realpath(tmp_path_factory.mktemp("roundtrip")))
    src = base / "src"
    build(src, tree, hard)
    vault = Vault.create(MemoryStore(), "pass-phrase-1", SYSTEM_CLOCK, kdf=CHEAP_KDF)

    backed_up = backup_files(vault, FilesBackupRequest("tree", [str(src)], workers=2))
    assert backed_up.warnings == []
    target = base / "target"
    result = restore_files(vault, FilesRestoreRequest(backed_up.manifest.name, target, workers=2))

    assert result.failed == {}
    assert result.warnings == []
    want, want_links = describe_tree(src)
    got, got_links = describe_tree(target / src.relative_to("/"))
    assert got.keys() == want.keys()
    for rel, entry in want.items():
        assert got[rel] == entry, rel
    assert got_links == want_links
