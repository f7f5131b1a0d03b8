"""A real guest backed up through the CLI: consistency recorded on each recovery point, a clean
ext4 in a frozen backup, changed-block tracking of the guest's own writes, and the fallback to a
crash-consistent point when the guest agent stops answering."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli
from tests.support.guest import Guest, agent_down, events
from tests.vm.vmcli import POLICY, VAULT, host_cli

pytest_plugins = ("tests.vm.guestfixtures",)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return host_cli(tmp_path)


def _backup(cli: Cli, vm: str) -> Any:
    return cli.run("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)


def _restored_vda(cli: Cli, vm: str, rp: str, target: Path) -> Path:
    target.mkdir()
    job = cli.ok(
        "restore", "restore-disks", "--vault-name", VAULT, "--item-name", vm,
        "--rp-name", rp, "--target-dir", target, "--diskslist", "vda",
    )  # fmt: skip
    (disk,) = job["stats"]["disks"]
    return Path(disk["path"])


def _ext4_state(image: Path) -> tuple[bool, int]:
    """(needs journal replay, e2fsck -fn exit code) of a raw ext4 image."""
    header = subprocess.run(
        ["dumpe2fs", "-h", str(image)], check=True, capture_output=True, text=True
    ).stdout
    features = next(line for line in header.splitlines() if line.startswith("Filesystem features"))
    check = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, check=False)
    return "needs_recovery" in features, check.returncode


def test_application_consistent_backup_of_a_busy_guest_holds_a_clean_ext4(
    cli: Cli, guest: Guest, tmp_path: Path
) -> None:
    vm = guest.name
    job = cli.ok(
        "protection", "enable-for-vm", "--vault-name", VAULT, "--vm", vm, "--policy-name", POLICY,
        "--pre-script", "/usr/local/bin/pre-ok.sh", "--pre-script-param", "nightly",
        "--post-script", "/usr/local/bin/post-ok.sh", "--script-timeout", "20",
    )  # fmt: skip
    assert job["status"] == "Completed", job
    # A writer keeps the journal busy: only a frozen file system is clean in the backup.
    guest.shell(
        "(i=0; while [ $i -lt 4000 ]; do echo line $i >> /data/busy.log; i=$((i+1)); done) &"
        " sleep 0.5; true"
    )
    first = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert first["stats"]["consistency"] == "ApplicationConsistent", first
    order = [e.split()[0] for e in events(guest.domain) if e.split()[0] in {"pre-ok", "post-ok"}]
    assert order == ["pre-ok", "post-ok"]
    points = cli.ok("recoverypoint", "list", "--vault-name", VAULT, "--item-name", vm)
    assert [p["consistency"] for p in points] == ["ApplicationConsistent"]
    image = _restored_vda(cli, vm, first["recoveryPoint"], tmp_path / "first")
    assert _ext4_state(image) == (False, 0)

    # The guest writes 3 MiB of new data: the next backup reads about that, not the disk.
    guest.shell("dd if=/dev/urandom of=/data/new.bin bs=1M count=3 2>/dev/null; sync")
    second = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    vda = next(d for d in second["stats"]["disks"] if d["target"] == "vda")
    assert vda["incremental"] is True
    assert 3 <= vda["chunks_read"] <= 12, vda  # the data, plus metadata and journal blocks
    image = _restored_vda(cli, vm, second["recoveryPoint"], tmp_path / "second")
    assert _ext4_state(image) == (False, 0)
    want = guest.shell("md5sum /data/new.bin").stdout.split()[0]
    dumped = subprocess.run(
        ["debugfs", "-R", "dump /new.bin /dev/stdout", str(image)],
        check=True,
        capture_output=True,
    ).stdout
    assert hashlib.md5(dumped).hexdigest() == want

    # The agent stops answering: the backup goes on, crash-consistent, and says why.
    agent_down(guest.domain, 30)
    third = _backup(cli, vm)
    assert third.rc == 3, third.describe()
    assert third.out["stats"]["consistency"] == "CrashConsistent"
    assert "UserErrorGuestAgentStatusUnavailable" in [w["code"] for w in third.out["warnings"]]
