"""rsvault vault create|list|show|delete|check|prune."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from rsvault.cli.commands import passphrase
from rsvault.cli.render import show_list, show_one, stderr
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.errors import Code, RsvaultError
from rsvault.services import vaults

app = typer.Typer(help="Create and manage vaults.", no_args_is_help=True)
app.add_typer(passphrase.app, name="passphrase")

NameOption = Annotated[str, typer.Option("--name", "-n", help="Vault name.")]


@app.command()
def create(
    name: NameOption,
    location: Annotated[
        Path | None, typer.Option(help="Folder for the vault (default: under RSVAULT_HOME).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Create an encrypted vault. Losing its passphrase loses its data: keep it safe."""
    show_one(vaults.create_vault(begin(output, passphrase_file), name, location))


@app.command("list")
def list_(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the vaults this machine knows."""
    show_list(vaults.list_vaults(begin(output)), ["name", "location", "created"])


@app.command()
def show(
    name: NameOption,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """The vault overview: items by state, recovery points, the last 24 hours of jobs."""
    show_one(vaults.show_vault(begin(output, passphrase_file), name))


@app.command()
def update(
    name: NameOption,
    soft_delete_days: Annotated[
        int | None,
        typer.Option(help="Days deleted backup data is kept before purge: 14-180, or 0 for off."),
    ] = None,
    max_concurrent_backups: Annotated[
        int | None, typer.Option(help="Scheduled backups that may run at once in this vault.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Change a vault's settings."""
    ctx = begin(output)
    show_one(
        vaults.update_vault(
            ctx,
            name,
            soft_delete_days=soft_delete_days,
            max_concurrent_backups=max_concurrent_backups,
        )
    )


@app.command()
def delete(
    name: NameOption,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    delete_backup_data: Annotated[
        bool, typer.Option(help="Also delete every recovery point in it. Cannot be undone.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Delete a vault. A vault that holds recovery points is kept unless --delete-backup-data."""
    ctx = begin(output, passphrase_file)
    if not yes:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--yes", reason="deleting needs --yes")
    vaults.delete_vault(ctx, name, delete_backup_data=delete_backup_data)
    stderr().print(f"Vault {name} deleted.")


@app.command()
def check(
    name: NameOption,
    read_data: Annotated[
        bool, typer.Option(help="Read and verify every chunk (slow; reads the whole vault).")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Verify the vault's structure, and with --read-data every byte of it."""
    view = vaults.check(begin(output, passphrase_file), name, read_data=read_data)
    show_one(view)
    if not view.ok:
        raise RsvaultError(
            Code.VAULT_CHECK_FAILED,
            name=name,
            problems=f"{len(view.problems)} problems; affected recovery points: "
            + (", ".join(view.affected_recovery_points) or "none"),
        )


@app.command()
def prune(
    name: NameOption,
    grace_period: Annotated[
        int, typer.Option(help="Minutes an unreferenced pack must wait before deletion.")
    ] = 60,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Delete data that no recovery point references (it never blocks running backups)."""
    if grace_period < 0:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--grace-period", reason="must be >= 0")
    ctx = begin(output, passphrase_file)
    show_one(vaults.prune(ctx, name, timedelta(minutes=grace_period)))
