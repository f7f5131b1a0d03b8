"""VM restores through the CLI against a real libvirtd and QEMU: create-vm, replace-disks,
and file recovery (mount-rp over NBD, list and extract from ext4 inside the disks).

The VMs are blank (see tests/support/vms.py). For file recovery their disks are built on the
host: an ext4 made with `mkfs.ext4 -d` from a folder of files, inside an MBR partition on one
disk and on the whole of another, converted to qcow2 before the VM starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli
from tests.support.vms import (
    DiskSpec,
    MiB,
    blank_domain_xml,
    define_blank_vm,
    write_into,
)
from tests.vm.vmcli import VAULT, host_cli, protect


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_disk(path: Path, fmt: str) -> bytes:
    """A disk's guest-visible bytes: converted to a raw file first (qemu-img seeks over holes,
    which a pipe cannot do), readable while QEMU runs (-U)."""
    raw = path.with_name(f".{path.name}.read.raw")
    try:
        subprocess.run(
            ["qemu-img", "convert", "-U", "-q", "-f", fmt, "-O", "raw", str(path), str(raw)],
            check=True,
        )
        return raw.read_bytes()
    finally:
        raw.unlink(missing_ok=True)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return host_cli(tmp_path)


@pytest.fixture
def network(libvirt_conn: Any, vm_prefix: str) -> Iterator[str]:
    """A transient isolated libvirt network (a bridge, no addresses, no dnsmasq)."""
    import libvirt

    name = f"{vm_prefix}net"
    bridge = f"rsvbr{vm_prefix.split('-')[1]}"
    net = libvirt_conn.networkCreateXML(
        f"<network><name>{name}</name><bridge name='{bridge}' stp='off'/></network>"
    )
    yield name
    with contextlib.suppress(libvirt.libvirtError):
        net.destroy()


def _backup(cli: Cli, vm: str) -> str:
    result = cli.run("protection", "backup-now", "--vault-name", VAULT, "--item-name", vm)
    assert result.rc in (0, 3), result.describe()
    assert result.out["status"] in ("Completed", "CompletedWithWarnings"), result.out
    return str(result.out["recoveryPoint"])


def _restore(cli: Cli, verb: str, vm: str, rp: str, *extra: Any) -> list[Any]:
    return ["restore", verb, "--vault-name", VAULT, "--item-name", vm, "--rp-name", rp, *extra]


def _files(verb: str, vm: str, rp: str, *extra: Any) -> list[Any]:
    return ["restore", "files", verb, "--vault-name", VAULT, "--item-name", vm, "--rp-name", rp,
            *extra]  # fmt: skip


def _xml(conn: Any, name: str) -> ET.Element:
    import libvirt

    return ET.fromstring(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def _sources(root: ET.Element) -> dict[str, str]:
    found = {}
    for disk in root.iter("disk"):
        target, source = disk.find("target"), disk.find("source")
        assert target is not None
        assert source is not None
        found[target.get("dev", "")] = source.get("file", "")
    return found


def _domain_names(conn: Any, prefix: str) -> set[str]:
    """This test's domains (other tests may define theirs meanwhile)."""
    return {d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)}


# ------------------------------------------------------------------------------------------
# create-vm


