"""Fixtures for tests against a real libvirtd and QEMU (software emulation, domain type 'qemu').

`libvirt_daemons` starts `virtlogd -d` and `libvirtd -d` once per worker unless a libvirtd
already answers, and stops what it started by PID. Every test here belongs to the xdist group
"libvirt", so one worker runs them all against one pair of daemons. Domains are named with a
per-test prefix and destroyed with their checkpoint metadata after the test; their disks live
in a folder under /var/tmp that is removed too.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.libvirtd import LibvirtDaemons, LibvirtNotAvailable
from tests.support.vms import destroy_vm, remove_workdir, vm_workdir

LIBVIRT_GROUP = "libvirt"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group(LIBVIRT_GROUP))


@pytest.fixture(scope="session")
def libvirt_daemons() -> Iterator[LibvirtDaemons]:
    try:
        daemons = LibvirtDaemons().start()
    except LibvirtNotAvailable as exc:
        reason = str(exc)
    else:
        reason = ""
    if reason:  # CI installs libvirt: a missing daemon fails, it never skips
        pytest.fail(f"libvirt is needed for this test: {reason}", pytrace=False)
    try:
        yield daemons
    finally:
        daemons.stop()


@pytest.fixture
def libvirt_conn(libvirt_daemons: LibvirtDaemons) -> Iterator[Any]:
    import libvirt

    conn = libvirt.open(libvirt_daemons.uri)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def vm_prefix(libvirt_conn: Any) -> Iterator[str]:
    """A unique name prefix for this test's domains; every domain with it is destroyed after."""
    prefix = f"rsvt-{secrets.token_hex(3)}-"
    yield prefix
    for domain in libvirt_conn.listAllDomains():
        if domain.name().startswith(prefix):
            destroy_vm(libvirt_conn, domain.name())


@pytest.fixture
def vm_dir() -> Iterator[Path]:
    path = vm_workdir()
    yield path
    remove_workdir(path)
