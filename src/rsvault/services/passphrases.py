"""A vault's passphrases (key slots): list, add, remove, change. No data is ever rewritten."""

from __future__ import annotations

from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.vaults import open_vault
from rsvault.services.views import KeySlotView


def list_passphrases(ctx: ServiceContext, vault_name: str) -> list[KeySlotView]:
    vault = open_vault(ctx, vault_name)
    current = vault.slot_for(ctx.passphrase())
    return [
        KeySlotView(s.slot_id, s.label, s.created, s.slot_id == current) for s in vault.key_slots()
    ]


def add_passphrase(ctx: ServiceContext, vault_name: str, new: str, label: str = "") -> KeySlotView:
    vault = open_vault(ctx, vault_name)
    if vault.slot_for(new) is not None:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="new passphrase", reason="it already opens this vault"
        )
    slot = vault.add_passphrase(new, kdf=ctx.kdf, label=label)
    return next(v for v in list_passphrases(ctx, vault_name) if v.name == slot)


def remove_passphrase(ctx: ServiceContext, vault_name: str, slot: str) -> None:
    open_vault(ctx, vault_name).remove_key_slot(slot)


def change_passphrase(ctx: ServiceContext, vault_name: str, new: str) -> KeySlotView:
    """Add the new passphrase, then remove the slot the current one opens."""
    vault = open_vault(ctx, vault_name)
    old = vault.slot_for(ctx.passphrase())
    added = add_passphrase(ctx, vault_name, new, label="changed passphrase")
    if old is not None:
        vault.remove_key_slot(old)
    added.current = True  # from now on, the new passphrase is the one that opens the vault
    return added