def test_create_vm_defines_a_new_domain_with_new_identities_and_the_backed_up_disks(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, network: str
) -> None:
    vm = f"{vm_prefix}src"
    disks = [DiskSpec("vda", 32 * MiB), DiskSpec("vdb", 8 * MiB)]
    domain = define_blank_vm(libvirt_conn, vm, vm_dir, disks, agent_channel=False, network=network)
    rng = random.Random(11)
    vda, vdb = bytearray(32 * MiB), bytearray(8 * MiB)
    vda[0 : 2 * MiB] = rng.randbytes(2 * MiB)
    vdb[5 * MiB : 6 * MiB] = rng.randbytes(MiB)
    write_into(domain, "vda", 0, bytes(vda[: 2 * MiB]), vm_dir)
    write_into(domain, "vdb", 5 * MiB, bytes(vdb[5 * MiB : 6 * MiB]), vm_dir)
    at_backup = {"vda": _sha(vda), "vdb": _sha(vdb)}
    protect(cli, vm)
    rp = _backup(cli, vm)
    write_into(domain, "vda", 0, bytes(MiB), vm_dir)  # the source moves on; the copy must not

    new = f"{vm_prefix}copy"
    job = cli.ok(*_restore(cli, "create-vm", vm, rp, "--vm-name", new, "--target-dir", vm_dir))
    assert job["status"] == "Completed", job
    assert [t["name"] for t in job["subTasks"]] == ["Transfer data", "Creating VM"]
    assert all(t["status"] == "Completed" for t in job["subTasks"]), job
    assert job["stats"]["started"] is False

    old, copy = _xml(libvirt_conn, vm), _xml(libvirt_conn, new)
    assert copy.findtext("uuid") == job["stats"]["uuid"] != old.findtext("uuid")
    old_macs = {m.get("address") for m in old.iter("mac")}
    new_macs = {m.get("address") for m in copy.iter("mac")}
    assert len(new_macs) == 1
    assert not new_macs & old_macs
    assert [s.get("network") for s in copy.iter("source") if s.get("network")] == [network]
    sources = _sources(copy)
    assert sources == {t: str(vm_dir / f"{new}-{t}.qcow2") for t in ("vda", "vdb")}
    for target, path in sources.items():
        assert _sha(read_disk(Path(path), "qcow2")) == at_backup[target], target
    assert not libvirt_conn.lookupByName(new).isActive()  # defined, not started

    started = f"{vm_prefix}run"
    job = cli.ok(
        *_restore(cli, "create-vm", vm, rp, "--vm-name", started, "--target-dir", vm_dir,
                  "--start")
    )  # fmt: skip
    assert job["stats"]["started"] is True
    assert libvirt_conn.lookupByName(started).isActive()


def test_create_vm_refusals_come_before_anything_is_written(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, network: str, tmp_path: Path
) -> None:
    import libvirt

    vm = f"{vm_prefix}src"
    define_blank_vm(
        libvirt_conn, vm, vm_dir, [DiskSpec("vda", 8 * MiB), DiskSpec("vdb", 8 * MiB)],
        agent_channel=False, network=network,
    )  # fmt: skip
    protect(cli, vm)
    rp = _backup(cli, vm)
    out = vm_dir / "out"
    out.mkdir()
    out.chmod(0o755)
    new = f"{vm_prefix}new"

    def refused(code: str, *extra: Any) -> None:
        before = _domain_names(libvirt_conn, vm_prefix)
        cli.fails(code, *_restore(cli, "create-vm", vm, rp, "--target-dir", out, *extra))
        assert _domain_names(libvirt_conn, vm_prefix) == before
        assert list(out.iterdir()) == []

    refused("UserErrorVmNameAlreadyExists", "--vm-name", vm)
    refused("UserErrorNetworkNotFound", "--vm-name", new, "--network", f"{vm_prefix}nowhere")
    refused("UserErrorInvalidArgument", "--vm-name", "no/slashes")
    libvirt_conn.networkLookupByName(network).destroy()  # the VM's own network is gone now
    refused("UserErrorNetworkNotFound", "--vm-name", new)
    private = tmp_path / "private"  # under pytest's mode-700 folder: QEMU cannot read it
    private.mkdir()
    cli.fails(
        "UserErrorInvalidArgument",
        *_restore(cli, "create-vm", vm, rp, "--vm-name", new, "--target-dir", private),
    )
    assert list(private.iterdir()) == []

    # More vCPUs than the host has: definable and backed up (shut off), not creatable.
    cpus = libvirt_conn.getInfo()[2]
    big = f"{vm_prefix}big"
    define_blank_vm(
        libvirt_conn, big, vm_dir, [DiskSpec("vda", 4 * MiB)], start=False,
        agent_channel=False, vcpus=cpus + 1,
    )  # fmt: skip
    protect(cli, big)
    big_rp = _backup(cli, big)
    result = cli.fails(
        "UserErrorSkuNotAvailable",
        *_restore(cli, "create-vm", big, big_rp, "--vm-name", new, "--target-dir", out),
    )
    assert "vCPUs" in result.error["message"]
    with pytest.raises(libvirt.libvirtError):
        libvirt_conn.lookupByName(new)

    # A selective-disk point cannot make a whole VM (nor replace its disks).
    part = f"{vm_prefix}part"
    define_blank_vm(
        libvirt_conn, part, vm_dir, [DiskSpec("vda", 4 * MiB), DiskSpec("vdb", 4 * MiB)],
        agent_channel=False,
    )  # fmt: skip
    protect(cli, part, "--disk-list-setting", "include", "--diskslist", "vda")
    part_rp = _backup(cli, part)
    refused_all = _restore(cli, "create-vm", part, part_rp, "--vm-name", new, "--target-dir", out)
    result = cli.fails("UserErrorRestoreNeedsAllDisks", *refused_all)
    assert "vdb" in result.error["message"]
    libvirt_conn.lookupByName(part).destroy()
    cli.fails("UserErrorRestoreNeedsAllDisks", *_restore(cli, "replace-disks", part, part_rp))
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------------------------------
# replace-disks


