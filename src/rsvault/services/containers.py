"""Containers: the machines whose data a vault protects, and their concurrency caps."""

from __future__ import annotations

from sqlalchemy import func, select

from rsvault.catalog.models import ContainerRow, ItemRow
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import vault_row
from rsvault.services.views import ContainerView, iso


def container_view(row: ContainerRow, items: int) -> ContainerView:
    return ContainerView(
        name=row.name,
        vault_name=row.vault_name,
        kind=row.kind,
        items=items,
        max_concurrent_backups=row.max_concurrent_backups,
        registered=iso(row.registered),
        uri=row.uri,
    )


def list_containers(ctx: ServiceContext, vault_name: str) -> list[ContainerView]:
    counts = (
        select(ItemRow.container_id, func.count().label("n"))
        .group_by(ItemRow.container_id)
        .subquery()
    )
    query = (
        select(ContainerRow, counts.c.n)
        .outerjoin(counts, counts.c.container_id == ContainerRow.id)
        .where(ContainerRow.vault_name == vault_name)
        .order_by(ContainerRow.name)
    )
    with ctx.catalog.unit_of_work() as session:
        vault_row(session, vault_name)
        return [container_view(row, n or 0) for row, n in session.execute(query)]


def update_container(
    ctx: ServiceContext, vault_name: str, name: str, max_concurrent_backups: int
) -> ContainerView:
    if not 1 <= max_concurrent_backups <= 100:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--max-concurrent-backups", reason="1 to 100"
        )
    with ctx.catalog.unit_of_work() as session:
        vault_row(session, vault_name)
        row = session.scalar(
            select(ContainerRow).where(
                ContainerRow.vault_name == vault_name, ContainerRow.name == name
            )
        )
        if row is None:
            raise RsvaultError(Code.CONTAINER_NOT_FOUND, name=name, vault=vault_name)
        row.max_concurrent_backups = max_concurrent_backups
        items = session.scalar(select(func.count()).where(ItemRow.container_id == row.id)) or 0
        return container_view(row, items)
