"""rsvault restore files|restore-disks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer

from rsvault.cli.commands import vmrestore
from rsvault.cli.progressbar import progress_bar
from rsvault.cli.render import show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.services.restores import run_files_restore
from rsvault.services.vmrestore import run_restore_disks

app = typer.Typer(help="Restore from recovery points.", no_args_is_help=True)


def files(
    ctx: typer.Context,
    vault_name: Annotated[
        str | None, typer.Option("--vault-name", "-v", help="Vault name.")
    ] = None,
    rp_name: Annotated[
        str | None, typer.Option("--rp-name", "-r", help="Recovery point name.")
    ] = None,
    target: Annotated[
        Path | None,
        typer.Option(
            "--target",
            "-t",
            help="Folder to restore into; files land at TARGET/<original path>. "
            "Use / to restore to the original location.",
        ),
    ] = None,
    path: Annotated[
        list[str] | None,
        typer.Option("--path", "-p", help="Original path to restore (file or folder); repeatable."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Restore all or part of a recovery point; every chunk is verified before it is written.
    For a VM's recovery point, use the sub-commands (mount-rp, list, extract, unmount-rp)."""
    if ctx.invoked_subcommand is not None:
        return  # `restore files mount-rp ...`: the sub-command does the work
    if vault_name is None or rp_name is None or target is None:
        missing = (
            "--vault-name" if vault_name is None else "--rp-name" if rp_name is None else "--target"
        )
        raise click.UsageError(f"Missing option '{missing}'.")
    service = begin(output, passphrase_file)
    with progress_bar("restore") as progress:
        job = run_files_restore(service, vault_name, rp_name, target, path or [], progress)
    show_one(job)


ItemOption = Annotated[
    str, typer.Option("--item-name", "-i", help="The VM's item (its domain name).")
]
RpOption = Annotated[str, typer.Option("--rp-name", "-r", help="Recovery point name.")]
VaultOption = Annotated[str, typer.Option("--vault-name", "-v", help="Vault name.")]
DisksOption = Annotated[
    list[str] | None,
    typer.Option("--diskslist", help="Disk target (vda...); repeatable. Default: all."),
]


@app.command("restore-disks")
def restore_disks(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    target_dir: Annotated[Path, typer.Option("--target-dir", help="Folder for the disk images.")],
    diskslist: DisksOption = None,
    image_format: Annotated[str, typer.Option("--format", help="raw or qcow2.")] = "raw",
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Restore a VM's disks as sparse image files, each identical to the disk at the backup."""
    ctx = begin(output, passphrase_file)
    with progress_bar("restore") as progress:
        job = run_restore_disks(
            ctx, vault_name, item_name, rp_name, target_dir, diskslist or [], image_format, progress
        )
    show_one(job)


vmrestore.register(app, files)
