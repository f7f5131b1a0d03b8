"""Connections to a libvirt host, and finding domains on it with errors a user can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import libvirt

from rsvault.errors import Code, RsvaultError


def _quiet(_ctx: object, _error: object) -> None:
    """libvirt prints every error on stderr by default; ours reach the user as RsvaultErrors."""


libvirt.registerErrorHandler(_quiet, None)


def connect(uri: str) -> Any:
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise RsvaultError(
            Code.HYPERVISOR_UNREACHABLE, uri=uri, reason=exc.get_error_message()
        ) from exc


@contextlib.contextmanager
def connection(uri: str) -> Iterator[Any]:
    conn = connect(uri)
    try:
        yield conn
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()


def lookup(conn: Any, name: str, container: str) -> Any:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise RsvaultError(Code.VM_NOT_FOUND, vm=name, container=container) from exc
        raise RsvaultError(
            Code.HYPERVISOR_UNREACHABLE, uri=conn.getURI(), reason=exc.get_error_message()
        ) from exc


def domain_exists(conn: Any, name: str) -> bool:
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    return True


def host_resources(conn: Any) -> tuple[int, int]:
    """(logical CPUs, memory in KiB) of the host."""
    _model, memory_mib, cpus, *_rest = conn.getInfo()
    return int(cpus), int(memory_mib) * 1024


def message_of(exc: libvirt.libvirtError) -> str:
    return str(exc.get_error_message() or exc)
