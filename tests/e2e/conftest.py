"""End-to-end helpers: the real `rsvault` CLI in a subprocess, trees to back up, tree comparison.

Every test gets its own RSVAULT_HOME from tests/conftest.py; `Cli` captures the environment
when it is made, so a fixture may also give it a home of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

PASSPHRASE = "e2e correct horse battery staple"
DEFAULT_TIMEOUT = 300


def _find_cli() -> str:
    beside = Path(sys.executable).parent / "rsvault"  # not resolved: the venv's bin
    if beside.exists():
        return str(beside)
    found = shutil.which("rsvault")
    if found is None:
        raise RuntimeError("rsvault CLI not found: pip install -e '.[dev]' in the venv")
    return found


RSVAULT = _find_cli()

Arg = str | bytes | os.PathLike[str] | os.PathLike[bytes]


# --------------------------------------------------------------------------------------------
# Running the CLI


class CliResult(NamedTuple):
    rc: int
    out: Any  # parsed JSON if stdout is JSON, else the text
    err: str

    @property
    def error(self) -> dict[str, Any]:
        """The `{"error": {...}}` object that `--output json` prints on stderr."""
        try:
            body = json.loads(self.err)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"stderr is not JSON (rc={self.rc}):\n{self.err}") from exc
        assert isinstance(body, dict), body
        assert set(body) == {"error"}, body
        assert isinstance(body["error"], dict), body
        return body["error"]

    @property
    def error_code(self) -> str:
        code = self.error.get("code")
        assert isinstance(code, str), self.error
        return code

    def describe(self) -> str:
        out = self.out if isinstance(self.out, str) else json.dumps(self.out, indent=1)
        return f"rc={self.rc}\n--- stdout ---\n{out}\n--- stderr ---\n{self.err}"


def _parse(text: str) -> Any:
    if not text.strip():
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _argv(args: Sequence[Arg], output: str | None) -> list[str | bytes]:
    argv: list[str | bytes] = [RSVAULT, *(os.fspath(a) for a in args)]
    if output is not None:
        argv += ["--output", output]
    return argv


@dataclass
class Cli:
    """Runs `rsvault` with a fixed environment (home, passphrase, language)."""

    env: dict[str, str]

    @classmethod
    def with_home(cls, home: Path | None = None, passphrase: str | None = PASSPHRASE) -> Cli:
        env = dict(os.environ)
        env.pop("RSVAULT_OUTPUT", None)
        env["RSVAULT_LANG"] = "en"
        if home is not None:
            env["RSVAULT_HOME"] = str(home)
        if passphrase is None:
            env.pop("RSVAULT_PASSPHRASE", None)
        else:
            env["RSVAULT_PASSPHRASE"] = passphrase
        return cls(env)

    @property
    def home(self) -> Path:
        return Path(self.env["RSVAULT_HOME"])

    def env_with(self, **changes: str | None) -> dict[str, str]:
        env = dict(self.env)
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(
        self,
        *args: Arg,
        env: Mapping[str, str] | None = None,
        output: str | None = "json",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> CliResult:
        done = subprocess.run(
            _argv(args, output),
            env=dict(env if env is not None else self.env),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return _result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: Arg, **kwargs: Any) -> Any:
        """Run, require exit 0, return the parsed stdout."""
        result = self.run(*args, **kwargs)
        assert result.rc == 0, f"rsvault {_shown(args)} failed: {result.describe()}"
        return result.out

    def fails(self, code: str, *args: Arg, rc: int | None = None, **kwargs: Any) -> CliResult:
        """Run, require a failure with this error code (and exit code, if given)."""
        result = self.run(*args, **kwargs)
        assert result.rc != 0, f"rsvault {_shown(args)} should have failed: {result.describe()}"
        assert result.error_code == code, result.describe()
        if rc is not None:
            assert result.rc == rc, result.describe()
        return result

    def popen(
        self, *args: Arg, env: Mapping[str, str] | None = None, output: str | None = "json"
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            _argv(args, output),
            env=dict(env if env is not None else self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    # shortcuts for the common commands

    def create_vault(self, name: str, location: Path | None = None) -> dict[str, Any]:
        extra: list[Arg] = [] if location is None else ["--location", location]
        view = self.ok("vault", "create", "--name", name, *extra)
        assert isinstance(view, dict), view
        return view

    def backup(
        self,
        vault: str,
        *paths: Arg,
        excludes: Sequence[str] = (),
        item: str | None = None,
    ) -> dict[str, Any]:
        args: list[Arg] = ["backup", "files", "--vault-name", vault]
        for path in paths:
            args += ["--path", path]
        for pattern in excludes:
            args += ["--exclude", pattern]
        if item is not None:
            args += ["--item-name", item]
        job = self.ok(*args)
        assert isinstance(job, dict), job
        assert job["status"] == "Completed", job
        return job

    def restore(
        self, vault: str, rp: str, target: Path, paths: Sequence[Arg] = ()
    ) -> dict[str, Any]:
        job = self.ok(*restore_args(vault, rp, target, paths))
        assert isinstance(job, dict), job
        return job

    def recovery_points(self, vault: str, item: str | None = None) -> list[dict[str, Any]]:
        extra = [] if item is None else ["--item-name", item]
        points = self.ok("recoverypoint", "list", "--vault-name", vault, *extra)
        assert isinstance(points, list), points
        return points


def restore_args(vault: str, rp: str, target: Path, paths: Sequence[Arg] = ()) -> list[Arg]:
    args: list[Arg] = ["restore", "files", "--vault-name", vault, "--rp-name", rp]
    args += ["--target", target]
    for path in paths:
        args += ["--path", path]
    return args


def finish(proc: subprocess.Popen[bytes], timeout: float = DEFAULT_TIMEOUT) -> CliResult:
    """Wait for a process from `Cli.popen` and collect its result."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"rsvault did not finish in {timeout}s: {err.decode()}") from None
    return _result(proc.returncode, out, err)


