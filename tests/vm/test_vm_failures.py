"""VM backup failures, each produced for real on a real libvirt host, and the cases where the
backup goes on with a full read and says so."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import libvirt
import pytest
from tests.e2e.conftest import Cli
from tests.support.vms import (
    DiskSpec,
    MiB,
    define_blank_vm,
    destroy_vm,
    read_disk,
    write_into,
)
from tests.vm.vmcli import VAULT, host_cli, protect

from rsvault.sources.libvirt.domain import describe_all


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return host_cli(tmp_path)


def _backup(cli: Cli, vm: str) -> Any:
    return cli.run("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)


def _failed_with(cli: Cli, vm: str, code: str) -> dict[str, Any]:
    result = _backup(cli, vm)
    assert result.rc != 0, result.describe()
    assert result.error_code == code, result.describe()
    job = cli.ok("job", "list", "--vault-name", VAULT)[0]
    assert (job["status"], job["errorCode"]) == ("Failed", code), job
    return dict(job)


def _our_checkpoints(domain: Any) -> list[str]:
    return sorted(
        c.getName() for c in domain.listAllCheckpoints() if c.getName().startswith("rsvault-")
    )


def _qcow2_vm(conn: Any, name: str, vm_dir: Path, size: int = 16 * MiB, **kw: Any) -> Any:
    return define_blank_vm(
        conn, name, vm_dir, [DiskSpec("vda", size, "qcow2")], agent_channel=False, **kw
    )


def test_paused_vm_is_not_in_a_desirable_state_and_nothing_is_left_behind(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}paused"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    domain.suspend()
    job = _failed_with(cli, vm, "UserErrorVmNotInDesirableState")
    assert "paused" in job["errorMessage"]
    assert _our_checkpoints(domain) == []
    assert domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED  # left as the user had it
    item = cli.ok("item", "show", "--vault-name", VAULT, "--name", vm)
    assert item["lastErrorCode"] == "UserErrorVmNotInDesirableState"
    domain.resume()
    assert _backup(cli, vm).rc == 0


class _RemovingAfterListing:
    """A connection on which another tool removes one domain right after it was listed."""

    def __init__(self, conn: Any, victim: str) -> None:
        self._conn = conn
        self._victim = victim

    def listAllDomains(self) -> list[Any]:  # libvirt's name
        listed: list[Any] = self._conn.listAllDomains()
        destroy_vm(self._conn, self._victim)
        return listed


def test_a_domain_removed_during_discovery_is_left_out(
    libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    kept, removed = f"{vm_prefix}kept", f"{vm_prefix}removed"
    for name in (kept, removed):
        _qcow2_vm(libvirt_conn, name, vm_dir, start=False)
    described = describe_all(_RemovingAfterListing(libvirt_conn, removed))
    assert [i.name for i in described if i.name.startswith(vm_prefix)] == [kept]


def test_deleted_vm_fails_with_vm_not_found(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}gone"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    domain.destroy()
    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
    _failed_with(cli, vm, "UserErrorVmNotFoundV2")


def test_disk_over_the_configured_size_limit(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}big"
    _qcow2_vm(libvirt_conn, vm, vm_dir, size=2048 * MiB)
    protect(cli, vm, "--max-disk-size-gb", "1")
    job = _failed_with(cli, vm, "UserErrorUnsupportedDiskSize")
    assert "vda" in job["errorMessage"]


def test_too_many_checkpoints_that_are_not_ours(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}cps"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    for n in range(18):  # another tool's checkpoints: rsvault never deletes them
        xml = f"<domaincheckpoint><name>other-{n}</name></domaincheckpoint>"
        domain.checkpointCreateXML(xml, 0)
    _failed_with(cli, vm, "UserErrorRpCollectionLimitReached")
    assert len(domain.listAllCheckpoints()) == 18
    domain.checkpointLookupByName("other-0").delete(0)
    assert _backup(cli, vm).rc == 0
    assert len(domain.listAllCheckpoints()) == 18  # 17 of theirs and one of ours


def test_another_backup_job_on_the_vm(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}busy"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    foreign = vm_dir / "foreign"
    foreign.mkdir()
    foreign.chmod(0o777)  # QEMU's user creates the socket there
    sock = foreign / "nbd.sock"
    domain.backupBegin(
        f"<domainbackup mode='pull'><server transport='unix' socket='{sock}'/></domainbackup>",
        None,
        0,
    )
    try:
        _failed_with(cli, vm, "UserErrorBackupOperationInProgress")
    finally:
        domain.abortJob()
    assert _our_checkpoints(domain) == []
    assert _backup(cli, vm).rc == 0


def test_transfer_past_its_timeout(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}slow"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir, size=256 * MiB)
    rng = random.Random(3)
    for n in range(8):
        write_into(domain, "vda", n * 32 * MiB, rng.randbytes(4 * MiB), vm_dir)
    protect(cli, vm, "--transfer-timeout-minutes", "0.0001")  # 6 ms: any real transfer is over
    _failed_with(cli, vm, "CopyingVHDsFromBackUpVaultTakingLongTime")
    assert _our_checkpoints(domain) == []
    assert domain.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE


def test_deleted_checkpoint_falls_back_to_a_full_read_then_incremental_again(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}chain"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir)
    rng = random.Random(5)
    write_into(domain, "vda", 0, rng.randbytes(2 * MiB), vm_dir)
    protect(cli, vm)
    assert _backup(cli, vm).rc == 0
    (checkpoint,) = _our_checkpoints(domain)
    domain.checkpointLookupByName(checkpoint).delete(0)
    write_into(domain, "vda", 5 * MiB, rng.randbytes(MiB), vm_dir)
    second = _backup(cli, vm)
    assert second.rc == 3, second.describe()
    assert [w["code"] for w in second.out["warnings"]] == ["IncrementalFellBackToFullRead"]
    assert second.out["stats"]["disks"][0]["incremental"] is False
    write_into(domain, "vda", 9 * MiB, rng.randbytes(MiB), vm_dir)
    third = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert third["stats"]["disks"][0]["incremental"] is True
    assert third["stats"]["disks"][0]["chunks_read"] == 1
    assert len(_our_checkpoints(domain)) == 1


def test_shut_off_vm_is_read_paused_and_left_shut_off(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, tmp_path: Path
) -> None:
    vm = f"{vm_prefix}off"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir, start=False)
    disk = vm_dir / f"{vm}-vda.qcow2"
    subprocess.run(
        ["qemu-io", "-f", "qcow2", str(disk), "-c", "write -P 0x5a 3M 2M"],
        check=True,
        capture_output=True,
    )
    protect(cli, vm)
    job = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert job["stats"]["consistency"] == "CrashConsistent"
    assert not domain.isActive()
    assert len(_our_checkpoints(domain)) == 1  # checkpoints live in the image: kept for next time
    rp = job["recoveryPoint"]
    out = tmp_path / "restored"
    out.mkdir()
    restored = cli.ok(
        "restore", "restore-disks", "--vault-name", VAULT, "--item-name", vm,
        "--rp-name", rp, "--target-dir", out,
    )  # fmt: skip
    path = Path(restored["stats"]["disks"][0]["path"])
    assert path.read_bytes() == read_disk(disk, "qcow2")
    subprocess.run(
        ["qemu-io", "-f", "qcow2", str(disk), "-c", "write -P 0x6b 12M 1M"],
        check=True,
        capture_output=True,
    )
    # Written while shut off: QEMU's bitmap in the image did not see it... unless it did.
    second = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert not domain.isActive()
    again = tmp_path / "again"
    again.mkdir()
    restored = cli.ok(
        "restore", "restore-disks", "--vault-name", VAULT, "--item-name", vm,
        "--rp-name", second["recoveryPoint"], "--target-dir", again,
    )  # fmt: skip
    assert Path(restored["stats"]["disks"][0]["path"]).read_bytes() == read_disk(disk, "qcow2")


def test_replaced_disk_falls_back_to_a_full_read(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, tmp_path: Path
) -> None:
    vm = f"{vm_prefix}swap"
    domain = _qcow2_vm(libvirt_conn, vm, vm_dir)
    rng = random.Random(9)
    write_into(domain, "vda", MiB, rng.randbytes(MiB), vm_dir)
    protect(cli, vm)
    assert _backup(cli, vm).rc == 0
    # The disk is replaced while the VM is off: the new image has no bitmap of our checkpoint.
    domain.destroy()
    disk = vm_dir / f"{vm}-vda.qcow2"
    disk.unlink()
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), str(16 * MiB)], check=True
    )
    subprocess.run(
        ["qemu-io", "-f", "qcow2", str(disk), "-c", "write -P 0x42 4M 1M"],
        check=True,
        capture_output=True,
    )
    domain.create()
    second = _backup(cli, vm)
    assert second.rc == 3, second.describe()
    assert [w["code"] for w in second.out["warnings"]] == ["IncrementalFellBackToFullRead"]
    assert second.out["stats"]["disks"][0]["incremental"] is False
    out = tmp_path / "restored"
    out.mkdir()
    restored = cli.ok(
        "restore", "restore-disks", "--vault-name", VAULT, "--item-name", vm,
        "--rp-name", second.out["recoveryPoint"], "--target-dir", out,
    )  # fmt: skip
    expected = bytearray(16 * MiB)
    expected[4 * MiB : 5 * MiB] = b"\x42" * MiB
    assert Path(restored["stats"]["disks"][0]["path"]).read_bytes() == bytes(expected)
    third = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert third["stats"]["disks"][0]["incremental"] is True
