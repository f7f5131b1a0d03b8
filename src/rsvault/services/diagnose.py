"""`diagnose`: the preflight checks for a vault, or for one of its items, in documented order.

Read-only: nothing is written to the catalog, and the only write to the store is a test
object that is removed at once. Which checks run, in which groups, is decided here; what
each check does lives in rsvault.diagnose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ContainerRow, ItemRow, JobRow, RecoveryPointRow
from rsvault.diagnose.fileschecks import ClockProbe, FilesProbe
from rsvault.diagnose.findings import Finding, Step, Verdict, run_steps
from rsvault.diagnose.storechecks import StoreProbe
from rsvault.diagnose.titles import title
from rsvault.diagnose.vaultchecks import VaultProbe
from rsvault.diagnose.vmchecks import VmProbe
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import item_row, vault_row
from rsvault.services.states import ItemKind
from rsvault.services.views import DiagnoseView
from rsvault.services.vmsettings import VmSettings
from rsvault.sources.libvirt.consistency import ConsistencySettings


@dataclass(frozen=True)
class _Target:
    """What the checks need from the catalog, read in one short transaction."""

    location: Path
    newest_recorded: datetime | None
    item: ItemRow | None = None
    uri: str | None = None
    protected_bytes: int | None = None


def diagnose(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str | None = None,
    *,
    test_freeze: bool = False,
    language: str = "en",
) -> DiagnoseView:
    target = _read_target(ctx, vault_name, item_name)
    store = StoreProbe(target.location, ctx.clock)
    vault = VaultProbe(vault_name, store, ctx.passphrase_source, ctx.clock)
    kind, groups = _plan(ctx, target, store, vault, test_freeze)
    findings = run_steps(groups)
    return _view(item_name or vault_name, vault_name, kind, findings, language)


def _plan(
    ctx: ServiceContext, target: _Target, store: StoreProbe, vault: VaultProbe, test_freeze: bool
) -> tuple[str, list[list[Step]]]:
    item = target.item
    if item is None:
        _no_freeze_without_vm(test_freeze)
        return "vault", [store.steps() + vault.steps(with_check=True)]
    vault_steps = store.steps() + vault.steps(with_check=False)
    clock = ClockProbe(ctx.clock, target.newest_recorded, lambda: store.store_time)
    if item.kind == ItemKind.VM:
        vm = _vm_probe(ctx, target, item, test_freeze)
        return "vm", [vm.steps(), vault_steps, [clock.step()]]
    _no_freeze_without_vm(test_freeze)
    files = FilesProbe(list(item.source.get("paths", [])), ctx.home, target.protected_bytes)
    steps = files.steps()
    return "files", [steps[:1], steps[1:], vault_steps, [clock.step()]]


def _vm_probe(ctx: ServiceContext, target: _Target, item: ItemRow, test_freeze: bool) -> VmProbe:
    settings = VmSettings.from_source(dict(item.source))
    return VmProbe(
        uri=target.uri or "",
        vm=item.name,
        max_disk_size=settings.max_disk_size,
        consistency=ConsistencySettings.from_dict(settings.consistency),
        test_freeze=test_freeze,
        clock=ctx.clock,
        chosen=lambda disks: settings.chosen(item.name, disks),
    )


def _no_freeze_without_vm(test_freeze: bool) -> None:
    if test_freeze:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--test-freeze", reason="only a VM item has a freeze"
        )


def _read_target(ctx: ServiceContext, vault_name: str, item_name: str | None) -> _Target:
    with ctx.catalog.unit_of_work() as session:
        location = Path(vault_row(session, vault_name).location)
        newest = _newest_recorded(session, vault_name)
        if item_name is None:
            return _Target(location, newest)
        item = item_row(session, vault_name, item_name)
        container = session.get(ContainerRow, item.container_id)
        size = session.scalar(
            select(RecoveryPointRow.size)
            .where(RecoveryPointRow.item_id == item.id)
            .order_by(RecoveryPointRow.time.desc())
            .limit(1)
        )
        session.expunge(item)
        uri = container.uri if container else None
        return _Target(location, newest, item, uri, size)


def _newest_recorded(session: Session, vault_name: str) -> datetime | None:
    times = [
        session.scalar(select(func.max(JobRow.start_time)).where(JobRow.vault_name == vault_name)),
        session.scalar(
            select(func.max(RecoveryPointRow.time)).where(RecoveryPointRow.vault_name == vault_name)
        ),
    ]
    # max() keeps the column's UtcDateTime type, so these come back timezone-aware
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _view(
    name: str, vault_name: str, kind: str, findings: list[Finding], language: str
) -> DiagnoseView:
    verdicts = {f.verdict for f in findings}
    overall = next((v for v in (Verdict.FAIL, Verdict.WARN) if v in verdicts), Verdict.PASS)
    first = next((f.check for f in findings if f.verdict is Verdict.FAIL), None)
    return DiagnoseView(
        name=name,
        vault_name=vault_name,
        kind=kind,
        verdict=overall.value,
        first_failure=first,
        checks=[_check(f, language) for f in findings],
    )


def _check(finding: Finding, language: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": finding.check,
        "title": title(finding.check, language),
        "verdict": finding.verdict.value,
        "facts": finding.facts,
    }
    if finding.blocked_by:
        out["blockedBy"] = finding.blocked_by
    if finding.error is not None:
        out |= finding.error.report(language).as_dict()
    return out
