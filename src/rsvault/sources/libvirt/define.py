"""A new domain from a recovery point's stored XML, and new disks for an existing domain.

The stored XML is the inactive definition at backup time. A new VM made from it must not
collide with the original on anything the host or the network sees as an identity: its name,
UUID, VM generation ID, SMBIOS UUID, MAC addresses, tap device names, fixed VNC/SPICE ports,
UEFI variable store and agent socket path are removed, so libvirt makes fresh ones. Each
backed-up disk points at its restored image; the checks a user can act on (name taken,
network missing, more vCPUs or memory than the host) run before anything is written.

The XML is edited as a tree (xml.etree), never as text: a name or path with quotes or angle
brackets in it stays data.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import libvirt

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.hypervisor import domain_exists, host_resources, message_of

# Like an Azure VM name, and safe as the start of a file name: restored images are named
# <vm>-<target>.<format> in a shared folder.
VM_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_IMAGE_DIR = Path("/var/lib/libvirt/images")
_KIB_PER_UNIT = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "k": 1,
    "KiB": 1,
    "KB": 1000 / 1024,
    "M": 1024,
    "MiB": 1024,
    "MB": 1000**2 / 1024,
    "G": 1024**2,
    "GiB": 1024**2,
    "GB": 1000**3 / 1024,
    "T": 1024**3,
    "TiB": 1024**3,
    "TB": 1000**4 / 1024,
}


@dataclass(frozen=True)
class NewDisk:
    """A restored image that becomes the disk `target` of a domain."""

    target: str
    path: Path
    format: str  # qcow2 or raw: the <driver type> libvirt must open it with


@dataclass(frozen=True)
class NewDomainSpec:
    name: str
    disks: Sequence[NewDisk]
    network: str | None = None  # every <interface type='network'> joins this one
    source_vm: str = ""  # for messages: the backed-up VM and its recovery point
    rp_name: str = ""


@dataclass(frozen=True)
class DomainNeeds:
    """What defining (and later starting) a domain asks of its host."""

    vcpus: int
    memory_kib: int
    networks: list[str] = field(default_factory=list)


@dataclass
class NewDomain:
    xml: str
    dropped: list[str]  # devices left out, as "<kind> <name>", for the job's record


def check_vm_name(name: str) -> None:
    if not VM_NAME_PATTERN.fullmatch(name):
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--vm-name",
            reason="1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


def new_domain_xml(stored_xml: str, spec: NewDomainSpec) -> NewDomain:
    """The definition of a new domain: the stored one with new identities and new disks."""
    check_vm_name(spec.name)
    root = ET.fromstring(stored_xml)
    root.attrib.pop("id", None)  # a live domain's number, if a live XML was stored
    _set_text(root, "name", spec.name)
    _remove_children(root, "uuid")
    for genid in root.findall("genid"):
        genid.text = None  # empty: libvirt generates a new VM generation ID
    _forget_sysinfo_uuid(root)
    _forget_nvram_path(root)
    dropped = _replace_disks(root, spec)
    devices = root.find("devices")
    if devices is not None:
        _new_interfaces(devices, spec.network)
        _free_graphics_ports(devices)
        _free_channel_paths(devices)
    return NewDomain(_serialise(root), dropped)


def replaced_disks_xml(current_xml: str, disks: Sequence[NewDisk]) -> str:
    """The current definition with each of `disks` pointing at its new image; the rest as is."""
    root = ET.fromstring(current_xml)
    by_target = _disks_by_target(root)
    for disk in disks:
        node = by_target.get(disk.target)
        if node is None:
            name = root.findtext("name", "")
            raise RsvaultError(Code.VM_DISK_NOT_FOUND, vm=name, disk=disk.target)
        _point_disk_at(node, disk)
    return _serialise(root)


def needs_of(xml: str) -> DomainNeeds:
    root = ET.fromstring(xml)
    vcpu = root.find("vcpu")
    # `current` is what the domain boots with; the text is the hot-plug maximum.
    vcpus = int((vcpu.get("current") or vcpu.text or "1") if vcpu is not None else "1")
    return DomainNeeds(vcpus, memory_kib(root.find("memory")), _network_names(root))


def memory_kib(node: ET.Element | None) -> int:
    if node is None or not (node.text or "").strip():
        return 0
    return int(int((node.text or "0").strip()) * _KIB_PER_UNIT.get(node.get("unit", "KiB"), 1))


def check_can_define(conn: Any, name: str, needs: DomainNeeds) -> None:
    """Refuse what would fail or collide, before a byte is restored: name, networks, size."""
    if domain_exists(conn, name):
        raise RsvaultError(Code.VM_NAME_TAKEN, vm=name)
    for network in needs.networks:
        if not network_is_active(conn, network):
            raise RsvaultError(Code.NETWORK_NOT_FOUND, network=network, vm=name)
    cpus, host_kib = host_resources(conn)
    if needs.vcpus > cpus:
        raise RsvaultError(
            Code.SKU_NOT_AVAILABLE, vm=name, resource="vCPUs", asked=needs.vcpus, available=cpus
        )
    if needs.memory_kib > host_kib:
        raise RsvaultError(
            Code.SKU_NOT_AVAILABLE,
            vm=name,
            resource="memory",
            asked=f"{needs.memory_kib // 1024} MiB",
            available=f"{host_kib // 1024} MiB",
        )


def network_is_active(conn: Any, network: str) -> bool:
    try:
        return bool(conn.networkLookupByName(network).isActive())
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return False
        raise


def define_domain(conn: Any, xml: str, name: str, kept: Sequence[Path] = ()) -> Any:
    """Define (not start) the domain; VM_DEFINE_FAILED names the disks that stay restored."""
    try:
        return conn.defineXML(xml)
    except libvirt.libvirtError as exc:
        raise RsvaultError(
            Code.VM_DEFINE_FAILED,
            vm=name,
            reason=message_of(exc),
            detail=_kept_detail(kept),
        ) from exc


def start_domain(domain: Any, name: str, kept: Sequence[Path] = ()) -> None:
    try:
        domain.create()
    except libvirt.libvirtError as exc:
        raise RsvaultError(
            Code.VM_DEFINE_FAILED, vm=name, reason=message_of(exc), detail=_kept_detail(kept)
        ) from exc


def _kept_detail(kept: Sequence[Path]) -> str | None:
    return "restored disks: " + ", ".join(str(p) for p in kept) if kept else None


def default_image_dir(conn: Any) -> Path:
    """Where a new VM's disks go by default: libvirt's `default` pool, as virt-install does."""
    try:
        pool = ET.fromstring(conn.storagePoolLookupByName("default").XMLDesc())
    except libvirt.libvirtError:
        return DEFAULT_IMAGE_DIR
    path = pool.findtext("target/path")
    return Path(path) if path and pool.get("type") == "dir" else DEFAULT_IMAGE_DIR


def is_remote(uri: str) -> bool:
    """A URI naming another host: files this process writes are not on that host."""
    parts = urlsplit(uri)
    return bool(parts.hostname) or ("+" in parts.scheme and not parts.scheme.endswith("+unix"))


def runs_qemu_unprivileged(uri: str) -> bool:
    """qemu:///system runs QEMU as its own user (libvirt-qemu on Debian), not as root."""
    return urlsplit(uri).path.rstrip("/") == "/system"


