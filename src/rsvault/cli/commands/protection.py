"""rsvault protection enable-for-files|backup-now|disable|resume|undelete."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.options import ItemNameOption, VaultNameOption, YesOption, parse_day
from rsvault.cli.progressbar import progress_bar
from rsvault.cli.render import show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.errors import Code, RsvaultError
from rsvault.services import protection

app = typer.Typer(help="Protect items with a policy, back up now, stop, resume.")

EXIT_COMPLETED_WITH_WARNINGS = 3
PolicyNameOption = Annotated[str, typer.Option("--policy-name", "-p", help="Backup policy.")]


@app.command("enable-for-files")
def enable_for_files(
    vault_name: VaultNameOption,
    policy_name: PolicyNameOption,
    path: Annotated[list[str], typer.Option("--path", help="Folder or file; repeatable.")],
    item_name: Annotated[
        str | None, typer.Option("--item-name", "-i", help="Item name (default: host name).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-e", help="Glob to leave out; repeatable.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Protect files and folders of this machine; prints the ConfigureBackup job."""
    ctx = begin(output)
    show_one(
        protection.enable_for_files(ctx, vault_name, policy_name, path, item_name, exclude or [])
    )


@app.command("backup-now")
def backup_now(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    retain_until: Annotated[
        str | None,
        typer.Option(help="Keep the recovery point until this day (DD-MM-YYYY; default 30 days)."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Back up a protected item now; prints the job when it ends."""
    ctx = begin(output, passphrase_file)
    until = parse_day(retain_until, "--retain-until") if retain_until else None
    with progress_bar("backup") as progress:
        job = protection.backup_now(ctx, vault_name, item_name, until, progress)
    show_one(job)
    if job.warnings:
        raise typer.Exit(EXIT_COMPLETED_WITH_WARNINGS)


@app.command()
def disable(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    delete_backup_data: Annotated[
        bool, typer.Option(help="Delete its recovery points (kept in soft delete first).")
    ] = False,
    retain_as_per_policy: Annotated[
        bool, typer.Option(help="Keep recovery points until the policy expires them.")
    ] = False,
    yes: YesOption = False,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Stop protecting an item. Without a flag its recovery points are kept until deleted."""
    ctx = begin(output, passphrase_file)
    if not yes:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--yes", reason="stopping protection needs --yes"
        )
    show_one(
        protection.disable(
            ctx,
            vault_name,
            item_name,
            delete_backup_data=delete_backup_data,
            retain_as_per_policy=retain_as_per_policy,
        )
    )


@app.command()
def resume(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    policy_name: Annotated[
        str | None, typer.Option("--policy-name", "-p", help="Policy (default: its last one).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Resume protection of a stopped item."""
    show_one(protection.resume(begin(output), vault_name, item_name, policy_name))


@app.command()
def undelete(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Bring a soft-deleted item back (stopped, data kept); then resume it."""
    show_one(protection.undelete(begin(output), vault_name, item_name))
