"""A new domain's XML from a stored one, and the checks before defining it (no libvirtd)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import libvirt
import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.define import (
    DomainNeeds,
    NewDisk,
    NewDomainSpec,
    check_can_define,
    check_vm_name,
    define_domain,
    disk_paths,
    is_remote,
    needs_of,
    new_domain_xml,
    replaced_disks_xml,
    runs_qemu_unprivileged,
)

STORED = """
<domain type='qemu' id='7'>
  <name>web</name>
  <uuid>0b1c7a4e-5a8f-4c1e-9a8d-3e2f1b0c9d8e</uuid>
  <genid>11111111-2222-3333-4444-555555555555</genid>
  <memory unit='GiB'>2</memory>
  <currentMemory unit='GiB'>1</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <sysinfo type='smbios'>
    <system>
      <entry name='manufacturer'>rsvault</entry>
      <entry name='uuid'>0b1c7a4e-5a8f-4c1e-9a8d-3e2f1b0c9d8e</entry>
    </system>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/web_VARS.fd</nvram>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/libvirt/images/web.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='raw'/>
        <source file='/var/lib/libvirt/images/base.raw'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/data'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/iso/debian.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='block' device='lun'>
      <source dev='/dev/sdz'/>
      <target dev='sdb' bus='scsi'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='default'/>
      <target dev='vnet3'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:cd'/>
      <source bridge='br0'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:ce'/>
      <source network='backend'/>
    </interface>
    <graphics type='vnc' port='5901' autoport='no' websocket='5701' listen='127.0.0.1'/>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/web.agent'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
