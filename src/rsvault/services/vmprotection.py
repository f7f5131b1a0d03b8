"""Protecting VMs: find the domain on a registered host, check it, put it under a policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ContainerRow, ItemRow
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.hypervisors import disk_summaries, hypervisors
from rsvault.services.inventory import policy_row, refuse_soft_deleted
from rsvault.services.protection import configure_item
from rsvault.services.states import DeleteState, ItemKind, ProtectionState
from rsvault.services.views import JobView, VmCheckView
from rsvault.services.vmsettings import (
    MAX_DISK_SIZE,
    TRANSFER_TIMEOUT_S,
    VmSettings,
    check_disk_list,
)
from rsvault.sources.libvirt.consistency import ConsistencySettings, from_azure
from rsvault.sources.libvirt.domain import describe
from rsvault.sources.libvirt.domaininfo import BACKUP_STATES, DomainInfo
from rsvault.sources.libvirt.hypervisor import connection, domain_exists


@dataclass(frozen=True)
class VmProtectionOptions:
    disk_setting: str | None = None
    disk_list: Sequence[str] = ()
    container: str | None = None
    consistency: dict[str, Any] = field(default_factory=dict)
    max_disk_size: int = MAX_DISK_SIZE
    transfer_timeout_s: float = TRANSFER_TIMEOUT_S


def find_vm(
    ctx: ServiceContext, vault_name: str, vm: str, container: str | None = None
) -> tuple[ContainerRow, DomainInfo]:
    with ctx.catalog.unit_of_work() as session:
        hosts = [h for h in hypervisors(session, vault_name) if container in (None, h.name)]
        if container is not None and not hosts:
            raise RsvaultError(Code.CONTAINER_NOT_FOUND, name=container, vault=vault_name)
        session.expunge_all()
    for host in hosts:
        with connection(host.uri or "") as conn:
            if domain_exists(conn, vm):
                return host, describe(conn.lookupByName(vm))
    names = ", ".join(h.name for h in hosts) or "(no libvirt host is registered)"
    raise RsvaultError(Code.VM_NOT_FOUND, vm=vm, container=names)


def enable_for_vm(
    ctx: ServiceContext,
    vault_name: str,
    vm: str,
    policy_name: str,
    options: VmProtectionOptions = VmProtectionOptions(),
) -> JobView:
    host, info = find_vm(ctx, vault_name, vm, options.container)
    check_disk_list(vm, info.backup_disks, options.disk_setting, options.disk_list)
    _check_limits(options)
    settings = VmSettings(
        uuid=info.uuid,
        disk_setting=options.disk_setting,
        disk_list=tuple(options.disk_list),
        max_disk_size=options.max_disk_size,
        transfer_timeout_s=options.transfer_timeout_s,
        consistency=ConsistencySettings.from_dict(options.consistency).to_dict(),
    )

    def protected_item(session: Session) -> tuple[int, int]:
        policy_id = policy_row(session, vault_name, policy_name).id
        _refuse_protected_elsewhere(session, vault_name, host, vm)
        item = _new_or_refused(session, vault_name, vm)
        if item is None:
            item = ItemRow(
                vault_name=vault_name,
                container_id=host.id,
                name=vm,
                kind=ItemKind.VM,
                source={},
                protection_state=ProtectionState.IR_PENDING,
                delete_state=DeleteState.NOT_DELETED,
                created=ctx.clock.now(),
            )
            session.add(item)
        session.flush()
        return item.id, policy_id

    # Protected at the same moment by another process: the next run refuses it as protected.
    item_id, policy_id = ctx.catalog.creating(protected_item)
    return configure_item(
        ctx, vault_name, item_id, vm, policy_id, ProtectionState.IR_PENDING, settings.to_source()
    )


def _check_limits(options: VmProtectionOptions) -> None:
    if not 0 < options.max_disk_size <= MAX_DISK_SIZE:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--max-disk-size-gb", reason="more than 0, up to 32 TiB"
        )
    if not options.transfer_timeout_s > 0:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--transfer-timeout-minutes", reason="more than 0"
        )


def _new_or_refused(session: Session, vault_name: str, vm: str) -> ItemRow | None:
    item = session.scalar(
        select(ItemRow).where(ItemRow.vault_name == vault_name, ItemRow.name == vm)
    )
    if item is None:
        return None
    refuse_soft_deleted(item)
    raise RsvaultError(Code.ITEM_ALREADY_PROTECTED, name=vm, vault=vault_name)


def _protecting_vault(session: Session, uri: str | None, vm: str) -> str | None:
    return session.scalar(
        select(ItemRow.vault_name)
        .join(ContainerRow, ContainerRow.id == ItemRow.container_id)
        .where(ItemRow.name == vm, ItemRow.kind == ItemKind.VM, ContainerRow.uri == uri)
    )


def _refuse_protected_elsewhere(
    session: Session, vault_name: str, host: ContainerRow, vm: str
) -> None:
    """One vault per VM, as in Azure."""
    other = _protecting_vault(session, host.uri, vm)
    if other is not None and other != vault_name:
        raise RsvaultError(Code.ITEM_ALREADY_PROTECTED, name=vm, vault=other)


def check_vm(ctx: ServiceContext, vault_name: str, vm: str) -> VmCheckView:
    host, info = find_vm(ctx, vault_name, vm)
    with ctx.catalog.unit_of_work() as session:
        vault = _protecting_vault(session, host.uri, vm)
    return VmCheckView(
        name=vm,
        container=host.name,
        protected=vault is not None,
        vault_name=vault,
        item_name=vm if vault else None,
        state=info.state,
        guest_agent_channel=info.agent_channel,
        disks=disk_summaries(info),
        notes=_notes(info),
    )


def _notes(info: DomainInfo) -> list[str]:
    notes = []
    if info.state not in BACKUP_STATES:
        notes.append(f"{info.state}: a backup fails now (UserErrorVmNotInDesirableState)")
    if not info.agent_channel:
        notes.append("no guest agent channel: recovery points will be crash-consistent")
    for disk in info.backup_disks:
        if not disk.can_carry_bitmap:
            notes.append(f"{disk.target} ({disk.format}): no dirty bitmap, read in full each time")
    return notes


def consistency_options(script_config: Path | None, **given: Any) -> dict[str, Any]:
    """The consistency settings from an Azure script config file, then the explicit options."""
    base: dict[str, Any] = {}
    if script_config is not None:
        base = _settings_of_file(script_config)
    explicit = {key: value for key, value in given.items() if value not in (None, [])}
    return ConsistencySettings.from_dict({**base, **explicit}).to_dict()


def _settings_of_file(path: Path) -> dict[str, Any]:
    """Azure's VMSnapshotScriptPluginConfig.json; any fault in it is IncorrectJSONConfigFile."""
    try:
        return from_azure(script_config=path.read_text("utf-8")).to_dict()
    except OSError as exc:
        raise RsvaultError(
            Code.SCRIPT_CONFIG_INVALID, file=str(path), reason=exc.strerror or str(exc)
        ) from exc
    except RsvaultError as exc:
        if exc.code is not Code.INVALID_ARGUMENT:
            raise
        reason = f"{exc.params.get('argument')}: {exc.params.get('reason')}"
        raise RsvaultError(Code.SCRIPT_CONFIG_INVALID, file=str(path), reason=reason) from exc