def test_replace_disks_only_when_shut_off_and_keeps_the_old_disks(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}rep"
    domain = define_blank_vm(
        libvirt_conn, vm, vm_dir, [DiskSpec("vda", 16 * MiB), DiskSpec("vdb", 8 * MiB, "raw")],
        agent_channel=False,
    )  # fmt: skip
    rng = random.Random(5)
    vda, vdb = bytearray(16 * MiB), bytearray(8 * MiB)
    vda[MiB : 2 * MiB] = rng.randbytes(MiB)
    vdb[0:MiB] = rng.randbytes(MiB)
    write_into(domain, "vda", MiB, bytes(vda[MiB : 2 * MiB]), vm_dir)
    write_into(domain, "vdb", 0, bytes(vdb[0:MiB]), vm_dir)
    protect(cli, vm)
    rp = _backup(cli, vm)
    paths = {"vda": vm_dir / f"{vm}-vda.qcow2", "vdb": vm_dir / f"{vm}-vdb.raw"}
    at_backup = {"vda": _sha(vda), "vdb": _sha(vdb)}
    vda[MiB : 2 * MiB] = rng.randbytes(MiB)  # what the replace undoes
    write_into(domain, "vda", MiB, bytes(vda[MiB : 2 * MiB]), vm_dir)
    after = {"vda": _sha(vda), "vdb": _sha(vdb)}
    uuid = domain.UUIDString()

    result = cli.fails("UserErrorVmNotShutDown", *_restore(cli, "replace-disks", vm, rp))
    assert "running" in result.error["message"]
    assert _sources(_xml(libvirt_conn, vm)) == {t: str(p) for t, p in paths.items()}

    domain.destroy()
    job = cli.ok(*_restore(cli, "replace-disks", vm, rp))
    assert job["status"] == "Completed", job
    new = {t: vm_dir / f"{vm}-{rp}-{t}{p.suffix}" for t, p in paths.items()}
    assert {r["target"]: r["new"] for r in job["stats"]["replaced"]} == {
        t: str(p) for t, p in new.items()
    }
    root = _xml(libvirt_conn, vm)
    assert root.findtext("uuid") == uuid
    assert _sources(root) == {t: str(p) for t, p in new.items()}
    formats = {d.find("target").get("dev"): d.find("driver").get("type") for d in root.iter("disk")}  # type: ignore[union-attr]
    assert formats == {"vda": "qcow2", "vdb": "raw"}
    for target, path in new.items():
        assert _sha(read_disk(path, path.suffix[1:])) == at_backup[target], target
    for target, path in paths.items():  # the replaced disks are kept, untouched
        assert _sha(read_disk(path, path.suffix[1:])) == after[target], target

    # A second replace from the same point never writes over the disk it attached.
    cli.fails("UserErrorRestoreTargetNotWritable", *_restore(cli, "replace-disks", vm, rp))
    assert _sources(_xml(libvirt_conn, vm)) == {t: str(p) for t, p in new.items()}

    domain.create()  # the VM runs on its new disks, and backs up again
    _backup(cli, vm)


# ------------------------------------------------------------------------------------------
# file recovery

FILES = {
    "etc/hostname": b"restored-host\n",
    "etc/app/config.json": json.dumps({"mode": "restore"}).encode(),
    "data/big.bin": random.Random(3).randbytes(3 * MiB + 123),
    "data/empty": b"",
    "data/name with spaces.txt": b"spaces\n",
    "data/new\nline/1/040755/0/0/x": b"names that look like debugfs output\n",
    "home/u/文件.txt": "文件".encode(),
}


def _tree(root: Path) -> Path:
    for rel, data in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "etc" / "hostname").chmod(0o640)
    (root / "data" / "link").symlink_to("big.bin")
    return root


def _mkfs(image: Path, tree: Path, size: int) -> None:
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), f"{size // 1024}k"], check=True
    )


def _mbr(entries: list[tuple[int, int, int]]) -> bytes:
    """A DOS partition table: (type, first sector, sectors) per primary partition."""
    table = bytearray(512)
    for n, (kind, start, count) in enumerate(entries):
        entry = bytes([0, 0, 0, 0, kind, 0, 0, 0])
        entry += start.to_bytes(4, "little") + count.to_bytes(4, "little")
        table[446 + 16 * n : 462 + 16 * n] = entry
    table[510:512] = b"\x55\xaa"
    return bytes(table)


