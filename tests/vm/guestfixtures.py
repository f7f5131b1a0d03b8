"""Fixtures for tests against the tiny real guest (tests/support/guest.py).

A test module loads them with `pytest_plugins = ("tests.vm.guestfixtures",)`. Booting costs
seconds under software emulation, so one guest serves a whole module (`guest_vm`); `guest`
hands it to a test after undoing what the previous test may have left (agent stopped, file
systems frozen, hook flags set, logs written).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from tests.support.guest import Guest, guest_images, reset_guest, start_guest
from tests.support.libvirtd import LibvirtDaemons
from tests.support.vms import destroy_vm, remove_workdir, vm_workdir

from rsvault.sources.libvirt.agent import GuestAgent


@pytest.fixture(scope="module")
def guest_vm(libvirt_daemons: LibvirtDaemons) -> Iterator[Guest]:
    import libvirt

    images = guest_images()
    conn = libvirt.open(libvirt_daemons.uri)
    workdir = vm_workdir("rsvault-guest-")
    name = f"rsvt-{secrets.token_hex(3)}-guest"
    try:
        yield start_guest(conn, name, workdir, images)
    finally:
        destroy_vm(conn, name)
        conn.close()
        remove_workdir(workdir)


@pytest.fixture
def guest(guest_vm: Guest) -> Guest:
    reset_guest(guest_vm.domain)
    return guest_vm


@pytest.fixture
def agent(guest: Guest) -> GuestAgent:
    return GuestAgent(guest.domain, vm=guest.name, timeout_s=10, thaw_patience_s=30)