</domain>
"""

DISKS = [
    NewDisk("vda", Path("/var/lib/libvirt/images/web2-vda.qcow2"), "qcow2"),
    NewDisk("vdb", Path("/var/lib/libvirt/images/web2-vdb.qcow2"), "qcow2"),
]


def _spec(**changes: Any) -> NewDomainSpec:
    fields: dict[str, Any] = {
        "name": "web2",
        "disks": DISKS,
        "network": None,
        "source_vm": "web",
        "rp_name": "rp1",
    }
    return NewDomainSpec(**(fields | changes))


def _disk(root: ET.Element, target: str) -> ET.Element:
    return next(d for d in root.iter("disk") if d.find("target").get("dev") == target)  # type: ignore[union-attr]


def test_new_domain_gets_new_identities_from_libvirt() -> None:
    new = new_domain_xml(STORED, _spec())
    root = ET.fromstring(new.xml)
    assert root.findtext("name") == "web2"
    assert root.get("id") is None
    assert root.find("uuid") is None
    genid = root.find("genid")
    assert genid is not None
    assert not genid.text
    assert [e.get("name") for e in root.iter("entry")] == ["manufacturer"]
    nvram = root.find("os/nvram")
    assert nvram is not None
    assert not nvram.text
    assert nvram.get("template") == "/usr/share/OVMF/OVMF_VARS.fd"
    assert list(root.iter("mac")) == []
    assert all(i.find("target") is None for i in root.iter("interface"))
    graphics = root.find("devices/graphics")
    assert graphics is not None
    assert graphics.get("autoport") == "yes"
    assert graphics.get("port") is None
    assert graphics.get("websocket") is None
    source = root.find("devices/channel/source")
    assert source is not None
    assert source.get("path") is None
    assert source.get("mode") == "bind"


def test_each_disk_points_at_its_restored_image_without_a_backing_chain() -> None:
    new = new_domain_xml(STORED, _spec())
    root = ET.fromstring(new.xml)
    for disk in DISKS:
        node = _disk(root, disk.target)
        assert node.get("type") == "file"
        sources = node.findall("source")
        assert [s.attrib for s in sources] == [{"file": str(disk.path)}]
        driver = node.find("driver")
        assert driver is not None
        assert driver.get("type") == "qcow2"
        assert node.find("backingStore") is None
    vda_driver = _disk(root, "vda").find("driver")
    assert vda_driver is not None
    assert vda_driver.get("discard") == "unmap"
    assert _disk(root, "vda").find("boot") is not None
    cdrom = _disk(root, "sda").find("source")
    assert cdrom is not None
    assert cdrom.get("file") == "/srv/iso/debian.iso"
    assert all(d.find("target").get("dev") != "sdb" for d in root.iter("disk"))  # type: ignore[union-attr]
    assert new.dropped == ["lun sdb"]


def test_network_override_changes_only_libvirt_networks() -> None:
    root = ET.fromstring(new_domain_xml(STORED, _spec(network="isolated")).xml)
    sources = [(i.get("type"), i.find("source").attrib) for i in root.iter("interface")]  # type: ignore[union-attr]
    assert sources == [
        ("network", {"network": "isolated"}),
        ("bridge", {"bridge": "br0"}),
        ("network", {"network": "isolated"}),
    ]
    assert needs_of(ET.tostring(root, encoding="unicode")).networks == ["isolated"]


def test_paths_and_names_with_markup_stay_data() -> None:
    odd = Path('/srv/it\'s <odd> & "quoted"/web2-vda.qcow2')
    spec = _spec(disks=[NewDisk("vda", odd, "raw"), DISKS[1]])
    root = ET.fromstring(new_domain_xml(STORED, spec).xml)
    source = _disk(root, "vda").find("source")
    assert source is not None
    assert source.get("file") == str(odd)
    driver = _disk(root, "vda").find("driver")
    assert driver is not None
    assert driver.get("type") == "raw"


def test_a_disk_without_an_image_is_refused() -> None:
    with pytest.raises(RsvaultError) as caught:
        new_domain_xml(STORED, _spec(disks=DISKS[:1]))
    assert caught.value.code is Code.RESTORE_NEEDS_ALL_DISKS
    assert caught.value.params["excluded"] == "vdb"
    with pytest.raises(RsvaultError) as extra:
        new_domain_xml(STORED, _spec(disks=[*DISKS, NewDisk("vdz", Path("/x"), "raw")]))
    assert extra.value.code is Code.VM_DISK_NOT_FOUND


@pytest.mark.parametrize("name", ["", "-web", "a/b", "web 2", "x" * 65, "web\n", "../web"])
def test_unsafe_vm_names_are_refused(name: str) -> None:
    with pytest.raises(RsvaultError) as caught:
        check_vm_name(name)
    assert caught.value.code is Code.INVALID_ARGUMENT


def test_needs_count_the_boot_vcpus_and_memory_in_kib() -> None:
    needs = needs_of(STORED)
    assert needs == DomainNeeds(
        vcpus=2, memory_kib=2 * 1024 * 1024, networks=["default", "backend"]
    )
    plain = "<domain><vcpu>3</vcpu><memory unit='MiB'>512</memory></domain>"
    assert needs_of(plain) == DomainNeeds(3, 512 * 1024, [])


def test_replacing_disks_changes_only_their_sources() -> None:
    current = new_domain_xml(STORED, _spec()).xml.replace("<name>web2</name>", "<name>web</name>")
    new = NewDisk("vdb", Path("/var/lib/libvirt/images/web-rp1-vdb.raw"), "raw")
    root = ET.fromstring(replaced_disks_xml(current, [new]))
    assert _disk(root, "vdb").find("source").attrib == {"file": str(new.path)}  # type: ignore[union-attr]
    assert _disk(root, "vdb").find("driver").get("type") == "raw"  # type: ignore[union-attr]
    assert _disk(root, "vda").find("source").get("file") == str(DISKS[0].path)  # type: ignore[union-attr]
    assert disk_paths(ET.tostring(root, encoding="unicode"))["vdb"] == (
        "file",
        str(new.path),
        "raw",
    )
    with pytest.raises(RsvaultError) as caught:
        replaced_disks_xml(current, [NewDisk("vdq", new.path, "raw")])
    assert caught.value.code is Code.VM_DISK_NOT_FOUND


def test_uris() -> None:
    assert not is_remote("qemu:///system")
    assert not is_remote("qemu+unix:///system")
    assert is_remote("qemu+ssh://root@kvm1/system")
    assert is_remote("qemu+tcp:///system")
    assert runs_qemu_unprivileged("qemu:///system")
    assert not runs_qemu_unprivileged("qemu:///session")


# ------------------------------------------------------------------------------------------
# Checks against a host (a fake connection with libvirt's own errors)


def _libvirt_error(code: int) -> libvirt.libvirtError:
    error = libvirt.libvirtError("fake")
    error.err = (code, 0, "fake", 2, "", None, None, 0, 0)
    return error


class FakeNetwork:
    def __init__(self, active: bool) -> None:
        self.active = active

    def isActive(self) -> int:
        return int(self.active)


class FakeConn:
    def __init__(self, cpus: int = 4, memory_mib: int = 8192) -> None:
        self.domains: set[str] = {"web"}
        self.networks = {"default": FakeNetwork(True), "down": FakeNetwork(False)}
        self.cpus, self.memory_mib = cpus, memory_mib
        self.defined: list[str] = []

    def lookupByName(self, name: str) -> object:
        if name not in self.domains:
            raise _libvirt_error(libvirt.VIR_ERR_NO_DOMAIN)
        return object()

    def networkLookupByName(self, name: str) -> FakeNetwork:
        if name not in self.networks:
            raise _libvirt_error(libvirt.VIR_ERR_NO_NETWORK)
        return self.networks[name]

    def getInfo(self) -> list[object]:
        return ["x86_64", self.memory_mib, self.cpus, 2000, 1, 1, 4, 1]

    def defineXML(self, xml: str) -> object:
        raise _libvirt_error(libvirt.VIR_ERR_XML_ERROR)


def _refusal(conn: FakeConn, name: str, needs: DomainNeeds) -> RsvaultError:
    with pytest.raises(RsvaultError) as caught:
        check_can_define(conn, name, needs)
    return caught.value


def test_checks_before_defining() -> None:
    conn = FakeConn(cpus=4, memory_mib=8192)
    check_can_define(conn, "web2", DomainNeeds(4, 8192 * 1024, ["default"]))
    assert _refusal(conn, "web", DomainNeeds(1, 1024, [])).code is Code.VM_NAME_TAKEN
    missing = _refusal(conn, "web2", DomainNeeds(1, 1024, ["default", "nowhere"]))
    assert (missing.code, missing.params["network"]) == (Code.NETWORK_NOT_FOUND, "nowhere")
    inactive = _refusal(conn, "web2", DomainNeeds(1, 1024, ["down"]))
    assert inactive.code is Code.NETWORK_NOT_FOUND
    cpus = _refusal(conn, "web2", DomainNeeds(5, 1024, []))
    assert cpus.code is Code.SKU_NOT_AVAILABLE
    assert (cpus.params["resource"], cpus.params["asked"], cpus.params["available"]) == (
        "vCPUs",
        5,
        4,
    )
    memory = _refusal(conn, "web2", DomainNeeds(1, 8193 * 1024, []))
    assert (memory.code, memory.params["resource"]) == (Code.SKU_NOT_AVAILABLE, "memory")


def test_a_refused_definition_names_the_kept_disks() -> None:
    kept = [Path("/img/web2-vda.qcow2"), Path("/img/web2-vdb.qcow2")]
    with pytest.raises(RsvaultError) as caught:
        define_domain(FakeConn(), "<domain/>", "web2", kept)
    assert caught.value.code is Code.VM_DEFINE_FAILED
    assert caught.value.detail == "restored disks: /img/web2-vda.qcow2, /img/web2-vdb.qcow2"
