"""Recovery points: catalog rows (tier, consistency, expiry) for manifests that exist in the vault.

The manifest is written first, the row second; a crash between the two leaves a manifest with
no row, which `sync_recovery_points` adopts the next time the two are compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ItemRow, RecoveryPointRow
from rsvault.errors import Code, RsvaultError
from rsvault.policy import PointFacts, expiry_of
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import adhoc_files_item, item_row, policy_of, vault_row
from rsvault.services.states import DeleteState, PointKind, ProtectionState
from rsvault.services.vaults import open_vault, vault_store
from rsvault.services.views import RecoveryPointView, iso, iso_or_none
from rsvault.vault.manifest import MANIFEST_PREFIX, Manifest

VAULT_TIER = "Vault"
FILE_SYSTEM_CONSISTENT = "FileSystemConsistent"
# A new point can change which point represents its local day; two days cover every zone.
_SAME_DAY_REACH = timedelta(days=2)


@dataclass(frozen=True)
class RecoveryPointFacts:
    name: str
    time: datetime
    kind: PointKind
    tier: str = VAULT_TIER
    consistency: str = FILE_SYSTEM_CONSISTENT
    size: int = 0
    stored: int = 0
    files: int = 0
    retain_until: datetime | None = None
    job: str | None = None
    host: str = ""
    paths: Sequence[str] = ()


def record_recovery_point(session: Session, item: ItemRow, facts: RecoveryPointFacts) -> None:
    session.add(
        RecoveryPointRow(
            vault_name=item.vault_name,
            item_id=item.id,
            name=facts.name,
            time=facts.time,
            kind=facts.kind,
            tier=facts.tier,
            consistency=facts.consistency,
            size=facts.size,
            stored=facts.stored,
            files=facts.files,
            retain_until=facts.retain_until,
            expiry_reasons="",
            source={"host": facts.host, "paths": list(facts.paths)},
            job_name=facts.job,
        )
    )
    session.flush()
    refresh_expiries(session, item, since=facts.time - _SAME_DAY_REACH)


def refresh_expiries(session: Session, item: ItemRow, since: datetime | None = None) -> None:
    """Give the item's points the expiry its state and policy imply (all, or those since)."""
    if item.delete_state == DeleteState.TO_BE_DELETED:
        return  # soft delete keeps everything until the purge date
    query = select(RecoveryPointRow).where(RecoveryPointRow.item_id == item.id)
    if since is not None:
        query = query.where(RecoveryPointRow.time >= since)
    rows = session.scalars(query).all()
    policy = policy_of(session, item)
    if policy is None or item.protection_state == ProtectionState.PROTECTION_STOPPED:
        for row in rows:
            row.expiry, row.expiry_reasons = None, "retained"
        return
    facts = [
        PointFacts(r.name, r.time, r.kind == PointKind.ON_DEMAND, r.retain_until) for r in rows
    ]
    expiries = expiry_of(policy, facts)
    for row in rows:
        expiry = expiries[row.name]
        row.expiry, row.expiry_reasons = expiry.at, ",".join(expiry.reasons)


def _view(row: RecoveryPointRow, item: str) -> RecoveryPointView:
    return RecoveryPointView(
        name=row.name,
        time=iso(row.time),
        item=item,
        kind=row.kind,
        tier=row.tier,
        consistency=row.consistency,
        expiry=iso_or_none(row.expiry),
        retain_until=iso_or_none(row.retain_until),
        kept_for=[r for r in row.expiry_reasons.split(",") if r],
        files=row.files,
        size=row.size,
        stored_new=row.stored,
        job=row.job_name,
        host=row.source.get("host", ""),
        paths=list(row.source.get("paths", [])),
    )


def list_recovery_points(
    ctx: ServiceContext, vault_name: str, item: str | None = None
) -> list[RecoveryPointView]:
    _adopt_if_out_of_step(ctx, vault_name)
    query = (
        select(RecoveryPointRow, ItemRow.name)
        .join(ItemRow, ItemRow.id == RecoveryPointRow.item_id)
        .where(RecoveryPointRow.vault_name == vault_name)
        .order_by(RecoveryPointRow.time)
    )
    with ctx.catalog.unit_of_work() as session:
        if item is not None:
            query = query.where(ItemRow.id == item_row(session, vault_name, item).id)
        return [_view(row, name) for row, name in session.execute(query)]


def show_recovery_point(ctx: ServiceContext, vault_name: str, name: str) -> RecoveryPointView:
    for attempt in range(2):
        with ctx.catalog.unit_of_work() as session:
            vault_row(session, vault_name)
            found = session.execute(
                select(RecoveryPointRow, ItemRow.name)
                .join(ItemRow, ItemRow.id == RecoveryPointRow.item_id)
                .where(RecoveryPointRow.vault_name == vault_name, RecoveryPointRow.name == name)
            ).first()
        if found is not None:
            return _view(found[0], found[1])
        if attempt == 0:
            _adopt_if_out_of_step(ctx, vault_name)
    raise RsvaultError(Code.RECOVERY_POINT_NOT_FOUND, name=name, vault=vault_name)


def _adopt_if_out_of_step(ctx: ServiceContext, vault_name: str) -> None:
    """Compare counts (cheap: a listing, no key needed) and sync only when they differ."""
    with ctx.catalog.unit_of_work() as session:
        store = vault_store(vault_row(session, vault_name))
        in_catalog = session.scalar(
            select(func.count()).where(RecoveryPointRow.vault_name == vault_name)
        )
    in_vault = sum(1 for _ in store.list(MANIFEST_PREFIX))
    if in_vault != in_catalog and ctx.passphrase_source():
        sync_recovery_points(ctx, vault_name)


def sync_recovery_points(ctx: ServiceContext, vault_name: str) -> int:
    """Adopt manifests with no row (a crash after the manifest, an older catalog) and drop rows
    whose manifest is gone. Returns how many rows changed."""
    vault = open_vault(ctx, vault_name)
    names = set(vault.manifest_names())
    with ctx.catalog.unit_of_work() as session:
        known = set(
            session.scalars(
                select(RecoveryPointRow.name).where(RecoveryPointRow.vault_name == vault_name)
            )
        )
        gone = known - names
        if gone:
            session.execute(
                delete(RecoveryPointRow).where(
                    RecoveryPointRow.vault_name == vault_name, RecoveryPointRow.name.in_(gone)
                )
            )
        for name in sorted(names - known):
            _adopt(session, vault_name, vault.read_manifest(name), ctx.clock.now())
    return len(gone) + len(names - known)


def _adopt(session: Session, vault_name: str, manifest: Manifest, now: datetime) -> None:
    source = (manifest.paths, getattr(manifest, "excludes", []) or [])
    item = adhoc_files_item(session, vault_name, manifest.item, source, now, manifest.host)
    stats = manifest.stats
    facts = RecoveryPointFacts(
        name=manifest.name,
        time=datetime.fromisoformat(manifest.time),
        kind=PointKind.ON_DEMAND,
        size=stats.get("bytes_total", 0),
        stored=stats.get("bytes_stored", 0),
        files=stats.get("files", 0),
        host=manifest.host,
        paths=manifest.paths,
    )
    record_recovery_point(session, item, facts)