# ------------------------------------------------------------------------------------------
# Editing the tree


def _serialise(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def _set_text(root: ET.Element, tag: str, text: str) -> None:
    node = root.find(tag)
    if node is None:
        node = ET.SubElement(root, tag)
    node.text = text


def _remove_children(parent: ET.Element, tag: str) -> None:
    for child in parent.findall(tag):
        parent.remove(child)


def _forget_sysinfo_uuid(root: ET.Element) -> None:
    """An SMBIOS system UUID must equal the domain's UUID, which libvirt now makes anew."""
    for system in root.findall("sysinfo/system"):
        for entry in system.findall("entry"):
            if entry.get("name") == "uuid":
                system.remove(entry)


def _forget_nvram_path(root: ET.Element) -> None:
    """Two VMs must not share one UEFI variable store: libvirt makes <name>_VARS.fd from the
    template when the path is left out."""
    for nvram in root.findall("os/nvram"):
        nvram.text = None


def _disks_by_target(root: ET.Element) -> dict[str, ET.Element]:
    found = {}
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev"):
            found[target.get("dev", "")] = disk
    return found


def _replace_disks(root: ET.Element, spec: NewDomainSpec) -> list[str]:
    """Point every backed-up disk at its image; refuse a disk without one (a selective backup
    cannot make a whole VM), drop LUN pass-through (the host's device stays the original VM's)."""
    devices = root.find("devices")
    if devices is None:
        return []
    wanted = {d.target: d for d in spec.disks}
    dropped, missing = [], []
    for disk in devices.findall("disk"):
        target = disk.find("target")
        dev = target.get("dev", "") if target is not None else ""
        device = disk.get("device", "disk")
        if device == "lun":
            devices.remove(disk)
            dropped.append(f"lun {dev}")
        elif device == "disk" and dev in wanted:
            _point_disk_at(disk, wanted.pop(dev))
        elif device == "disk":
            missing.append(dev)
    if missing:
        raise RsvaultError(
            Code.RESTORE_NEEDS_ALL_DISKS,
            vm=spec.source_vm,
            rp=spec.rp_name,
            excluded=", ".join(missing),
        )
    if wanted:  # an image for a disk the definition does not have: the manifest disagrees
        raise RsvaultError(Code.VM_DISK_NOT_FOUND, vm=spec.source_vm, disk=", ".join(wanted))
    return dropped


def _point_disk_at(disk: ET.Element, new: NewDisk) -> None:
    """A plain file disk on `new.path`: no backing chain, no block/network source details."""
    disk.set("type", "file")
    for child in disk.findall("source") + disk.findall("backingStore"):
        disk.remove(child)
    driver = disk.find("driver")
    if driver is None:
        driver = ET.Element("driver", {"name": "qemu"})
        disk.insert(0, driver)
    driver.set("type", new.format)
    source = ET.Element("source", {"file": str(new.path)})
    disk.insert(list(disk).index(driver) + 1, source)


def _new_interfaces(devices: ET.Element, network: str | None) -> None:
    for interface in devices.findall("interface"):
        _remove_children(interface, "mac")  # libvirt makes a new one
        _remove_children(interface, "target")  # a fixed tap name would collide
        if network is not None and interface.get("type") == "network":
            for source in interface.findall("source"):
                interface.remove(source)
            interface.insert(0, ET.Element("source", {"network": network}))


def _free_graphics_ports(devices: ET.Element) -> None:
    for graphics in devices.findall("graphics"):
        if graphics.get("autoport") == "no" or graphics.get("port") not in (None, "-1"):
            for attribute in ("port", "tlsPort", "websocket"):
                graphics.attrib.pop(attribute, None)
            graphics.set("autoport", "yes")


def _free_channel_paths(devices: ET.Element) -> None:
    """An agent socket path is per domain; libvirt picks one when none is given."""
    for channel in devices.findall("channel"):
        if channel.get("type") == "unix":
            for source in channel.findall("source"):
                source.attrib.pop("path", None)


def _network_names(root: ET.Element) -> list[str]:
    names: list[str] = []
    for interface in root.findall("devices/interface"):
        source = interface.find("source")
        name = source.get("network") if source is not None else None
        if interface.get("type") == "network" and name and name not in names:
            names.append(name)
    return names


def disk_paths(xml: str) -> Mapping[str, tuple[str, str | None, str | None]]:
    """target -> (disk type, file path or None, driver format) of each device='disk'."""
    found = {}
    for target, disk in _disks_by_target(ET.fromstring(xml)).items():
        if disk.get("device", "disk") != "disk":
            continue
        source = disk.find("source")
        driver = disk.find("driver")
        path = source.get("file") if source is not None else None
        fmt = driver.get("type") if driver is not None else None
        found[target] = (disk.get("type", "file"), path, fmt)
    return found
