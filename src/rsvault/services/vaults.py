"""Vaults: create, list, show, delete, check, prune; and opening one for the other services."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from rsvault.catalog.models import VaultRow
from rsvault.catalog.repositories import VaultRepository
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.overview import blocking_items, vault_overview
from rsvault.services.views import CheckView, PruneView, VaultView, iso
from rsvault.storage import LocalStore
from rsvault.vault.check import check_vault
from rsvault.vault.lease import LeaseKind
from rsvault.vault.manifest import MANIFEST_PREFIX
from rsvault.vault.prune import DEFAULT_GRACE, PruneReport, prune_vault
from rsvault.vault.repository import Vault

# Azure's enhanced soft delete keeps deleted data 14 to 180 days; 0 turns soft delete off.
MIN_SOFT_DELETE_DAYS, MAX_SOFT_DELETE_DAYS = 14, 180

# Azure's rule for Recovery Services vault names.
_VAULT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,49}$")


def _view(row: VaultRow) -> VaultView:
    return VaultView(
        name=row.name,
        location=row.location,
        vault_id=row.vault_id,
        created=iso(row.created),
        store_kind=row.store_kind,
        soft_delete_days=row.soft_delete_days,
        max_concurrent_backups=row.max_concurrent_backups,
    )


def _row(ctx: ServiceContext, name: str) -> VaultRow:
    with ctx.catalog.unit_of_work() as session:
        row = VaultRepository(session).get(name)
    if row is None:
        raise RsvaultError(Code.VAULT_NOT_FOUND, name=name)
    return row


def vault_store(row: VaultRow) -> LocalStore:
    root = Path(row.location)
    if not root.is_dir():
        raise RsvaultError(
            Code.VAULT_LOCATION_UNUSABLE,
            location=row.location,
            reason="the folder is missing (a disk not mounted, or the folder moved?)",
        )
    return LocalStore(root)


def open_vault(ctx: ServiceContext, name: str) -> Vault:
    """The named vault, opened with the context's passphrase."""
    return open_vault_meanwhile(ctx, name, None)


def open_vault_meanwhile(
    ctx: ServiceContext, name: str, meanwhile: Callable[[], object] | None
) -> Vault:
    """The named vault, opened with the context's passphrase; `meanwhile` runs in this thread
    while a second one unlocks the vault. The key derivation (Argon2id, about 0.1 s by
    design) gives up the interpreter lock, so work that holds it, such as loading modules,
    takes no extra time beside it on a second core."""
    store = vault_store(_row(ctx, name))
    passphrase = ctx.passphrase()
    try:
        if meanwhile is None:
            return Vault.open(store, passphrase, ctx.clock)
        with ThreadPoolExecutor(1, thread_name_prefix="unlock") as unlocking:
            vault = unlocking.submit(Vault.open, store, passphrase, ctx.clock)
            meanwhile()
            return vault.result()
    except RsvaultError as exc:
        if exc.code is Code.PASSPHRASE_INCORRECT:
            raise RsvaultError(Code.PASSPHRASE_INCORRECT, name=name) from exc
        raise


def create_vault(ctx: ServiceContext, name: str, location: Path | None = None) -> VaultView:
    if not _VAULT_NAME.match(name):
        raise RsvaultError(Code.VAULT_NAME_INVALID, name=name)
    with ctx.catalog.unit_of_work() as session:
        if VaultRepository(session).get(name) is not None:
            raise RsvaultError(Code.VAULT_ALREADY_EXISTS, name=name)
    root = (location or ctx.home / "vaults" / name).absolute()
    _prepare_folder(root)
    vault = Vault.create(LocalStore(root), ctx.passphrase(), ctx.clock, ctx.kdf)
    row = VaultRow(
        name=name,
        vault_id=vault.config.vault_id,
        store_kind="local",
        location=str(root),
        created=ctx.clock.now(),
        soft_delete_days=14,
        max_concurrent_backups=4,
    )
    with ctx.catalog.unit_of_work() as session:
        VaultRepository(session).add(row)
    return _view(row)


def _prepare_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".rsvault-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RsvaultError(
            Code.VAULT_LOCATION_UNUSABLE, location=str(root), reason=exc.strerror or str(exc)
        ) from exc
    if (root / "config").exists():
        raise RsvaultError(Code.VAULT_ALREADY_EXISTS, name=str(root))
    if any(root.iterdir()):
        raise RsvaultError(
            Code.VAULT_LOCATION_UNUSABLE, location=str(root), reason="the folder is not empty"
        )


def list_vaults(ctx: ServiceContext) -> list[VaultView]:
    with ctx.catalog.unit_of_work() as session:
        return [_view(row) for row in VaultRepository(session).all()]