def kill_hard(proc: subprocess.Popen[bytes]) -> CliResult:
    """SIGKILL a process from `Cli.popen` (if it still runs) and collect what it printed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    return finish(proc, timeout=60)


def _result(rc: int, out: bytes, err: bytes) -> CliResult:
    return CliResult(rc, _parse(out.decode("utf-8", "replace")), err.decode("utf-8", "replace"))


def _shown(args: Sequence[Arg]) -> str:
    return " ".join(str(os.fspath(a)) for a in args)


@pytest.fixture
def cli() -> Cli:
    """The CLI for this test's own RSVAULT_HOME, with the test passphrase in the environment."""
    return Cli.with_home()


def restored(target: Path, source: Path) -> Path:
    """Where a restore into `target` puts `source`: TARGET/<absolute original path>."""
    return target / source.absolute().relative_to("/")


def jobs(home: Path) -> list[dict[str, Any]]:
    """The jobs in the catalog of `home`, oldest first (there is no `job list` command yet)."""
    database = home / "catalog.sqlite"
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM jobs ORDER BY start_time").fetchall()
    return [dict(row) for row in rows]


def job_count(home: Path, operation: str | None = None) -> int:
    return sum(1 for job in jobs(home) if operation in (None, job["operation"]))


# --------------------------------------------------------------------------------------------
# Building trees


def _b(rel: str | bytes) -> bytes:
    return rel if isinstance(rel, bytes) else os.fsencode(rel)


