"""The XML of a pull-mode backup and its checkpoint: chosen disks exported, the others left
out by name, bitmaps only where the image format can carry one."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rsvault.sources.libvirt.domaininfo import DiskInfo
from rsvault.sources.libvirt.pullbackup import (
    BackupRequest,
    ExportedDisk,
    _backup_xml,
    _checkpoint_xml,
)


def _disk(target: str, fmt: str) -> DiskInfo:
    return DiskInfo(target, "disk", "file", f"/img/{target}.{fmt}", fmt, "virtio", 1 << 20)


VDA, VDB, VDC = _disk("vda", "qcow2"), _disk("vdb", "raw"), _disk("vdc", "qcow2")
REQUEST = BackupRequest("vm", [VDA, VDB, VDC], [VDA, VDB], "rsvault-1", "rsvault-0", None)


def test_backup_xml_exports_the_chosen_disks_and_leaves_the_others_out() -> None:
    exported = [ExportedDisk("vda", 1 << 20, incremental=True), ExportedDisk("vdb", 1 << 20, False)]
    root = ET.fromstring(
        _backup_xml(Path("/run/s.sock"), Path("/run"), exported, "rsvault-0", REQUEST.every)
    )
    disks = {d.get("name"): d.attrib for d in root.iter("disk")}
    assert disks["vda"]["backup"] == "yes"
    assert (disks["vda"]["backupmode"], disks["vda"]["incremental"]) == ("incremental", "rsvault-0")
    assert (disks["vdb"]["backup"], disks["vdb"]["backupmode"]) == ("yes", "full")
    assert disks["vdc"] == {"name": "vdc", "backup": "no"}
    assert root.find("server").attrib == {"transport": "unix", "socket": "/run/s.sock"}


def test_checkpoint_has_bitmaps_for_chosen_qcow2_disks_only() -> None:
    root = ET.fromstring(_checkpoint_xml("rsvault-1", REQUEST))
    assert root.findtext("name") == "rsvault-1"
    kinds = {d.get("name"): d.get("checkpoint") for d in root.iter("disk")}
    assert kinds == {"vda": "bitmap", "vdb": "no", "vdc": "no"}
