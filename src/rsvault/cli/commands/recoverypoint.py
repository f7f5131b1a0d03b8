"""rsvault recoverypoint list|show."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.render import show_list, show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.services import recoverypoints

app = typer.Typer(help="List and inspect recovery points.", no_args_is_help=True)

VaultOption = Annotated[str, typer.Option("--vault-name", "-v", help="Vault name.")]


@app.command("list")
def list_(
    vault_name: VaultOption,
    item_name: Annotated[str | None, typer.Option(help="Only this protected item.")] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """List recovery points, oldest first."""
    ctx = begin(output, passphrase_file)
    points = recoverypoints.list_recovery_points(ctx, vault_name, item_name)
    show_list(
        points, ["name", "time", "item", "kind", "tier", "consistency", "expiry", "files", "size"]
    )


@app.command()
def show(
    vault_name: VaultOption,
    name: Annotated[str, typer.Option("--name", "-n", help="Recovery point name.")],
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Show one recovery point."""
    show_one(recoverypoints.show_recovery_point(begin(output, passphrase_file), vault_name, name))
