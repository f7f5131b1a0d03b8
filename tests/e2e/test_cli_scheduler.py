"""The scheduler through the real CLI: `scheduler run --once` starts exactly the backups that
are due, as Scheduled jobs, moves each item's next run into the future, and runs nothing when
nothing is due."""

from __future__ import annotations

import contextlib
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli, finish, kill_hard
from tests.e2e.controlplane import (
    big_tree,
    catalog,
    catalog_rows,
    cli_for,
    enable,
    parse_time,
    running_job,
    small_tree,
    stopped,
    wait_until,
    write_policy,
)

VAULT = "scheduled"
POLICY = "daily"


@dataclass
class Env:
    cli: Cli
    work: Path

    def once(self) -> dict[str, Any]:
        report = self.cli.ok("scheduler", "run", "--once")
        assert isinstance(report, dict), report
        assert report["errors"] == [], report
        return report

    def backups(self) -> list[dict[str, Any]]:
        return self.cli.ok("job", "list", "--vault-name", VAULT, "--operation", "Backup")

    def item(self, name: str) -> dict[str, Any]:
        return self.cli.ok("item", "show", "--vault-name", VAULT, "--name", name)

    def make_due(self, item: str) -> None:
        """Put the item's next run ten days back: many missed daily slots.

        The test writes the catalog directly (items.next_run, stored as naive UTC text like
        "2026-01-01 00:00:00.000000") instead of waiting for the real clock to reach 02:00.
        """
        past = (datetime.now(UTC) - timedelta(days=10)).replace(tzinfo=None)
        with contextlib.closing(catalog(self.cli.home)) as connection, connection:
            changed = connection.execute(
                "UPDATE items SET next_run = ? WHERE vault_name = ? AND name = ?",
                (past.strftime("%Y-%m-%d %H:%M:%S.%f"), VAULT, item),
            ).rowcount
        assert changed == 1


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """A home of its own: the scheduler serves every vault of the catalog it runs on."""
    work = tmp_path_factory.mktemp("scheduler")
    cli = cli_for(work / "home")
    cli.create_vault(VAULT)
    default = cli.ok("policy", "get-default-for-vm", "--vault-name", VAULT, output=None)
    path = write_policy(work / "default.json", default)
    cli.ok("policy", "create", "--vault-name", VAULT, "--name", POLICY, "--policy", path)
    return Env(cli, work)


def _enable(env: Env, item: str, seed: int) -> Path:
    source = small_tree(env.work / item, seed)
    enable(env.cli, VAULT, POLICY, item, source)
    return source


def test_nothing_due_runs_nothing(env: Env) -> None:
    _enable(env, "not-yet", seed=1)
    before = catalog_rows(env.cli.home)
    done = env.cli.run("scheduler", "run", "--once")
    assert done.rc == 0, done.describe()
    assert done.out["started"] == [], done.out
    assert done.out["errors"] == [], done.out
    assert catalog_rows(env.cli.home) == before  # no job, and the next run has not moved


def test_a_due_item_gets_one_scheduled_backup(env: Env) -> None:
    _enable(env, "due", seed=2)
    _enable(env, "stopped", seed=4)
    env.cli.ok("protection", "disable", "--vault-name", VAULT, "--item-name", "stopped", "--yes")
    env.make_due("due")
    env.make_due("stopped")  # due by the clock, but a stopped item is never backed up
    backups_before = {j["name"] for j in env.backups()}

    report = env.once()
    assert report["started"] == ["due"], report

    new = [j for j in env.backups() if j["name"] not in backups_before]
    assert len(new) == 1, new  # one catch-up backup, not one per missed slot
    [job] = new
    assert job["item"] == "due"
    assert job["trigger"] == "Scheduled"
    assert job["status"] == "Completed", job
    [point] = env.cli.recovery_points(VAULT, item="due")
    assert point["kind"] == "Scheduled"
    kept = parse_time(point["expiry"]) - parse_time(point["time"])
    assert timedelta(days=29) < kept <= timedelta(days=31), point  # daily retention: 30 days

    item = env.item("due")
    assert item["protectionState"] == "Protected"
    assert item["lastBackupStatus"] == "Completed"
    next_run = parse_time(item["nextRun"])
    assert datetime.now(UTC) < next_run <= datetime.now(UTC) + timedelta(days=1)
    assert (next_run.hour, next_run.minute) == (2, 0)
    assert env.item("stopped")["recoveryPoints"] == 0

    # right after, nothing is due any more
    before = catalog_rows(env.cli.home)
    assert env.once()["started"] == []
    assert catalog_rows(env.cli.home) == before


def test_sigterm_stops_the_scheduler_and_cancels_its_running_backup(env: Env) -> None:
    # 256 MiB: the transfer lasts well beyond the quarter second a job takes to see a cancel.
    source = big_tree(env.work / "stopping", seed=11, files=4, size=64 << 20)
    enable(env.cli, VAULT, POLICY, "stopping", source)
    env.make_due("stopping")
    proc = env.cli.popen("scheduler", "run")
    try:
        name, _phase = wait_until(
            lambda: _transferring(env.cli.home, "stopping"), proc, what="the scheduled transfer"
        )
        # Held while the stop is asked, so the backup cannot finish first on a fast machine.
        with stopped(proc):
            proc.send_signal(signal.SIGTERM)
        done = finish(proc, timeout=60)
    except BaseException:
        kill_hard(proc)
        raise
    assert done.rc == 0, done.describe()
    job = env.cli.ok("job", "show", "--vault-name", VAULT, "--name", name)
    assert job["status"] == "Cancelled", job
    assert job["trigger"] == "Scheduled", job
    assert [t["status"] for t in job["subTasks"]] == ["Completed", "Cancelled"], job
    item = env.item("stopping")
    assert item["activeJob"] is None, item
    assert item["recoveryPoints"] == 0, item
    assert env.cli.ok("vault", "check", "--name", VAULT)["ok"] is True


def _transferring(home: Path, item: str) -> tuple[str, str | None] | None:
    found = running_job(home, item)
    return found if found is not None and found[1] == "Transfer data to vault" else None