def show_vault(ctx: ServiceContext, name: str) -> VaultView:
    """The vault overview: items by state, recovery point totals, the last day's jobs."""
    view = _view(_row(ctx, name))
    with ctx.catalog.unit_of_work() as session:
        overview = vault_overview(session, name, ctx.clock.now())
    view.items_by_state = overview.items_by_state
    view.soft_deleted_items = overview.soft_deleted_items
    view.recovery_points = overview.recovery_points
    view.recovery_points_size = overview.recovery_points_size
    view.recovery_points_stored = overview.recovery_points_stored
    view.jobs_last24h = overview.jobs_last24h
    if ctx.passphrase_source():
        view.key_slots = len(open_vault(ctx, name).key_slots())
    return view


def delete_vault(ctx: ServiceContext, name: str, *, delete_backup_data: bool = False) -> None:
    row = _row(ctx, name)
    with ctx.catalog.unit_of_work() as session:
        blocking = blocking_items(session, name)
    if blocking.protected or blocking.soft_deleted:
        raise RsvaultError(
            Code.VAULT_HAS_ITEMS,
            name=name,
            items=blocking.protected,
            soft_deleted=blocking.soft_deleted,
        )
    root = Path(row.location)
    if root.is_dir():
        store = LocalStore(root)
        points = sum(1 for _ in store.list(MANIFEST_PREFIX))
        if points and not delete_backup_data:
            raise RsvaultError(Code.VAULT_NOT_EMPTY, name=name, count=points)
        vault = Vault.open(store, ctx.passphrase(), ctx.clock)  # only its owner may delete it
        with vault.lease(LeaseKind.EXCLUSIVE, f"delete vault {name}"):
            _empty_vault_folder(root)
        shutil.rmtree(root, ignore_errors=True)
    with ctx.catalog.unit_of_work() as session:
        repo = VaultRepository(session)
        found = repo.get(name)
        if found is not None:
            repo.delete(found)


def prune_and_schedule_sweep(
    ctx: ServiceContext, name: str, vault: Vault, grace: timedelta = DEFAULT_GRACE
) -> PruneReport:
    """Prune, and remember when what it condemned may be swept, so the scheduler comes back
    then even if nothing else expires."""
    report = prune_vault(vault, grace)
    waiting = report.packs_condemned or report.records_waiting
    with ctx.catalog.unit_of_work() as session:
        row = VaultRepository(session).get(name)
        if row is not None:
            row.sweep_due = ctx.clock.now() + grace if waiting else None
    return report


def update_vault(
    ctx: ServiceContext,
    name: str,
    *,
    soft_delete_days: int | None = None,
    max_concurrent_backups: int | None = None,
) -> VaultView:
    if soft_delete_days is not None and not (
        soft_delete_days == 0 or MIN_SOFT_DELETE_DAYS <= soft_delete_days <= MAX_SOFT_DELETE_DAYS
    ):
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--soft-delete-days",
            reason=f"0 (off) or {MIN_SOFT_DELETE_DAYS} to {MAX_SOFT_DELETE_DAYS} days",
        )
    if max_concurrent_backups is not None and not 1 <= max_concurrent_backups <= 100:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--max-concurrent-backups", reason="1 to 100"
        )
    with ctx.catalog.unit_of_work() as session:
        row = VaultRepository(session).get(name)
        if row is None:
            raise RsvaultError(Code.VAULT_NOT_FOUND, name=name)
        if soft_delete_days is not None:
            row.soft_delete_days = soft_delete_days
        if max_concurrent_backups is not None:
            row.max_concurrent_backups = max_concurrent_backups
        return _view(row)


def _empty_vault_folder(root: Path) -> None:
    """Everything but the leases goes while the exclusive lease is held; config first, so a
    backup that starts now finds no vault rather than half of one."""
    (root / "config").unlink(missing_ok=True)
    for entry in root.iterdir():
        if entry.name == "locks":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def check(ctx: ServiceContext, name: str, *, read_data: bool = False) -> CheckView:
    vault = open_vault(ctx, name)
    with vault.lease(LeaseKind.CHECK, f"check {name}"):
        report = check_vault(vault, read_data=read_data)
    return CheckView(
        name=name,
        ok=report.ok,
        read_data=read_data,
        recovery_points=report.recovery_points,
        packs=report.packs,
        chunks=report.chunks,
        bytes_read=report.bytes_read,
        reclaimable_packs=report.reclaimable_packs,
        affected_recovery_points=report.affected_recovery_points,
        problems=[p.__dict__ for p in report.problems],
    )


def prune(ctx: ServiceContext, name: str, grace: timedelta = DEFAULT_GRACE) -> PruneView:
    report = prune_and_schedule_sweep(ctx, name, open_vault(ctx, name), grace)
    return PruneView(
        name=name,
        packs_deleted=report.packs_deleted,
        bytes_deleted=report.bytes_deleted,
        packs_condemned=report.packs_condemned,
        packs_repacked=report.packs_repacked,
        packs_resurrected=report.packs_resurrected,
        records_waiting=report.records_waiting,
        waiting_for=sorted(set(report.waiting_for)),
        temporaries_removed=report.temporaries_removed,
    )
