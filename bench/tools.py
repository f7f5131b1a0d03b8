"""The backup tools under test, as builders of the commands the benchmark times.

Each tool gets its own directories under the work dir: ``repos/<tool>`` (the repository, whose
size is reported), ``state/<tool>`` (local cache and configuration, reported separately) and
``restore/<tool>``. All three tools store absolute source paths, so a restore into ``T`` puts the
dataset ``/a/b/data`` at ``T/a/b/data``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from measure import Command

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RSVAULT = REPO_ROOT / ".venv" / "bin" / "rsvault"
PASSWORD = "rsvault-bench-password"
QUERY_TIMEOUT_S = 600


class ToolError(Exception):
    """An untimed helper command (version, snapshot lookup) failed."""


def query(command: Command) -> str:
    """Run an untimed helper command and return its stdout."""
    try:
        done = subprocess.run(
            command.argv,
            env=command.env,
            cwd=command.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{' '.join(command.argv)}: {exc}") from exc
    if done.returncode not in command.ok_codes:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise ToolError(f"{' '.join(command.argv)} exited {done.returncode}: {tail}")
    return done.stdout


class Tool(ABC):
    name: ClassVar[str]
    settings: ClassVar[str]

    def __init__(self, work: Path) -> None:
        self.repo = work / "repos" / self.name
        self.state = work / "state" / self.name
        self.restore_dir = work / "restore" / self.name

    @abstractmethod
    def executable(self) -> str | None:
        """Path of the tool's executable, or None when it is not installed."""

    @abstractmethod
    def tool_env(self) -> dict[str, str]: ...

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def init(self) -> Command: ...

    @abstractmethod
    def backup(self, source: Path, number: int) -> Command: ...

    @abstractmethod
    def restore(self, target: Path) -> Command:
        """Command restoring the latest backup into ``target`` (may run untimed queries)."""

    def exe(self) -> str:
        path = self.executable()
        if path is None:
            raise ToolError(f"{self.name} is not installed")
        return path

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.tool_env()}

    def command(self, *args: str, cwd: Path | None = None) -> Command:
        return Command([self.exe(), *args], self.env(), cwd)

    def reset(self) -> None:
        for path in (self.repo, self.state, self.restore_dir):
            shutil.rmtree(path, ignore_errors=True)
        self.repo.parent.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True)

    def cleanup(self) -> None:
        for path in (self.repo, self.state, self.restore_dir):
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()


class Restic(Tool):
    name = "restic"
    settings = "repository format 2, compression `auto`, default concurrency (GOMAXPROCS = cores)"

    def executable(self) -> str | None:
        return shutil.which("restic")

    def tool_env(self) -> dict[str, str]:
        return {"RESTIC_PASSWORD": PASSWORD, "RESTIC_REPOSITORY": str(self.repo)}

    def restic(self, *args: str) -> Command:
        return self.command("--cache-dir", str(self.state), *args)

    def version(self) -> str:
        return query(self.command("version")).strip()

    def init(self) -> Command:
        return self.restic("init")

    def backup(self, source: Path, number: int) -> Command:
        return self.restic("backup", "--host", "bench", str(source))

    def restore(self, target: Path) -> Command:
        return self.restic("restore", "latest", "--host", "bench", "--target", str(target))


class Borg(Tool):
    name = "borg"
    settings = "`repokey-blake2` encryption, `zstd,3` compression, single-threaded (borg 1.x)"

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.last_archive = ""

    def executable(self) -> str | None:
        return shutil.which("borg")

    def tool_env(self) -> dict[str, str]:
        return {
            "BORG_PASSPHRASE": PASSWORD,
            "BORG_BASE_DIR": str(self.state),
            "BORG_DISPLAY_PASSPHRASE": "no",
        }

    def version(self) -> str:
        return query(self.command("--version")).strip()

    def init(self) -> Command:
        return self.command("init", "--encryption=repokey-blake2", str(self.repo))

    def backup(self, source: Path, number: int) -> Command:
        self.last_archive = f"bench-{number}"
        archive = f"{self.repo}::{self.last_archive}"
        cmd = self.command("create", "--compression", "zstd,3", archive, str(source))
        return Command(cmd.argv, cmd.env, cmd.cwd, ok_codes=frozenset({0, 1}))

    def restore(self, target: Path) -> Command:
        if not self.last_archive:
            raise ToolError("borg: no archive to extract")
        cmd = self.command("extract", f"{self.repo}::{self.last_archive}", cwd=target)
        return Command(cmd.argv, cmd.env, cmd.cwd, ok_codes=frozenset({0, 1}))


class Rsvault(Tool):
    name = "rsvault"
    settings = "defaults of `rsvault backup files`"
    vault = "bench"

    def __init__(self, work: Path, path: Path = DEFAULT_RSVAULT) -> None:
        super().__init__(work)
        self.path = path

    def executable(self) -> str | None:
        return str(self.path) if os.access(self.path, os.X_OK) else None

    def tool_env(self) -> dict[str, str]:
        return {"RSVAULT_HOME": str(self.state), "RSVAULT_PASSPHRASE": PASSWORD}

    def version(self) -> str:
        try:
            return query(self.command("--version")).strip()
        except ToolError:
            try:
                return f"rsvault {metadata.version('rsvault')} (package metadata)"
            except metadata.PackageNotFoundError:
                return "unknown"

    def init(self) -> Command:
        return self.command("vault", "create", "--name", self.vault, "--location", str(self.repo))

    def backup(self, source: Path, number: int) -> Command:
        return self.command("backup", "files", "--vault-name", self.vault, "--path", str(source))

    def latest_recovery_point(self) -> str:
        listing = self.command(
            "recoverypoint", "list", "--vault-name", self.vault, "--output", "json"
        )
        try:
            points: list[dict[str, Any]] = json.loads(query(listing))
        except ValueError as exc:
            raise ToolError(f"rsvault recoverypoint list: not JSON: {exc}") from exc
        if not points:
            raise ToolError("rsvault recoverypoint list: no recovery points")
        latest = max(enumerate(points), key=lambda ip: (str(ip[1].get("time", "")), ip[0]))
        return str(latest[1]["name"])

    def restore(self, target: Path) -> Command:
        name = self.latest_recovery_point()
        return self.command(
            "restore", "files", "--vault-name", self.vault, "--rp-name", name, "--target",
            str(target),
        )  # fmt: skip


TOOLS: dict[str, type[Tool]] = {t.name: t for t in (Rsvault, Restic, Borg)}


def restored_root(target: Path, source: Path) -> Path:
    return target / source.relative_to(source.anchor)