def _file_vm(conn: Any, name: str, workdir: Path, scratch: Path) -> dict[str, bytes]:
    """vda: MBR with ext4 at 1 MiB (vda1) and an unformatted vda2; vdb: ext4 on the whole
    disk. Returns each disk's raw bytes as backed up."""
    tree = _tree(scratch / "tree")
    fs = scratch / "fs.img"
    _mkfs(fs, tree, 24 * MiB)
    vda = scratch / "vda.raw"
    with open(vda, "wb") as f:
        f.truncate(48 * MiB)
        f.write(_mbr([(0x83, 2048, 24 * 2048), (0x83, 26 * 2048, 8 * 2048)]))
        f.seek(MiB)
        f.write(fs.read_bytes())
    vdb = scratch / "vdb.raw"
    _mkfs(vdb, tree, 16 * MiB)
    placed = []
    for target, raw in (("vda", vda), ("vdb", vdb)):
        image = workdir / f"{name}-{target}.qcow2"
        subprocess.run(
            ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(image)],
            check=True,
        )
        placed.append((DiskSpec(target, raw.stat().st_size), image))
    conn.defineXML(blank_domain_xml(name, placed, agent_channel=False)).create()
    return {"vda": vda.read_bytes(), "vdb": vdb.read_bytes()}


def _mount_state(cli: Cli) -> Path:
    states = list((cli.home / "mounts").glob("*.json"))
    assert len(states) == 1, states
    return states[0]


