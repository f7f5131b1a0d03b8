"""Recovery points: read from the vault's manifests, which are the truth."""

from __future__ import annotations

from rsvault.services.context import ServiceContext
from rsvault.services.vaults import open_vault
from rsvault.services.views import RecoveryPointView
from rsvault.vault.manifest import Manifest


def _view(manifest: Manifest) -> RecoveryPointView:
    stats = manifest.stats
    return RecoveryPointView(
        name=manifest.name,
        time=manifest.time,
        item=manifest.item,
        kind=manifest.kind,
        host=manifest.host,
        paths=manifest.paths,
        files=stats.get("files", 0),
        size=stats.get("bytes_total", 0),
        stored_new=stats.get("bytes_stored", 0),
        warnings=stats.get("warnings", 0),
    )


def list_recovery_points(
    ctx: ServiceContext, vault_name: str, item: str | None = None
) -> list[RecoveryPointView]:
    vault = open_vault(ctx, vault_name)
    views = [_view(vault.read_manifest(name)) for name in vault.manifest_names()]
    return [v for v in views if item is None or v.item == item]


def show_recovery_point(ctx: ServiceContext, vault_name: str, name: str) -> RecoveryPointView:
    return _view(open_vault(ctx, vault_name).read_manifest(name))