class TreeBuilder:
    """Builds a source tree with exact metadata.

    Metadata is applied in the kernel's order (owner, xattrs, mode, times). Directory times
    are applied by `finish()`, deepest first, because creating entries changes them.
    """

    BASE_MTIME_NS = 1_600_000_000_123_456_789

    def __init__(self, root: Path, seed: int = 0) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._root = os.fsencode(root)
        self.rng = random.Random(seed)
        self._dir_times: dict[bytes, int] = {}
        self._tick = 0

    def path(self, rel: str | bytes) -> bytes:
        rel = _b(rel)
        return self._root if rel == b"" else self._root + b"/" + rel

    def _next_time(self) -> int:
        self._tick += 1
        return self.BASE_MTIME_NS + self._tick * 86_400_987_654_321

    def _meta(
        self,
        absolute: bytes,
        *,
        mode: int | None,
        owner: tuple[int, int] | None,
        mtime_ns: int | None,
        xattrs: Mapping[str, bytes] | None,
        symlink: bool = False,
    ) -> None:
        if owner is not None:
            os.chown(absolute, *owner, follow_symlinks=False)
        for name, value in (xattrs or {}).items():
            os.setxattr(absolute, name, value, follow_symlinks=False)
        if mode is not None and not symlink:
            os.chmod(absolute, mode)
        when = self._next_time() if mtime_ns is None else mtime_ns
        os.utime(absolute, ns=(when, when), follow_symlinks=False)

    def dir(
        self,
        rel: str | bytes,
        *,
        mode: int | None = None,
        owner: tuple[int, int] | None = None,
        mtime_ns: int | None = None,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> bytes:
        absolute = self.path(rel)
        os.makedirs(absolute, exist_ok=True)
        self._meta(absolute, mode=mode, owner=owner, mtime_ns=None, xattrs=xattrs)
        self._dir_times[absolute] = self._next_time() if mtime_ns is None else mtime_ns
        return absolute

    def file(
        self,
        rel: str | bytes,
        data: bytes = b"",
        *,
        mode: int | None = 0o644,
        owner: tuple[int, int] | None = None,
        mtime_ns: int | None = None,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> bytes:
        absolute = self.path(rel)
        os.makedirs(os.path.dirname(absolute), exist_ok=True)
        with open(absolute, "wb") as handle:
            handle.write(data)
        self._meta(absolute, mode=mode, owner=owner, mtime_ns=mtime_ns, xattrs=xattrs)
        return absolute

    def random_file(self, rel: str | bytes, size: int, **meta: Any) -> bytes:
        return self.file(rel, self.rng.randbytes(size), **meta)

    def sparse(
        self, rel: str | bytes, size: int, pieces: Mapping[int, bytes], **meta: Any
    ) -> bytes:
        """A file of `size` bytes, holes except `pieces` (offset → data), like `truncate -s`."""
        absolute = self.file(rel, b"", **meta)
        os.truncate(absolute, size)
        with open(absolute, "r+b") as handle:
            for offset, data in pieces.items():
                handle.seek(offset)
                handle.write(data)
        when = meta.get("mtime_ns") or self._next_time()
        os.utime(absolute, ns=(when, when))
        return absolute

    def symlink(
        self,
        rel: str | bytes,
        target: str | bytes,
        *,
        owner: tuple[int, int] | None = None,
        mtime_ns: int | None = None,
    ) -> bytes:
        absolute = self.path(rel)
        os.makedirs(os.path.dirname(absolute), exist_ok=True)
        os.symlink(_b(target), absolute)
        self._meta(absolute, mode=None, owner=owner, mtime_ns=mtime_ns, xattrs=None, symlink=True)
        return absolute

    def hardlink(self, rel: str | bytes, existing: str | bytes) -> bytes:
        absolute = self.path(rel)
        os.makedirs(os.path.dirname(absolute), exist_ok=True)
        os.link(self.path(existing), absolute)
        return absolute

    def finish(self) -> Path:
        """Give every directory its time, deepest first (the root's time is set last)."""
        for directory, _subdirs, _files in os.walk(self._root, topdown=False):
            when = self._dir_times.get(directory)
            if when is None:
                when = self._next_time()
            os.utime(directory, ns=(when, when), follow_symlinks=False)
        return self.root


def write_data_tree(
    root: Path,
    *,
    seed: int,
    unique_files: int,
    unique_size: int,
    duplicates: int,
    small_files: int = 20,
) -> Path:
    """A tree of random files, copies of some of them, and small files (for size tests)."""
    tree = TreeBuilder(root, seed)
    unique = []
    for number in range(unique_files):
        rel = f"d{number % 3}/unique-{number:03}.bin"
        tree.random_file(rel, unique_size)
        unique.append(rel)
    for number in range(duplicates):
        original = unique[number % len(unique)]
        with open(tree.path(original), "rb") as handle:
            tree.file(f"dups/copy-{number:03}.bin", handle.read())
    for number in range(small_files):
        tree.random_file(f"small/s{number:03}.dat", tree.rng.randrange(0, 20_000))
    return tree.finish()


# --------------------------------------------------------------------------------------------
# Comparing trees


@dataclass(frozen=True)
class Entry:
    type: str
    mode: int | None
    uid: int
    gid: int
    mtime_ns: int
    size: int | None = None
    sha256: str | None = None
    link_target: bytes | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()
    hardlink_group: bytes | None = None  # the first name (sorted) of a multiply-linked file


_TYPE_NAMES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "chardev",
    stat.S_IFBLK: "blockdev",
}


def _digest(path: bytes) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _xattrs(path: bytes) -> tuple[tuple[str, bytes], ...]:
    names = sorted(os.listxattr(path, follow_symlinks=False))
    return tuple((n, os.getxattr(path, n, follow_symlinks=False)) for n in names)


@dataclass
class Snapshot:
    entries: dict[bytes, Entry] = field(default_factory=dict)

    def names(self) -> set[bytes]:
        return set(self.entries)


def snapshot(root: Path, ignore: Callable[[bytes], bool] = lambda rel: False) -> Snapshot:
    """Every entry under `root` (root itself as b''), with content hash and metadata."""
    base = os.fsencode(root)
    raw: dict[bytes, tuple[os.stat_result, bytes]] = {}
    for directory, subdirs, files in os.walk(base):
        for name in [*subdirs, *files]:
            absolute = os.path.join(directory, name)
            rel = os.path.relpath(absolute, base)
            if not ignore(rel):
                raw[rel] = (os.lstat(absolute), absolute)
    raw[b""] = (os.lstat(base), base)
    inodes: dict[int, list[bytes]] = {}
    for rel, (st, _absolute) in raw.items():
        if stat.S_ISREG(st.st_mode):
            inodes.setdefault(st.st_ino, []).append(rel)
    groups = {rel: min(names) for names in inodes.values() if len(names) > 1 for rel in names}
    result = Snapshot()
    for rel, (st, absolute) in raw.items():
        kind = _TYPE_NAMES[stat.S_IFMT(st.st_mode)]
        result.entries[rel] = Entry(
            type=kind,
            mode=None if kind == "symlink" else stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            mtime_ns=st.st_mtime_ns,
            size=st.st_size if kind == "file" else None,
            sha256=_digest(absolute) if kind == "file" else None,
            link_target=os.readlink(absolute) if kind == "symlink" else None,
            xattrs=_xattrs(absolute) if kind != "symlink" else (),
            hardlink_group=groups.get(rel),
        )
    return result


def assert_same_tree(
    expected: Path,
    actual: Path,
    *,
    ignore: Callable[[bytes], bool] = lambda rel: False,
) -> Snapshot:
    """`actual` holds exactly what `expected` holds: names, bytes and metadata."""
    assert actual.is_dir(), f"{actual} was not restored"
    want, got = snapshot(expected, ignore), snapshot(actual, ignore)
    problems = []
    for rel in sorted(want.names() - got.names()):
        problems.append(f"missing: {rel!r}")
    for rel in sorted(got.names() - want.names()):
        problems.append(f"unexpected: {rel!r} {got.entries[rel]}")
    for rel in sorted(want.names() & got.names()):
        a, b = want.entries[rel], got.entries[rel]
        if a != b:
            fields = [
                f"{name}: {getattr(a, name)!r} != {getattr(b, name)!r}"
                for name in a.__dataclass_fields__
                if getattr(a, name) != getattr(b, name)
            ]
            problems.append(f"differs: {rel!r}: " + "; ".join(fields))
    assert not problems, f"{actual} differs from {expected}:\n  " + "\n  ".join(problems[:40])
    return want


def folder_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root`: relative path → (size, mtime_ns); for 'nothing changed'."""
    state = {".": (0, root.lstat().st_mtime_ns)}
    for path in root.rglob("*"):
        st = path.lstat()
        state[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return state


def pack_files(vault_location: Path) -> list[Path]:
    return sorted(p for p in (vault_location / "data").rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------
# Mounts


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `where`, unmounted (lazily if busy) however the test ends."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", where], check=True)
    try:
        yield where
    finally:
        done = subprocess.run(["umount", where], capture_output=True, check=False)
        if done.returncode != 0:
            time.sleep(0.5)
            subprocess.run(["umount", "-l", where], capture_output=True, check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", where], check=True)
