"""Backup policies of a vault: create, list, show, change, delete, and the items on each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rsvault.catalog.models import ItemRow, PolicyRow
from rsvault.errors import Code, RsvaultError
from rsvault.policy import default_vm_policy, parse_policy, policy_document
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import policy_from_row, policy_row, vault_row
from rsvault.services.items import item_views, reschedule
from rsvault.services.policysummary import retention_summary, schedule_summary
from rsvault.services.views import ItemView, PolicyView, iso

# Azure's rule for policy names: letters, digits, '-' and '_', up to 150 characters.
_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,149}$")


def _view(row: PolicyRow, items: int) -> PolicyView:
    policy = policy_from_row(row)
    return PolicyView(
        name=row.name,
        vault_name=row.vault_name,
        policy_type=row.policy_type,
        schedule=schedule_summary(policy),
        retention=retention_summary(policy),
        items=items,
        modified=iso(row.modified),
        document=dict(row.document),
    )


def _item_count(session: Session, policy_id: int) -> int:
    return session.scalar(select(func.count()).where(ItemRow.policy_id == policy_id)) or 0


def default_policy_for_vm(ctx: ServiceContext, vault_name: str) -> dict[str, Any]:
    with ctx.catalog.unit_of_work() as session:
        vault_row(session, vault_name)
    return policy_document(default_vm_policy())


def create_policy(
    ctx: ServiceContext, vault_name: str, name: str, document: Mapping[str, Any]
) -> PolicyView:
    if not _POLICY_NAME.match(name):
        raise RsvaultError(
            Code.POLICY_INVALID, name=name, field="name", reason="letters, digits, - and _"
        )
    policy = parse_policy(document, name)
    now = ctx.clock.now()
    try:
        with ctx.catalog.unit_of_work() as session:
            vault_row(session, vault_name)
            exists = session.scalar(
                select(PolicyRow.id).where(
                    PolicyRow.vault_name == vault_name, PolicyRow.name == name
                )
            )
            if exists is not None:
                raise RsvaultError(Code.POLICY_ALREADY_EXISTS, name=name, vault=vault_name)
            row = PolicyRow(
                vault_name=vault_name,
                name=name,
                policy_type=policy.policy_type.value,
                document=policy_document(policy),
                created=now,
                modified=now,
            )
            session.add(row)
            session.flush()
            return _view(row, 0)
    except IntegrityError as exc:  # created by someone else between the check and the insert
        raise RsvaultError(Code.POLICY_ALREADY_EXISTS, name=name, vault=vault_name) from exc


def list_policies(ctx: ServiceContext, vault_name: str) -> list[PolicyView]:
    counts = (
        select(ItemRow.policy_id, func.count().label("n")).group_by(ItemRow.policy_id).subquery()
    )
    query = (
        select(PolicyRow, counts.c.n)
        .outerjoin(counts, counts.c.policy_id == PolicyRow.id)
        .where(PolicyRow.vault_name == vault_name)
        .order_by(PolicyRow.name)
    )
    with ctx.catalog.unit_of_work() as session:
        vault_row(session, vault_name)
        return [_view(row, n or 0) for row, n in session.execute(query)]


def show_policy(ctx: ServiceContext, vault_name: str, name: str) -> PolicyView:
    with ctx.catalog.unit_of_work() as session:
        row = policy_row(session, vault_name, name)
        return _view(row, _item_count(session, row.id))


def set_policy(
    ctx: ServiceContext, vault_name: str, name: str, document: Mapping[str, Any]
) -> PolicyView:
    """Change a policy. It takes effect at once for every item on it: their next run moves,
    and their recovery points get the expiry the new retention gives (shorter retention
    expires points at the next scheduler run; longer keeps them)."""
    policy = parse_policy(document, name)
    now = ctx.clock.now()
    with ctx.catalog.unit_of_work() as session:
        row = policy_row(session, vault_name, name)
        row.policy_type = policy.policy_type.value
        row.document = policy_document(policy)
        row.modified = now
        session.flush()
        items = session.scalars(select(ItemRow).where(ItemRow.policy_id == row.id)).all()
        reschedule(session, items, policy, now)
        return _view(row, len(items))


def delete_policy(ctx: ServiceContext, vault_name: str, name: str) -> None:
    with ctx.catalog.unit_of_work() as session:
        row = policy_row(session, vault_name, name)
        count = _item_count(session, row.id)
        if count:
            raise RsvaultError(Code.POLICY_IN_USE, name=name, count=count)
        session.delete(row)


def list_associated_items(ctx: ServiceContext, vault_name: str, name: str) -> list[ItemView]:
    with ctx.catalog.unit_of_work() as session:
        row = policy_row(session, vault_name, name)
        return item_views(session, ItemRow.policy_id == row.id)
