"""Jobs through the real CLI: list with filters, show with sub-tasks, stop (cancel) and its
refusals, wait, one operation per item, and a job whose process was SIGKILLed."""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli, finish, kill_hard
from tests.e2e.controlplane import (
    big_tree,
    cli_for,
    day,
    enable,
    parse_time,
    refused,
    running_job,
    small_tree,
    stopped,
    wait_until,
    write_policy,
)

VAULT = "jobs"
POLICY = "daily"
TRANSFER = "Transfer data to vault"


@dataclass
class Env:
    cli: Cli
    work: Path

    def enable(self, item: str, source: Path) -> dict[str, Any]:
        return enable(self.cli, VAULT, POLICY, item, source)

    def backup_now(self, item: str) -> dict[str, Any]:
        job = self.cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", item)
        assert job["status"] == "Completed", job
        return job

    def jobs(self, *filters: str) -> list[dict[str, Any]]:
        listed = self.cli.ok("job", "list", "--vault-name", VAULT, *filters)
        assert isinstance(listed, list), listed
        return listed

    def job(self, name: str) -> dict[str, Any]:
        return self.cli.ok("job", "show", "--vault-name", VAULT, "--name", name)

    def item(self, name: str) -> dict[str, Any]:
        return self.cli.ok("item", "show", "--vault-name", VAULT, "--name", name)

    def refused(self, code: str, *args: Any, rc: int = 1) -> dict[str, Any]:
        return refused(self.cli, code, *args, rc=rc)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    work = tmp_path_factory.mktemp("jobs")
    cli = cli_for(work / "home")
    cli.create_vault(VAULT)
    default = cli.ok("policy", "get-default-for-vm", "--vault-name", VAULT, output=None)
    path = write_policy(work / "default.json", default)
    cli.ok("policy", "create", "--vault-name", VAULT, "--name", POLICY, "--policy", path)
    return Env(cli, work)


def _names(jobs: list[dict[str, Any]]) -> set[str]:
    return {j["name"] for j in jobs}


def _in_transfer(env: Env, item: str) -> str | None:
    """The name of the item's running job once it transfers data (read from the catalog)."""
    running = running_job(env.cli.home, item)
    return running[0] if running is not None and running[1] == TRANSFER else None


# --------------------------------------------------------------------------------------------
# Listing and showing


def test_job_list_filters(env: Env) -> None:
    configure = env.enable("listed", small_tree(env.work / "listed", seed=1))
    backup = env.backup_now("listed")
    gone = small_tree(env.work / "listed-gone", seed=2)
    env.enable("listed-gone", gone)
    shutil.rmtree(gone)
    result = env.cli.fails(
        "UserErrorBackupSourceNotFound",
        "protection",
        "backup-now",
        "--vault-name",
        VAULT,
        "--item-name",
        "listed-gone",
        rc=1,
    )
    everything = env.jobs()
    [failed] = [j for j in everything if j["item"] == "listed-gone" and j["operation"] == "Backup"]
    assert failed["status"] == "Failed", failed
    assert failed["errorCode"] == "UserErrorBackupSourceNotFound", (failed, result.err)
    ours = {configure["name"], backup["name"], failed["name"]}
    assert ours <= _names(everything)
    for job in everything:
        for key in ("name", "operation", "status", "startTime", "endTime", "errorCode"):
            assert key in job, (key, job)
    starts = [parse_time(j["startTime"]) for j in everything]
    assert starts == sorted(starts, reverse=True), "newest first"

    configures = env.jobs("--operation", "ConfigureBackup")
    assert {j["operation"] for j in configures} == {"ConfigureBackup"}
    assert configure["name"] in _names(configures)
    assert not {backup["name"], failed["name"]} & _names(configures)

    completed = env.jobs("--status", "Completed")
    assert {j["status"] for j in completed} == {"Completed"}
    assert {configure["name"], backup["name"]} <= _names(completed)
    assert failed["name"] not in _names(completed)
    both = env.jobs("--status", "Failed", "--operation", "Backup")
    assert {(j["status"], j["operation"]) for j in both} == {("Failed", "Backup")}
    assert failed["name"] in _names(both)

    started = parse_time(backup["startTime"])
    today, tomorrow = day(started), day(started + timedelta(days=1))
    yesterday = day(started - timedelta(days=1))
    assert ours <= _names(env.jobs("--start-date", today, "--end-date", today))
    midnight = started.replace(hour=0, minute=0, second=0, microsecond=0)
    later = env.jobs("--start-date", tomorrow)
    assert all(parse_time(j["startTime"]) >= midnight + timedelta(days=1) for j in later)
    assert not ours & _names(later)
    earlier = env.jobs("--end-date", yesterday)
    assert all(parse_time(j["startTime"]) < midnight for j in earlier)
    assert not ours & _names(earlier)


