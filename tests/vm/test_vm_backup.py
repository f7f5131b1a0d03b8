"""VM backups through the CLI against a real libvirtd and QEMU: full, then changed blocks only.

The VMs are blank (no OS, see tests/support/vms.py); the tests write into their running disks
through QEMU's block layer, as a guest would, and compare each restored disk with the disk as
it was when its recovery point was taken.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli
from tests.support.vms import DiskSpec, MiB, define_blank_vm, write_into
from tests.vm.vmcli import POLICY, VAULT, host_cli

CHUNK = 1 * MiB


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return host_cli(tmp_path)


def _backup(cli: Cli, vm: str, rc: int = 0) -> dict[str, Any]:
    result = cli.run("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert result.rc == rc, result.describe()
    return dict(result.out)


def _disk_stats(job: dict[str, Any], target: str) -> dict[str, Any]:
    return next(d for d in job["stats"]["disks"] if d["target"] == target)


def _restore(cli: Cli, vm: str, rp: str, target: Path, *extra: str) -> dict[str, Any]:
    target.mkdir(exist_ok=True)
    job = cli.ok(
        "restore", "restore-disks", "--vault-name", VAULT, "--item-name", vm,
        "--rp-name", rp, "--target-dir", target, *extra,
    )  # fmt: skip
    assert job["status"] == "Completed", job
    return dict(job)


def test_full_then_incremental_reads_only_dirty_extents_and_restores_each_instant(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, tmp_path: Path
) -> None:
    vm = f"{vm_prefix}cbt"
    disks = [DiskSpec("vda", 64 * MiB, "qcow2"), DiskSpec("vdb", 16 * MiB, "raw")]
    domain = define_blank_vm(libvirt_conn, vm, vm_dir, disks, agent_channel=False)
    # The oracle: what the guest wrote, applied to zeroed disks. (Reading the image file while
    # QEMU runs could miss what QEMU still holds in its qcow2 caches.)
    model = {d.target: bytearray(d.size) for d in disks}
    rng = random.Random(7)

    def write(target: str, offset: int, data: bytes) -> None:
        write_into(domain, target, offset, data, vm_dir)
        model[target][offset : offset + len(data)] = data

    write("vda", 0, rng.randbytes(3 * MiB))
    write("vda", 40 * MiB, rng.randbytes(MiB // 2))
    write("vdb", 2 * MiB, rng.randbytes(MiB))

    listed = cli.ok("protectable-item", "list", "--vault-name", VAULT)
    mine = next(p for p in listed if p["name"] == vm)
    assert mine["state"] == "running"
    assert mine["guestAgentChannel"] is False
    assert [(d["target"], d["format"], d["size"]) for d in mine["disks"]] == [
        ("vda", "qcow2", 64 * MiB),
        ("vdb", "raw", 16 * MiB),
    ]
    job = cli.ok(
        "protection", "enable-for-vm", "--vault-name", VAULT, "--vm", vm,
        "--policy-name", POLICY, "--no-fsfreeze",
    )  # fmt: skip
    assert job["status"] == "Completed", job
    assert vm not in [p["name"] for p in cli.ok("protectable-item", "list", "--vault-name", VAULT)]

    first = _backup(cli, vm, rc=3)  # a raw disk is read in full: said on every job
    assert first["status"] == "CompletedWithWarnings", first
    assert [w["code"] for w in first["warnings"]] == ["DiskReadInFullNoBitmap"]
    assert _disk_stats(first, "vda")["incremental"] is False
    # Only the chunks with data were read: 3 MiB at 0 and half a chunk at 40 MiB.
    vda = _disk_stats(first, "vda")
    assert (vda["chunks_read"], vda["chunks_zero"], vda["chunks_kept"]) == (4, 60, 0), vda
    day1 = {target: _sha(bytes(data)) for target, data in model.items()}

    write("vda", 10 * MiB + 4096, rng.randbytes(8192))  # inside one chunk
    write("vda", 63 * MiB, rng.randbytes(MiB))
    write("vda", 0, bytes(MiB))  # zeros over data: a changed chunk too
    second = _backup(cli, vm, rc=3)
    vda = _disk_stats(second, "vda")
    assert vda["incremental"] is True
    # Chunks 0, 10 and 63 changed; everything else is the first point's.
    assert (vda["chunks_read"], vda["chunks_kept"]) == (3, 61), vda
    assert _disk_stats(second, "vdb")["incremental"] is False
    day2 = {target: _sha(bytes(data)) for target, data in model.items()}

    points = cli.ok("recoverypoint", "list", "--vault-name", VAULT, "--item-name", vm)
    names = sorted(p["name"] for p in points)
    assert len(names) == 2
    assert {p["consistency"] for p in points} == {"CrashConsistent"}
    for name, expected in zip(names, (day1, day2), strict=True):
        out = tmp_path / f"restore-{name}"
        job = _restore(cli, vm, name, out)
        restored = {Path(d["path"]).name: d for d in job["stats"]["disks"]}
        assert len(restored) == 2
        for disk in job["stats"]["disks"]:
            data = Path(disk["path"]).read_bytes()
            assert _sha(data) == expected[disk["target"]], (name, disk["target"])
        # Sparse: the restored image allocates about what the disk holds, not its size.
        vda_file = Path(next(d["path"] for d in job["stats"]["disks"] if d["target"] == "vda"))
        assert vda_file.stat().st_blocks * 512 < 16 * MiB
    assert json.dumps(cli.ok("vault", "check", "--name", VAULT))


def test_excluded_disk_is_neither_exported_nor_checkpointed(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}sel"
    disks = [DiskSpec("vda", 16 * MiB, "qcow2"), DiskSpec("vdb", 16 * MiB, "qcow2")]
    domain = define_blank_vm(libvirt_conn, vm, vm_dir, disks, agent_channel=False)
    write_into(domain, "vdb", 0, random.Random(2).randbytes(MiB), vm_dir)
    job = cli.ok(
        "protection", "enable-for-vm", "--vault-name", VAULT, "--vm", vm, "--policy-name", POLICY,
        "--no-fsfreeze", "--disk-list-setting", "exclude", "--diskslist", "vdb",
    )  # fmt: skip
    assert job["status"] == "Completed", job
    first = _backup(cli, vm)
    assert [d["target"] for d in first["stats"]["disks"]] == ["vda"]
    (checkpoint,) = [c for c in domain.listAllCheckpoints() if c.getName().startswith("rsvault-")]
    assert "<disk name='vdb' checkpoint='no'/>" in checkpoint.getXMLDesc(0)
