"""Helpers for the control-plane tests (policies, protection, jobs, scheduler) through the CLI.

The tests read the SQLite catalog directly only to check that a refused command changed
nothing, to notice a job's phase within milliseconds, and (scheduler) to make an item due.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Cli, TreeBuilder

# Every table a control-plane command may write; "nothing changed" compares all of them.
CATALOG_TABLES = (
    "vaults",
    "containers",
    "policies",
    "items",
    "jobs",
    "job_tasks",
    "recovery_points",
)

# A weekly policy Azure allows: weekly and week-based monthly retention on scheduled days.
WEEKLY: dict[str, Any] = {
    "policyType": "Standard",
    "schedule": {
        "frequency": "Weekly",
        "time": "21:30",
        "weekdays": ["Wednesday", "Sunday"],
        "timeZone": "Europe/Berlin",
    },
    "instantRpRetentionDays": 5,
    "retention": {
        "weekly": {"weeks": 12, "weekdays": ["Sunday"]},
        "monthly": {"months": 60, "weeksOfMonth": ["First"], "weekdays": ["Sunday"]},
    },
}


def cli_for(home: Path) -> Cli:
    """A CLI with its own home (for module-scoped fixtures) and never an outside catalog."""
    cli = Cli.with_home(home)
    cli.env.pop("RSVAULT_DATABASE_URL", None)
    return cli


def catalog(home: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(home / "catalog.sqlite", timeout=30)
    connection.row_factory = sqlite3.Row
    return connection


def catalog_rows(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every control-plane table, to compare before and after a refused command."""
    with contextlib.closing(catalog(home)) as connection:
        return {
            table: [tuple(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY 1")]
            for table in CATALOG_TABLES
        }


def enable(
    cli: Cli,
    vault: str,
    policy: str,
    item: str,
    *paths: Path,
    excludes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """`protection enable-for-files`, required to complete as a ConfigureBackup job."""
    args: list[Any] = ["protection", "enable-for-files", "--vault-name", vault]
    args += ["--policy-name", policy, "--item-name", item]
    for path in paths:
        args += ["--path", path]
    for pattern in excludes:
        args += ["--exclude", pattern]
    job = cli.ok(*args)
    assert job["operation"] == "ConfigureBackup", job
    assert job["status"] == "Completed", job
    assert job["item"] == item, job
    return dict(job)


def refused(cli: Cli, code: str, *args: Any, rc: int = 1) -> dict[str, Any]:
    """The command fails with `code`, prints nothing on stdout and changes nothing."""
    before = catalog_rows(cli.home)
    result = cli.fails(code, *args, rc=rc)
    assert result.out == "", result.describe()
    assert catalog_rows(cli.home) == before, f"{args} changed the catalog"
    return dict(result.error)


def write_policy(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), "utf-8")
    return path


def small_tree(root: Path, seed: int = 0) -> Path:
    """A few files, one of them `*.tmp` (for --exclude), a subfolder and a symlink."""
    t = TreeBuilder(root, seed)
    t.file("a.txt", f"alpha {seed}\n".encode())
    t.random_file("b.bin", 200_000 + seed)
    t.file("cache.tmp", b"left out by --exclude *.tmp")
    t.dir("sub")
    t.file("sub/c.txt", b"gamma\n", mode=0o600)
    t.file("sub/d.tmp", b"also left out")
    t.symlink("link", "a.txt")
    return t.finish()


def not_tmp(rel: bytes) -> bool:
    """For assert_same_tree's `ignore`: the files `--exclude *.tmp` leaves out."""
    return rel.endswith(b".tmp")


def day(moment: datetime) -> str:
    """DD-MM-YYYY, the form `az backup` and rsvault take for dates."""
    return moment.strftime("%d-%m-%Y")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"{text} has no time zone"
    return moment.astimezone(UTC)


def running_job(home: Path, item: str) -> tuple[str, str | None] | None:
    """(name, phase) of the item's running job, read from the catalog; None if there is none."""
    with contextlib.closing(catalog(home)) as connection:
        row = connection.execute(
            "SELECT name, phase FROM jobs WHERE item = ? AND status = 'InProgress'", (item,)
        ).fetchone()
    return None if row is None else (row["name"], row["phase"])


def wait_until(
    condition: Callable[[], Any],
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 60,
    what: str = "the condition",
) -> Any:
    """Poll `condition` every few milliseconds until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else b""  # the caller still reaps it
            raise AssertionError(f"the process ended (rc={proc.returncode}) before {what}: {err!r}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def big_tree(root: Path, seed: int, files: int = 3, size: int = 32 << 20) -> Path:
    """Incompressible files (96 MiB by default) so that a backup spends time transferring."""
    t = TreeBuilder(root, seed)
    for number in range(files):
        t.random_file(f"big-{number}.bin", size)
    return t.finish()


@contextlib.contextmanager
def stopped(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP a running command so that its job stays where it is while the test looks."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)