def test_show_stop_and_wait_of_finished_jobs(env: Env) -> None:
    configure = env.enable("finished", small_tree(env.work / "finished", seed=3))
    backup = env.backup_now("finished")

    shown = env.job(backup["name"])
    assert shown["name"] == backup["name"]
    assert shown["operation"] == "Backup"
    assert shown["status"] == "Completed"
    assert shown["item"] == "finished"
    assert shown["recoveryPoint"] == backup["recoveryPoint"]
    assert [(t["name"], t["status"]) for t in shown["subTasks"]] == [
        ("Take Snapshot", "Completed"),
        (TRANSFER, "Completed"),
    ]
    for task in shown["subTasks"]:
        assert parse_time(task["startTime"]) <= parse_time(task["endTime"])

    stop = ["job", "stop", "--vault-name", VAULT, "--name"]
    error = env.refused("UserErrorJobNotInProgress", *stop, backup["name"])
    assert backup["name"] in error["message"]
    env.refused("UserErrorJobCancelNotSupported", *stop, configure["name"])
    env.refused("UserErrorJobNotFound", *stop, "0123456789abcdef")

    waited = env.cli.run("job", "wait", "--vault-name", VAULT, "--name", backup["name"])
    assert waited.rc == 0, waited.describe()
    assert waited.out["status"] == "Completed"


def test_job_wait_exit_code_tells_how_the_job_ended(env: Env) -> None:
    gone = small_tree(env.work / "wait-failed", seed=6)
    env.enable("wait-failed", gone)
    shutil.rmtree(gone)
    now = ["protection", "backup-now", "--vault-name", VAULT, "--item-name", "wait-failed"]
    env.cli.fails("UserErrorBackupSourceNotFound", *now, rc=1)
    [failed] = [j for j in env.jobs("--status", "Failed") if j["item"] == "wait-failed"]
    waited = env.cli.run("job", "wait", "--vault-name", VAULT, "--name", failed["name"])
    assert waited.out["status"] == "Failed", waited.describe()
    assert waited.rc == 1, waited.describe()


# --------------------------------------------------------------------------------------------
# A running backup: cancel, wait, one operation per item


def test_cancel_a_running_backup(env: Env) -> None:
    source = big_tree(env.work / "cancel", seed=4)
    env.enable("cancel", source)
    item = ["--vault-name", VAULT, "--item-name", "cancel"]
    proc = env.cli.popen("protection", "backup-now", *item)
    try:
        name = wait_until(lambda: _in_transfer(env, "cancel"), proc, what="the transfer phase")
        # Held in its transfer phase (SIGSTOP) for as long as the checks below take, so that
        # they do not race the backup however fast the machine is.
        with stopped(proc):
            running = [j for j in env.jobs("--status", "InProgress") if j["name"] == name]
            assert len(running) == 1, running
            assert running[0]["phase"] == TRANSFER
            assert running[0]["operation"] == "Backup"
            assert running[0]["endTime"] is None

            wait = ["job", "wait", "--vault-name", VAULT, "--name", name]
            timeout = env.refused("JobWaitTimedOut", *wait, "--timeout", "0.5")
            assert name in timeout["message"]
            busy = env.refused(
                "UserErrorBackupOperationInProgress", "protection", "backup-now", *item
            )
            assert "cancel" in busy["message"]

            stopping = env.cli.ok("job", "stop", "--vault-name", VAULT, "--name", name)
            assert stopping["name"] == name
            assert stopping["status"] == "Cancelling"
            stop = ["job", "stop", "--vault-name", VAULT, "--name", name]
            env.refused("UserErrorJobNotInCancellableState", *stop)
        waited = env.cli.run(*wait, "--timeout", "60")
        done = finish(proc)
    except BaseException:
        kill_hard(proc)
        raise
    assert waited.out["status"] == "Cancelled", waited.describe()
    assert waited.rc == 130, waited.describe()
    assert done.rc == 130, done.describe()
    assert done.out == ""
    assert done.error_code == "OperationCancelled"

    shown = env.job(name)
    assert shown["status"] == "Cancelled"
    assert shown["endTime"] is not None
    assert shown["recoveryPoint"] is None
    assert [(t["name"], t["status"]) for t in shown["subTasks"]] == [
        ("Take Snapshot", "Completed"),
        (TRANSFER, "Cancelled"),
    ]
    after = env.item("cancel")
    assert after["activeJob"] is None
    assert after["recoveryPoints"] == 0
    check = env.cli.ok("vault", "check", "--name", VAULT)
    assert check["ok"] is True, check

    again = env.backup_now("cancel")
    assert [p["name"] for p in env.cli.recovery_points(VAULT, item="cancel")] == [
        again["recoveryPoint"]
    ]


def test_killed_backup_is_failed_by_the_next_job_list(env: Env) -> None:
    source = big_tree(env.work / "killed", seed=5)
    env.enable("killed", source)
    proc = env.cli.popen("protection", "backup-now", "--vault-name", VAULT, "--item-name", "killed")
    try:
        name = wait_until(lambda: _in_transfer(env, "killed"), proc, what="the transfer phase")
    finally:
        killed = kill_hard(proc)
    assert killed.rc == -signal.SIGKILL, killed.describe()
    assert running_job(env.cli.home, "killed") == (name, TRANSFER)  # nobody has looked yet

    [job] = [j for j in env.jobs() if j["name"] == name]
    assert job["status"] == "Failed"
    assert job["errorCode"] == "JobProcessLost"
    assert job["endTime"] is not None
    shown = env.job(name)
    assert [t["status"] for t in shown["subTasks"]] == ["Completed", "Failed"]
    item = env.item("killed")
    assert item["activeJob"] is None
    assert item["lastErrorCode"] == "JobProcessLost"

    again = env.backup_now("killed")  # the item is free again
    assert again["recoveryPoint"]