def _server_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait_dead(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _server_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def mounts(cli: Cli) -> Iterator[Cli]:
    """Stops any NBD server a failed test left running, by the PIDs its mounts recorded."""
    yield cli
    for state in (cli.home / "mounts").glob("*.json"):
        for disk in json.loads(state.read_text()).get("disks", []):
            if disk.get("pid") and _server_alive(disk["pid"]):
                os.kill(disk["pid"], signal.SIGTERM)
                _wait_dead(disk["pid"], 5)
        with contextlib.suppress(OSError):
            shutil.rmtree(json.loads(state.read_text())["socketDir"])


def test_mount_rp_serves_the_disks_read_only_over_nbd_and_unmount_stops_it(
    mounts: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, tmp_path: Path
) -> None:
    import nbd

    cli = mounts
    vm = f"{vm_prefix}files"
    expected = _file_vm(libvirt_conn, vm, vm_dir, tmp_path)
    protect(cli, vm)
    rp = _backup(cli, vm)

    view = cli.ok(*_files("mount-rp", vm, rp))
    assert datetime.fromisoformat(view["expiresAt"]) - datetime.now(UTC) > timedelta(hours=11.9)
    disks = {d["target"]: d for d in view["disks"]}
    assert {v["name"]: (v["filesystem"], v["offset"]) for v in disks["vda"]["volumes"]} == {
        "vda1": ("ext4", MiB),
        "vda2": (None, 26 * MiB),
    }
    assert [(v["name"], v["filesystem"]) for v in disks["vdb"]["volumes"]] == [("vdb", "ext4")]
    assert any("qemu-nbd --read-only" in line for line in view["attach"])
    for target, data in expected.items():
        handle = nbd.NBD()
        handle.connect_uri(disks[target]["uri"])
        try:
            assert handle.get_size() == len(data)
            assert handle.is_read_only()
            got = b"".join(
                handle.pread(min(4 * MiB, len(data) - at), at)
                for at in range(0, len(data), 4 * MiB)
            )
        finally:
            handle.shutdown()
        assert _sha(got) == _sha(data), target
    again = cli.ok(*_files("mount-rp", vm, rp))  # mounted already: the same exports
    assert [d["pid"] for d in again["disks"]] == [d["pid"] for d in view["disks"]]

    cli.ok(*_files("unmount-rp", vm, rp))
    for disk in view["disks"]:
        assert _wait_dead(disk["pid"], 5)
        assert not Path(disk["image"]).exists()
        assert not Path(disk["socket"]).exists()
    assert not Path(view["folder"]).exists()
    assert list((cli.home / "mounts").glob("*.json")) == []
    cli.fails("UserErrorRecoveryPointNotMounted", *_files("unmount-rp", vm, rp))
    cli.fails("UserErrorRecoveryPointNotMounted", *_files("list", vm, rp, "--volume", "vdb"))

    # Expiry: the server ends by itself, and the next command sweeps the record.
    short = cli.ok(*_files("mount-rp", vm, rp, "--hours", "0.001"))
    for disk in short["disks"]:
        assert _wait_dead(disk["pid"], 15), "qemu-nbd outlived its mount"
    cli.fails("UserErrorRecoveryPointNotMounted", *_files("list", vm, rp, "--volume", "vdb"))
    assert not Path(short["folder"]).exists()

    # An expired record with its server still running: any files command stops it.
    long = cli.ok(*_files("mount-rp", vm, rp))
    state = _mount_state(cli)
    record = json.loads(state.read_text())
    record["expiresAt"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    state.write_text(json.dumps(record))
    cli.fails("UserErrorRecoveryPointNotMounted", *_files("extract", vm, rp, "-t", tmp_path / "x"))
    for disk in long["disks"]:
        assert _wait_dead(disk["pid"], 5)
    assert not state.exists()


def test_list_and_extract_read_ext4_inside_the_disks(
    mounts: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path, tmp_path: Path
) -> None:
    cli = mounts
    vm = f"{vm_prefix}files"
    _file_vm(libvirt_conn, vm, vm_dir, tmp_path)
    protect(cli, vm)
    rp = _backup(cli, vm)
    cli.ok(*_files("mount-rp", vm, rp))

    cli.fails("UserErrorInvalidArgument", *_files("list", vm, rp))  # two ext4 volumes: which?
    cli.fails("UserErrorFileSystemNotSupported", *_files("list", vm, rp, "--volume", "vda2"))
    top = cli.ok(*_files("list", vm, rp, "--volume", "vda1"))
    assert {e["path"]: e["type"] for e in top} == {
        "/lost+found": "dir",
        "/etc": "dir",
        "/data": "dir",
        "/home": "dir",
    }
    listed = cli.ok(*_files("list", vm, rp, "--volume", "vda1", "--path", "/data", "-R"))
    by_path = {e["path"]: e for e in listed}
    assert by_path["/data/big.bin"]["size"] == len(FILES["data/big.bin"])
    assert by_path["/data/link"]["type"] == "symlink"
    one = cli.ok(*_files("list", vm, rp, "--volume", "vdb", "--path", "/etc/hostname"))
    assert [(e["path"], e["mode"], e["size"]) for e in one] == [("/etc/hostname", "0640", 14)]
    cli.fails("UserErrorRestorePathNotInRecoveryPoint", *_files("list", vm, rp, "--volume",
              "vdb", "--path", "/etc/nothing"))  # fmt: skip

    out = tmp_path / "out"
    job = cli.ok(*_files("extract", vm, rp, "--volume", "vda1", "-t", out, "-p", "/etc",
                         "-p", "/data", "-p", "/home"))  # fmt: skip
    assert job["status"] == "Completed", job
    for rel, data in FILES.items():
        assert (out / rel).read_bytes() == data, rel
    assert (out / "etc" / "hostname").stat().st_mode & 0o777 == 0o640
    assert job["stats"]["files"] == len(FILES)
    assert [s["path"] for s in job["stats"]["skipped"]] == ["/data/link"]
    assert not [p for p in out.iterdir() if p.name.startswith(".rsvault")]

    # Nothing is overwritten: a changed file stays as the user left it.
    (out / "etc" / "hostname").write_bytes(b"mine\n")
    again = cli.ok(*_files("extract", vm, rp, "--volume", "vdb", "-t", out, "-p", "/etc"))
    assert (out / "etc" / "hostname").read_bytes() == b"mine\n"
    assert again["stats"]["files"] == 0
    assert {s["reason"] for s in again["stats"]["skipped"]} == {
        "exists in the target; nothing is overwritten"
    }

    # Escapes: a path that climbs, and a symlink planted in the target.
    cli.fails("RestoreUnsafePath", *_files("extract", vm, rp, "--volume", "vdb", "-t", out,
              "-p", "/etc/../../x"))  # fmt: skip
    planted, elsewhere = tmp_path / "planted", tmp_path / "elsewhere"
    planted.mkdir()
    elsewhere.mkdir()
    (planted / "etc").symlink_to(elsewhere)
    cli.fails("RestoreUnsafePath", *_files("extract", vm, rp, "--volume", "vdb", "-t", planted,
              "-p", "/etc/hostname"))  # fmt: skip
    assert list(elsewhere.iterdir()) == []
    cli.ok(*_files("unmount-rp", vm, rp))
