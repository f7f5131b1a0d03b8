"""Jobs whose process died: left InProgress until someone looks, then failed with JobProcessLost.

The in-process cases plant a job row that names a process that has exited; the last case
kills a real `rsvault protection backup-now` with SIGKILL in the middle of its transfer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import update
from tests.unit.services.support import (
    DAILY_POLICY,
    ITEM,
    PASSPHRASE,
    POLICY,
    VAULT,
    MakeContext,
    item_row,
    job_row,
    raises,
    random_tree,
    task_statuses,
    wait_until,
)

from rsvault.catalog.models import JobRow, JobTaskRow
from rsvault.core.clock import SYSTEM_CLOCK, ManualClock
from rsvault.errors import Code
from rsvault.services import items, jobs, policies, protection, recoverypoints, vaults
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import JobSpec, start_job
from rsvault.services.scheduler import Scheduler
from rsvault.services.states import (
    JobStatus,
    Operation,
    ProtectionState,
    TaskName,
    TaskStatus,
)


@dataclass(frozen=True)
class Process:
    host: str
    pid: int
    started: float


def _exited_process() -> Process:
    """A process that ran on this host and has exited (and been reaped)."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    started = psutil.Process(child.pid).create_time()
    assert child.stdin is not None
    child.stdin.close()
    child.wait(30)
    return Process(socket.gethostname(), child.pid, started)


@pytest.fixture
def dead() -> Process:
    return _exited_process()


def plant_lost_backup(ctx: ServiceContext, process: Process) -> str:
    """A Backup job on ITEM, in transfer, holding the item, recorded by `process`."""
    spec = JobSpec(
        VAULT,
        Operation.BACKUP,
        item_id=item_row(ctx).id,
        item_name=ITEM,
        tasks=(TaskName.TAKE_SNAPSHOT, TaskName.TRANSFER),
    )
    name = start_job(ctx, spec)
    with ctx.catalog.unit_of_work() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.name == name)
            .values(
                host=process.host,
                pid=process.pid,
                process_started=process.started,
                phase=TaskName.TRANSFER,
            )
        )
        for position, status in enumerate((TaskStatus.COMPLETED, TaskStatus.IN_PROGRESS)):
            session.execute(
                update(JobTaskRow)
                .where(JobTaskRow.job_name == name, JobTaskRow.position == position)
                .values(status=status, start_time=ctx.clock.now())
            )
    return name


def _list(ctx: ServiceContext) -> None:
    jobs.list_jobs(ctx, VAULT)


def _show(ctx: ServiceContext, name: str) -> None:
    jobs.show_job(ctx, VAULT, name)


def _backup(ctx: ServiceContext) -> None:
    assert protection.backup_now(ctx, VAULT, ITEM).status == JobStatus.COMPLETED


def _tick(ctx: ServiceContext) -> None:
    scheduler = Scheduler(ctx)
    try:
        scheduler.tick(wait=True)
    finally:
        scheduler.close()


NOTICERS: dict[str, Callable[[ServiceContext, str], object]] = {
    "job-list": lambda ctx, _name: _list(ctx),
    "job-show": _show,
    "item-list": lambda ctx, _name: items.list_items(ctx, VAULT),
    "item-show": lambda ctx, _name: items.show_item(ctx, VAULT, ITEM),
    "next-backup": lambda ctx, _name: _backup(ctx),
    "scheduler-tick": lambda ctx, _name: _tick(ctx),
}


