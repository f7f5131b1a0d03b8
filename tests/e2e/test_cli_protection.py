"""Protection through the real CLI: enable for files, back up now, stop (keep, retain as per
policy, delete to soft delete), undelete, resume; items, containers and the vault overview."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.e2e.conftest import Cli, assert_same_tree, restored, snapshot
from tests.e2e.controlplane import (
    WEEKLY,
    catalog_rows,
    cli_for,
    day,
    enable,
    not_tmp,
    parse_time,
    refused,
    small_tree,
    write_policy,
)

VAULT = "protection"
DAILY = "daily"  # the default policy: daily at 02:00 UTC, 30 days
WEEKLY_POLICY = "weekly"  # Wednesday and Sunday 21:30 Europe/Berlin
STATES = {"IRPending", "Protected", "ProtectionError", "ProtectionStopped", "BackupsSuspended"}
TIERS = {"Snapshot", "Vault", "SnapshotAndVault"}
CONSISTENCIES = {"ApplicationConsistent", "FileSystemConsistent", "CrashConsistent"}
SUB_TASKS = ["Take Snapshot", "Transfer data to vault"]


@dataclass
class Env:
    cli: Cli
    work: Path
    default_file: Path

    def enable(
        self,
        item: str,
        *paths: Path,
        excludes: tuple[str, ...] = ("*.tmp",),
        vault: str = VAULT,
        policy: str = DAILY,
    ) -> dict[str, Any]:
        return enable(self.cli, vault, policy, item, *paths, excludes=excludes)

    def backup_now(self, item: str, *extra: str, vault: str = VAULT) -> dict[str, Any]:
        args = ["protection", "backup-now", "--vault-name", vault, "--item-name", item, *extra]
        job = self.cli.ok(*args)
        assert job["status"] == "Completed", job
        return job

    def item(self, name: str, vault: str = VAULT) -> dict[str, Any]:
        view = self.cli.ok("item", "show", "--vault-name", vault, "--name", name)
        assert isinstance(view, dict), view
        return view

    def points(self, item: str, vault: str = VAULT) -> list[dict[str, Any]]:
        return self.cli.recovery_points(vault, item=item)

    def disable(self, item: str, *flags: str) -> dict[str, Any]:
        args = ["protection", "disable", "--vault-name", VAULT, "--item-name", item, *flags]
        job = self.cli.ok(*args, "--yes")
        assert job["status"] == "Completed", job
        return job

    def refused(self, code: str, *args: Any, rc: int = 1) -> dict[str, Any]:
        return refused(self.cli, code, *args, rc=rc)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """One vault with two policies for the module; each test protects items of its own."""
    work = tmp_path_factory.mktemp("protection")
    cli = cli_for(work / "home")
    cli.create_vault(VAULT)
    default = cli.ok("policy", "get-default-for-vm", "--vault-name", VAULT, output=None)
    default_file = write_policy(work / "default.json", default)
    weekly_file = write_policy(work / "weekly.json", WEEKLY)
    for name, path in ((DAILY, default_file), (WEEKLY_POLICY, weekly_file)):
        cli.ok("policy", "create", "--vault-name", VAULT, "--name", name, "--policy", path)
    return Env(cli, work, default_file)


def _protect(env: Env, item: str, seed: int) -> Path:
    source = small_tree(env.work / item, seed)
    env.enable(item, source)
    return source


def _assert_restores(env: Env, rp: str, source: Path, target: Path) -> None:
    """The recovery point holds the source byte for byte, without the excluded *.tmp files."""
    env.cli.restore(VAULT, rp, target)
    copy = restored(target, source)
    assert_same_tree(source, copy, ignore=not_tmp)
    assert [n for n in snapshot(copy).names() if n.endswith(b".tmp")] == []


# --------------------------------------------------------------------------------------------
# Enable, items, containers


def test_enable_for_files_then_enabling_twice_changes_nothing(env: Env) -> None:
    first = small_tree(env.work / "twice-a", seed=1)
    second = small_tree(env.work / "twice-b", seed=2)
    env.enable("twice", first, second, excludes=("*.tmp", "*.bak"))

    item = env.item("twice")
    assert item["name"] == "twice"
    assert item["kind"] == "files"
    assert item["policy"] == DAILY
    assert item["protectionState"] == "IRPending"  # until its first backup
    assert item["deleteState"] == "NotDeleted"
    assert item["paths"] == [str(first), str(second)]
    assert item["excludes"] == ["*.tmp", "*.bak"]
    assert item["container"] == socket.gethostname()
    assert item["recoveryPoints"] == 0
    assert item["activeJob"] is None
    next_run = parse_time(item["nextRun"])
    assert datetime.now(UTC) < next_run <= datetime.now(UTC) + timedelta(days=1)
    assert (next_run.hour, next_run.minute) == (2, 0)  # the default policy: 02:00 UTC
    listed = {i["name"]: i for i in env.cli.ok("item", "list", "--vault-name", VAULT)}
    assert listed["twice"] == item

    # the same command again
    args: list[Any] = ["protection", "enable-for-files", "--vault-name", VAULT]
    args += ["--policy-name", DAILY, "--item-name", "twice", "--path", first, "--path", second]
    args += ["--exclude", "*.tmp", "--exclude", "*.bak"]
    error = env.refused("UserErrorItemAlreadyProtected", *args)
    assert "twice" in error["message"], error

    containers = env.cli.ok("container", "list", "--vault-name", VAULT)
    here = [c for c in containers if c["name"] == socket.gethostname()]
    assert len(here) == 1, containers
    assert here[0]["kind"] == "Server"
    assert here[0]["vaultName"] == VAULT
    assert here[0]["items"] >= 1


def test_enable_refusals_change_nothing(env: Env) -> None:
    source = small_tree(env.work / "refusals")
    base = ["protection", "enable-for-files", "--item-name", "refused", "--path", source]
    env.refused(
        "UserErrorPolicyNotFound", *base, "--vault-name", VAULT, "--policy-name", "no-such-policy"
    )
    env.refused(
        "UserErrorVaultNotFound",
        *base,
        "--vault-name",
        "no-such-vault",
        "--policy-name",
        DAILY,
        rc=10,
    )
    missing = env.work / "refusals-missing"
    args: list[Any] = ["protection", "enable-for-files", "--vault-name", VAULT]
    args += ["--policy-name", DAILY, "--item-name", "refused", "--path", missing]
    env.refused("UserErrorBackupSourceNotFound", *args)


def test_item_set_policy_moves_the_schedule(env: Env) -> None:
    _protect(env, "moving", seed=3)
    job = env.cli.ok(
        "item", "set-policy", "--vault-name", VAULT, "--name", "moving", "--policy-name", "weekly"
    )
    assert job["operation"] == "ConfigureBackup"
    assert job["status"] == "Completed"
    assert job["item"] == "moving"
    after = env.item("moving")
    assert after["policy"] == WEEKLY_POLICY
    assert after["protectionState"] == "IRPending"
    # the next run is now on the weekly schedule: Wednesday or Sunday, 21:30 in Berlin
    berlin = parse_time(after["nextRun"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert berlin.strftime("%A %H:%M") in ("Wednesday 21:30", "Sunday 21:30"), berlin
    assert parse_time(after["nextRun"]) > datetime.now(UTC)

    set_policy = ["item", "set-policy", "--vault-name", VAULT, "--name"]
    env.refused("UserErrorPolicyNotFound", *set_policy, "moving", "--policy-name", "nope")
    env.refused("UserErrorProtectedItemNotFound", *set_policy, "nope", "--policy-name", DAILY)


# --------------------------------------------------------------------------------------------
# Back up now, recovery points, restore


def test_backup_now_prints_the_job_and_the_point_restores(env: Env) -> None:
    source = _protect(env, "on-demand", seed=4)
    until = (datetime.now(UTC) + timedelta(days=400)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    job = env.backup_now("on-demand", "--retain-until", day(until))

    assert isinstance(job["name"], str)
    assert job["name"]
    assert job["operation"] == "Backup"
    assert job["status"] == "Completed"
    assert job["item"] == "on-demand"
    assert job["trigger"] == "OnDemand"
    assert job["errorCode"] is None
    start, end = parse_time(job["startTime"]), parse_time(job["endTime"])
    assert start <= end <= datetime.now(UTC)
    assert [t["name"] for t in job["subTasks"]] == SUB_TASKS
    assert [t["status"] for t in job["subTasks"]] == ["Completed", "Completed"]
    for task in job["subTasks"]:
        assert start <= parse_time(task["startTime"]) <= parse_time(task["endTime"]) <= end

    shown = env.cli.ok("job", "show", "--vault-name", VAULT, "--name", job["name"])
    for key in ("name", "operation", "status", "startTime", "endTime", "errorCode", "subTasks"):
        assert shown[key] == job[key], key

    points = env.points("on-demand")
    assert [p["name"] for p in points] == [job["recoveryPoint"]]
    point = points[0]
    assert start <= parse_time(point["time"]) <= end
    assert point["tier"] in TIERS
    assert point["consistency"] in CONSISTENCIES
    assert point["kind"] == "OnDemand"
    assert parse_time(point["expiry"]) == until, point  # kept until that day

    item = env.item("on-demand")
    assert item["protectionState"] == "Protected"
    assert item["lastBackupStatus"] == "Completed"
    assert item["recoveryPoints"] == 1
    assert item["activeJob"] is None

    _assert_restores(env, job["recoveryPoint"], source, env.work / "on-demand-restore")


# --------------------------------------------------------------------------------------------
# Stopping protection


def test_refusals_on_a_protected_item(env: Env) -> None:
    _protect(env, "no-yes", seed=6)
    before = catalog_rows(env.cli.home)
    result = env.cli.run("protection", "disable", "--vault-name", VAULT, "--item-name", "no-yes")
    assert result.rc == 1, result.describe()
    assert result.out == ""
    assert "UserErrorInvalidArgument" in result.err
    assert "--yes" in result.err
    assert catalog_rows(env.cli.home) == before

    now = ["protection", "backup-now", "--vault-name", VAULT, "--item-name"]
    yesterday = day(datetime.now(UTC) - timedelta(days=1))
    env.refused("UserErrorInvalidArgument", *now, "no-yes", "--retain-until", yesterday)
    env.refused("UserErrorProtectedItemNotFound", *now, "no-such-item")
    vault = ["protection", "backup-now", "--vault-name", "no-such-vault", "--item-name", "x"]
    env.refused("UserErrorVaultNotFound", *vault, rc=10)


def test_disable_without_yes_error_is_json(env: Env) -> None:
    result = env.cli.run("protection", "disable", "--vault-name", VAULT, "--item-name", "any")
    assert result.error_code == "UserErrorInvalidArgument"


def test_disable_keeps_the_data_and_resume_protects_again(env: Env) -> None:
    _protect(env, "stop-keep", seed=7)
    job = env.backup_now("stop-keep")  # no --retain-until: 30 days
    [point] = env.points("stop-keep")
    kept_for = parse_time(point["expiry"]) - parse_time(point["time"])
    assert timedelta(days=30) - timedelta(minutes=5) <= kept_for <= timedelta(days=30), point

    stop = env.disable("stop-keep")
    assert stop["operation"] == "DisableBackup"
    item = env.item("stop-keep")
    assert item["protectionState"] == "ProtectionStopped"
    assert item["deleteState"] == "NotDeleted"
    assert item["nextRun"] is None
    [point] = env.points("stop-keep")
    assert point["name"] == job["recoveryPoint"]
    assert point["expiry"] is None, point  # kept until deleted

    error = env.refused(
        "UserErrorBcmDatasourceNotPresent",
        "protection",
        "backup-now",
        "--vault-name",
        VAULT,
        "--item-name",
        "stop-keep",
    )
    assert "stop-keep" in error["message"]

    resume = env.cli.ok("protection", "resume", "--vault-name", VAULT, "--item-name", "stop-keep")
    assert resume["operation"] == "ConfigureBackup"
    assert resume["status"] == "Completed"
    item = env.item("stop-keep")
    assert item["protectionState"] == "Protected"
    assert item["policy"] == DAILY
    assert parse_time(item["nextRun"]) > datetime.now(UTC)
    [point] = env.points("stop-keep")
    assert point["expiry"] is not None, point  # the policy's retention applies again
    again = env.backup_now("stop-keep")
    assert again["recoveryPoint"] != job["recoveryPoint"]


def test_disable_retain_as_per_policy_suspends_backups(env: Env) -> None:
    _protect(env, "suspended", seed=8)
    env.backup_now("suspended")
    both = ["--delete-backup-data", "--retain-as-per-policy", "--yes"]
    disable = ["protection", "disable", "--vault-name", VAULT, "--item-name", "suspended"]
    env.refused("UserErrorInvalidArgument", *disable, *both)

    env.disable("suspended", "--retain-as-per-policy")
    item = env.item("suspended")
    assert item["protectionState"] == "BackupsSuspended"
    assert item["policy"] == DAILY
    assert item["nextRun"] is None
    [point] = env.points("suspended")
    assert point["expiry"] is not None, point  # the policy still expires it

    now = ["protection", "backup-now", "--vault-name", VAULT, "--item-name", "suspended"]
    env.refused("UserErrorBcmDatasourceNotPresent", *now)
    resumed = env.cli.ok("protection", "resume", "--vault-name", VAULT, "--item-name", "suspended")
    assert resumed["status"] == "Completed"


def test_delete_backup_data_soft_deletes_then_undelete_and_resume(env: Env) -> None:
    source = _protect(env, "soft", seed=9)
    job = env.backup_now("soft")

    deleted = env.disable("soft", "--delete-backup-data")
    assert deleted["operation"] == "DeleteBackupData"
    item = env.item("soft")
    assert item["deleteState"] == "ToBeDeleted"
    assert item["protectionState"] == "ProtectionStopped"
    assert item["nextRun"] is None
    purge = parse_time(item["purgeAt"])
    assert timedelta(days=13) < purge - datetime.now(UTC) <= timedelta(days=14), item

    item_args = ["--vault-name", VAULT, "--item-name", "soft"]
    env.refused("UserErrorItemSoftDeleted", "protection", "backup-now", *item_args)
    env.refused("UserErrorItemSoftDeleted", "protection", "resume", *item_args)

    undone = env.cli.ok("protection", "undelete", *item_args)
    assert undone["status"] == "Completed"
    item = env.item("soft")
    assert item["deleteState"] == "NotDeleted"
    assert item["protectionState"] == "ProtectionStopped"
    assert item["purgeAt"] is None
    env.refused("UserErrorItemStateInvalid", "protection", "undelete", *item_args)

    # the delete dropped the policy: resume names the one to protect it with
    env.cli.ok("protection", "resume", *item_args, "--policy-name", DAILY)
    item = env.item("soft")
    assert item["protectionState"] == "Protected"
    assert item["policy"] == DAILY
    assert item["nextRun"] is not None
    _assert_restores(env, job["recoveryPoint"], source, env.work / "soft-restore")


# --------------------------------------------------------------------------------------------
# The vault overview, and deleting a vault that has items


def test_vault_show_is_the_dashboard_and_delete_is_refused(env: Env) -> None:
    vault = "dashboard"
    env.cli.create_vault(vault)
    args = ["policy", "create", "--vault-name", vault, "--name", DAILY]
    env.cli.ok(*args, "--policy", env.default_file)

    ok_source = small_tree(env.work / "dash-ok", seed=10)
    env.enable("dash-ok", ok_source, vault=vault)
    env.backup_now("dash-ok", vault=vault)
    env.enable("dash-stopped", small_tree(env.work / "dash-stopped", seed=11), vault=vault)
    stop = ["protection", "disable", "--vault-name", vault, "--item-name", "dash-stopped"]
    env.cli.ok(*stop, "--yes")
    gone = small_tree(env.work / "dash-failed", seed=12)
    env.enable("dash-failed", gone, vault=vault)
    shutil.rmtree(gone)
    failed = env.cli.run(
        "protection", "backup-now", "--vault-name", vault, "--item-name", "dash-failed"
    )
    assert failed.rc == 1, failed.describe()
    assert failed.error_code == "UserErrorBackupSourceNotFound"

    view = env.cli.ok("vault", "show", "--name", vault)
    assert view["name"] == vault
    assert view["itemsByState"] == {
        "IRPending": 0,
        "Protected": 1,
        "ProtectionError": 1,
        "ProtectionStopped": 1,
        "BackupsSuspended": 0,
    }
    assert set(view["itemsByState"]) == STATES
    assert view["softDeletedItems"] == 0
    [point] = env.points("dash-ok", vault=vault)
    assert view["recoveryPoints"] == 1
    assert view["recoveryPointsSize"] == point["size"] > 0
    # 3 ConfigureBackup, 1 Backup and 1 DisableBackup completed; 1 Backup failed
    assert view["jobsLast24h"] == {"Completed": 5, "Failed": 1}, view

    before = catalog_rows(env.cli.home)
    location = Path(view["location"])
    error = env.refused(
        "UserErrorVaultHasProtectedItems", "vault", "delete", "--name", vault, "--yes"
    )
    assert vault in error["message"]
    assert catalog_rows(env.cli.home) == before
    assert (location / "config").exists()
