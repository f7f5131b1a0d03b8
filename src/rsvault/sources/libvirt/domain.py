"""What rsvault needs to know of a libvirt domain, read from its XML and its state."""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import libvirt

from rsvault.sources.libvirt.domaininfo import AGENT_CHANNEL, DiskInfo, DomainInfo

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def state_of(domain: Any) -> str:
    state, _reason = domain.state()
    return _STATES.get(state, "nostate")


def describe_all(conn: Any) -> Iterator[DomainInfo]:
    """Every domain of the host, by name. A domain undefined between the listing and its
    description is left out: other tools may remove domains at any moment, and one of them
    must not make the whole listing fail."""
    for domain in sorted(conn.listAllDomains(), key=lambda d: d.name()):
        try:
            yield describe(domain)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise


def describe(domain: Any, xml: str | None = None) -> DomainInfo:
    root = ET.fromstring(xml or domain.XMLDesc())
    disks = [_disk(domain, node) for node in root.iter("disk")]
    return DomainInfo(
        name=root.findtext("name", ""),
        uuid=root.findtext("uuid", ""),
        state=state_of(domain),
        vcpus=int(root.findtext("vcpu", "1")),
        memory_kib=_kib(root.find("memory")),
        disks=disks,
        agent_channel=_has_agent_channel(root),
        networks=_networks(root),
        qemu_owner=_dac_owner(root),
    )


def _disk(domain: Any, node: ET.Element) -> DiskInfo:
    target = node.find("target")
    source = node.find("source")
    driver = node.find("driver")
    path = None
    if source is not None:
        path = source.get("file") or source.get("dev") or source.get("volume")
    info = DiskInfo(
        target=target.get("dev", "") if target is not None else "",
        device=node.get("device", "disk"),
        kind=node.get("type", "file"),
        path=path,
        format=driver.get("type") if driver is not None else None,
        bus=target.get("bus") if target is not None else None,
    )
    return _with_size(domain, info)


def _with_size(domain: Any, disk: DiskInfo) -> DiskInfo:
    if disk.path is None or disk.device != "disk":
        return disk
    try:
        capacity, _allocation, _physical = domain.blockInfo(disk.target)
    except libvirt.libvirtError:
        return disk
    return DiskInfo(disk.target, disk.device, disk.kind, disk.path, disk.format, disk.bus, capacity)


def _kib(node: ET.Element | None) -> int:
    if node is None or not node.text:
        return 0
    scale = {"b": 1 / 1024, "bytes": 1 / 1024, "KiB": 1, "k": 1, "MiB": 1024, "M": 1024}
    scale |= {"GiB": 1024**2, "G": 1024**2, "TiB": 1024**3, "T": 1024**3}
    return int(int(node.text) * scale.get(node.get("unit", "KiB"), 1))


def _has_agent_channel(root: ET.Element) -> bool:
    for channel in root.iter("channel"):
        target = channel.find("target")
        if target is not None and target.get("name") == AGENT_CHANNEL:
            return True
    return False


def _networks(root: ET.Element) -> list[str]:
    names = []
    for interface in root.iter("interface"):
        source = interface.find("source")
        if interface.get("type") == "network" and source is not None and source.get("network"):
            names.append(source.get("network", ""))
    return names


def _dac_owner(root: ET.Element) -> tuple[int, int] | None:
    for label in root.iter("seclabel"):
        if label.get("model") == "dac":
            text = label.findtext("label") or ""
            match = re.fullmatch(r"\+?(\d+):\+?(\d+)", text.strip())
            if match:
                return int(match.group(1)), int(match.group(2))
    return None


def inactive_xml(domain: Any) -> str:
    """The persistent definition (no live-only details, no secrets): what create-vm defines."""
    return str(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def start_paused(domain: Any) -> None:
    """Start QEMU with the vCPUs stopped: the disks can be exported, the guest never runs."""
    domain.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)


def power_off(domain: Any) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        domain.destroy()
