"""Finding and creating catalog rows inside a unit of work: vaults, containers, items, policies.

Every lookup that fails raises the error a user should see, so services stay short.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ContainerRow, ItemRow, PolicyRow, VaultRow
from rsvault.errors import Code, RsvaultError
from rsvault.policy import Policy, parse_policy
from rsvault.services.states import DeleteState, ItemKind, ProtectionState

SERVER_CONTAINER = "Server"


def this_machine() -> str:
    """Like the MARS agent, a server is known by its host name."""
    return socket.gethostname()


def vault_row(session: Session, name: str) -> VaultRow:
    row = session.get(VaultRow, name)
    if row is None:
        raise RsvaultError(Code.VAULT_NOT_FOUND, name=name)
    return row


def policy_row(session: Session, vault_name: str, name: str) -> PolicyRow:
    vault_row(session, vault_name)
    row = session.scalar(
        select(PolicyRow).where(PolicyRow.vault_name == vault_name, PolicyRow.name == name)
    )
    if row is None:
        raise RsvaultError(Code.POLICY_NOT_FOUND, name=name, vault=vault_name)
    return row


def item_row(session: Session, vault_name: str, name: str) -> ItemRow:
    vault_row(session, vault_name)
    row = session.scalar(
        select(ItemRow).where(ItemRow.vault_name == vault_name, ItemRow.name == name)
    )
    if row is None:
        raise RsvaultError(Code.ITEM_NOT_FOUND, name=name, vault=vault_name)
    return row


def policy_of(session: Session, item: ItemRow) -> Policy | None:
    if item.policy_id is None:
        return None
    row = session.get(PolicyRow, item.policy_id)
    return None if row is None else policy_from_row(row)


def policy_from_row(row: PolicyRow) -> Policy:
    return _parsed(row.name, json.dumps(row.document, sort_keys=True))


# A scheduler tick reads the same few policies many times. Keyed by content: an id and a
# modification time name different documents in different catalogs, or after a delete.
@lru_cache(maxsize=256)
def _parsed(name: str, document: str) -> Policy:
    return parse_policy(json.loads(document), name)


def local_container(session: Session, vault_name: str, now: datetime) -> ContainerRow:
    """This server as a container of the vault, registered on first use."""
    return container_named(session, vault_name, this_machine(), now)


def container_named(session: Session, vault_name: str, name: str, now: datetime) -> ContainerRow:
    row = session.scalar(
        select(ContainerRow).where(ContainerRow.vault_name == vault_name, ContainerRow.name == name)
    )
    if row is None:
        row = ContainerRow(
            vault_name=vault_name,
            name=name,
            kind=SERVER_CONTAINER,
            registered=now,
            max_concurrent_backups=2,
        )
        session.add(row)
        session.flush()
    return row


def refuse_soft_deleted(item: ItemRow) -> None:
    if item.delete_state == DeleteState.TO_BE_DELETED:
        purge = item.purge_at.date().isoformat() if item.purge_at else "?"
        raise RsvaultError(Code.ITEM_SOFT_DELETED, name=item.name, purge=purge)


def adhoc_files_item(
    session: Session,
    vault_name: str,
    name: str,
    source: tuple[Sequence[str], Sequence[str]],
    now: datetime,
    host: str | None = None,
) -> ItemRow:
    """The item an ad hoc `backup files` writes to: created stopped (no schedule) if new."""
    row = session.scalar(
        select(ItemRow).where(ItemRow.vault_name == vault_name, ItemRow.name == name)
    )
    if row is not None:
        return row
    container = container_named(session, vault_name, host or this_machine(), now)
    paths, excludes = source
    row = ItemRow(
        vault_name=vault_name,
        container_id=container.id,
        name=name,
        kind=ItemKind.FILES,
        source={"paths": list(paths), "excludes": list(excludes)},
        policy_id=None,
        protection_state=ProtectionState.PROTECTION_STOPPED,
        delete_state=DeleteState.NOT_DELETED,
        created=now,
    )
    session.add(row)
    session.flush()
    return row