@pytest.mark.parametrize("noticer", list(NOTICERS))
def test_a_lost_backup_is_failed_when_first_looked_at(
    ctx: ServiceContext, item: str, dead: Process, clock: ManualClock, noticer: str
) -> None:
    protection.backup_now(ctx, VAULT, ITEM)  # Protected, with one recovery point
    clock.advance(3600)
    name = plant_lost_backup(ctx, dead)
    clock.advance(3600)
    # Nothing runs by itself: the row stays as the dead process left it.
    assert job_row(ctx, name).status == JobStatus.IN_PROGRESS
    assert item_row(ctx).active_job == name

    NOTICERS[noticer](ctx, name)

    lost = jobs.show_job(ctx, VAULT, name)
    assert lost.status == JobStatus.FAILED
    assert lost.error_code == Code.JOB_PROCESS_LOST.value
    assert lost.error_message
    assert lost.end_time == clock.now().isoformat(timespec="seconds")
    assert lost.phase is None
    assert task_statuses(ctx, name) == {
        TaskName.TAKE_SNAPSHOT: TaskStatus.COMPLETED,
        TaskName.TRANSFER: TaskStatus.FAILED,
    }
    row = item_row(ctx)
    assert row.active_job != name
    if noticer == "next-backup":  # the next backup went through and the item is healthy again
        assert row.protection_state == ProtectionState.PROTECTED
        assert len(recoverypoints.list_recovery_points(ctx, VAULT, ITEM)) == 2
    else:
        assert row.active_job is None
        assert row.protection_state == ProtectionState.PROTECTION_ERROR
        assert row.last_backup_status == JobStatus.FAILED
        assert row.last_error_code == Code.JOB_PROCESS_LOST.value


def test_a_lost_first_backup_leaves_the_item_in_error(
    ctx: ServiceContext, item: str, dead: Process
) -> None:
    name = plant_lost_backup(ctx, dead)
    assert item_row(ctx).protection_state == ProtectionState.IR_PENDING
    assert jobs.show_job(ctx, VAULT, name).status == JobStatus.FAILED
    assert item_row(ctx).protection_state == ProtectionState.PROTECTION_ERROR
    assert task_statuses(ctx, name)[TaskName.TRANSFER] == TaskStatus.FAILED


def test_a_lost_job_of_a_stopped_item_keeps_its_state(
    ctx: ServiceContext, item: str, dead: Process
) -> None:
    protection.backup_now(ctx, VAULT, ITEM)
    protection.disable(ctx, VAULT, ITEM)
    name = plant_lost_backup(ctx, dead)
    jobs.list_jobs(ctx, VAULT)
    assert job_row(ctx, name).status == JobStatus.FAILED
    row = item_row(ctx)
    assert row.active_job is None
    assert row.protection_state == ProtectionState.PROTECTION_STOPPED


def test_a_pid_reused_by_another_process_counts_as_lost(ctx: ServiceContext, item: str) -> None:
    me = psutil.Process(os.getpid())
    impostor = Process(socket.gethostname(), me.pid, me.create_time() - 3600)
    name = plant_lost_backup(ctx, impostor)
    assert jobs.show_job(ctx, VAULT, name).error_code == Code.JOB_PROCESS_LOST.value


def test_a_zombie_process_counts_as_lost(ctx: ServiceContext, item: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    zombie = Process(socket.gethostname(), child.pid, psutil.Process(child.pid).create_time())
    wait_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, timeout=30)
    try:
        name = plant_lost_backup(ctx, zombie)
        assert jobs.show_job(ctx, VAULT, name).status == JobStatus.FAILED
    finally:
        child.wait(30)


def test_live_jobs_and_jobs_of_other_hosts_are_left_alone(
    ctx: ServiceContext, item: str, dead: Process
) -> None:
    me = psutil.Process(os.getpid())
    live = plant_lost_backup(ctx, Process(socket.gethostname(), me.pid, me.create_time()))
    assert jobs.reconcile_lost_jobs(ctx) == 0
    assert job_row(ctx, live).status == JobStatus.IN_PROGRESS
    with ctx.catalog.unit_of_work() as session:
        session.execute(
            update(JobRow).where(JobRow.name == live).values(host="elsewhere", pid=dead.pid)
        )
    assert jobs.reconcile_lost_jobs(ctx) == 0  # another host's process cannot be judged here
    assert jobs.show_job(ctx, VAULT, live).status == JobStatus.IN_PROGRESS
    assert item_row(ctx).active_job == live


