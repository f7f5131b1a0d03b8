"""Hypervisor hosts as containers: registration with a libvirt URI, and their VMs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ContainerRow, ItemRow
from rsvault.errors import Code, RsvaultError
from rsvault.services.containers import container_view
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import vault_row
from rsvault.services.states import ItemKind
from rsvault.services.views import ContainerView, ProtectableItemView
from rsvault.sources.libvirt.domain import describe_all
from rsvault.sources.libvirt.domaininfo import DomainInfo
from rsvault.sources.libvirt.hypervisor import connection

LIBVIRT_KIND = "libvirt"


def register_container(
    ctx: ServiceContext, vault_name: str, uri: str, name: str | None = None
) -> ContainerView:
    """Register a libvirt host; it must answer now, so a typo fails here and not at 2 am."""
    with connection(uri) as conn:
        hostname = str(conn.getHostname())
    container = name or hostname

    def registered(session: Session) -> ContainerView:
        vault_row(session, vault_name)
        taken = session.scalar(
            select(ContainerRow).where(
                ContainerRow.vault_name == vault_name,
                (ContainerRow.name == container) | (ContainerRow.uri == uri),
            )
        )
        if taken is not None:
            raise RsvaultError(Code.CONTAINER_ALREADY_REGISTERED, name=taken.name, vault=vault_name)
        row = ContainerRow(
            vault_name=vault_name,
            name=container,
            kind=LIBVIRT_KIND,
            uri=uri,
            registered=ctx.clock.now(),
        )
        session.add(row)
        session.flush()
        return container_view(row, 0)

    # Registered at the same moment by another process: the next run refuses it as taken.
    return ctx.catalog.creating(registered)


def hypervisors(session: Session, vault_name: str) -> list[ContainerRow]:
    vault_row(session, vault_name)
    return list(
        session.scalars(
            select(ContainerRow)
            .where(ContainerRow.vault_name == vault_name, ContainerRow.kind == LIBVIRT_KIND)
            .order_by(ContainerRow.name)
        )
    )


def domains_of(uri: str) -> list[DomainInfo]:
    with connection(uri) as conn:
        return list(describe_all(conn))


def protectable_items(ctx: ServiceContext, vault_name: str) -> list[ProtectableItemView]:
    """Domains on the vault's hosts that no item of this vault protects yet."""
    with ctx.catalog.unit_of_work() as session:
        hosts = [(row.id, row.name, row.uri or "") for row in hypervisors(session, vault_name)]
        protected = {
            (container_id, name)
            for container_id, name in session.execute(
                select(ItemRow.container_id, ItemRow.name).where(
                    ItemRow.vault_name == vault_name, ItemRow.kind == ItemKind.VM
                )
            )
        }
    views = []
    for container_id, container, uri in hosts:
        for info in domains_of(uri):
            if (container_id, info.name) not in protected:
                views.append(protectable_view(info, container))
    return views


def protectable_view(info: DomainInfo, container: str) -> ProtectableItemView:
    return ProtectableItemView(
        name=info.name,
        container=container,
        state=info.state,
        vcpus=info.vcpus,
        memory_mib=info.memory_kib // 1024,
        guest_agent_channel=info.agent_channel,
        disks=disk_summaries(info),
    )


def disk_summaries(info: DomainInfo) -> list[dict[str, Any]]:
    return [
        {
            "target": d.target,
            "size": d.size,
            "format": d.format,
            "path": d.path,
            "changedBlockTracking": d.can_carry_bitmap,
        }
        for d in info.backup_disks
    ]