def test_a_lost_cancelling_job_is_failed_too(ctx: ServiceContext, item: str, dead: Process) -> None:
    me = psutil.Process(os.getpid())
    name = plant_lost_backup(ctx, Process(socket.gethostname(), me.pid, me.create_time()))
    jobs.stop_job(ctx, VAULT, name)  # asked to cancel, then its process dies
    with ctx.catalog.unit_of_work() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.name == name)
            .values(pid=dead.pid, process_started=dead.started)
        )
    assert job_row(ctx, name).status == JobStatus.CANCELLING
    assert jobs.show_job(ctx, VAULT, name).status == JobStatus.FAILED
    assert item_row(ctx).active_job is None


# ---- a real process, killed ---------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    """The real `rsvault` in a subprocess, on the test's home and catalog."""

    home: Path
    database_url: str

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [str(Path(sys.executable).parent / "rsvault"), *args, "--output", "json"]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "RSVAULT_OUTPUT"}
        env.update(
            RSVAULT_HOME=str(self.home),
            RSVAULT_PASSPHRASE=PASSPHRASE,
            RSVAULT_DATABASE_URL=self.database_url,
            RSVAULT_LANG="en",
        )
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._argv(args), env=self._env(), capture_output=True, text=True, timeout=120
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        devnull = subprocess.DEVNULL
        return subprocess.Popen(self._argv(args), env=self._env(), stdout=devnull, stderr=devnull)


@pytest.fixture
def real_clock_ctx(make_context: MakeContext, catalog_url: str) -> ServiceContext:
    """The subprocess runs on the real clock: so must the context that reads its jobs."""
    return make_context(catalog_url, on=SYSTEM_CLOCK)


def test_a_killed_backup_process_is_failed_and_the_next_backup_works(
    real_clock_ctx: ServiceContext, catalog_url: str, tmp_path: Path
) -> None:
    ctx = real_clock_ctx
    source = random_tree(tmp_path / "big", 4, 16 << 20)  # 64 MiB: the transfer takes a while
    vaults.create_vault(ctx, VAULT)
    policies.create_policy(ctx, VAULT, POLICY, DAILY_POLICY)
    protection.enable_for_files(ctx, VAULT, POLICY, [str(source)], ITEM)
    cli = Cli(tmp_path, catalog_url)

    child = cli.start("protection", "backup-now", "--vault-name", VAULT, "--item-name", ITEM)
    try:

        def transferring() -> bool:
            assert child.poll() is None, "the backup ended before it could be killed"
            holder = item_row(ctx).active_job
            return holder is not None and job_row(ctx, holder).phase == TaskName.TRANSFER

        wait_until(transferring, timeout=60, interval=0.002)
        name = item_row(ctx).active_job
        assert name is not None
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(60)
    assert child.returncode == -signal.SIGKILL
    assert job_row(ctx, name).status == JobStatus.IN_PROGRESS  # as the dead process left it

    listed = cli.run("job", "list", "--vault-name", VAULT)
    assert listed.returncode == 0, listed.stderr
    [killed] = [j for j in json.loads(listed.stdout) if j["name"] == name]
    assert killed["status"] == JobStatus.FAILED
    assert killed["errorCode"] == Code.JOB_PROCESS_LOST.value
    assert task_statuses(ctx, name)[TaskName.TRANSFER] == TaskStatus.FAILED
    row = item_row(ctx)
    assert row.active_job is None
    assert row.protection_state == ProtectionState.PROTECTION_ERROR

    for big in source.iterdir():  # a small backup is enough to show the item works again
        big.unlink()
    (source / "small").write_bytes(b"small")
    again = cli.run("protection", "backup-now", "--vault-name", VAULT, "--item-name", ITEM)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == JobStatus.COMPLETED
    assert item_row(ctx).protection_state == ProtectionState.PROTECTED
    assert len(recoverypoints.list_recovery_points(ctx, VAULT, ITEM)) == 1
    check = vaults.check(ctx, VAULT)
    assert check.ok, check.problems


def test_stopping_a_lost_job_finds_it_failed(ctx: ServiceContext, item: str, dead: Process) -> None:
    name = plant_lost_backup(ctx, dead)
    with raises(Code.JOB_NOT_IN_PROGRESS):
        jobs.stop_job(ctx, VAULT, name)
    assert job_row(ctx, name).error_code == Code.JOB_PROCESS_LOST.value
    assert item_row(ctx).active_job is None
